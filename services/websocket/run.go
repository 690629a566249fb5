package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/telemetry"
	"github.com/taskflow/taskflow-events/services/websocket/internal/auth"
	"github.com/taskflow/taskflow-events/services/websocket/internal/gateway"
	"github.com/taskflow/taskflow-events/services/websocket/internal/hub"
)

// run wires and serves the websocket service until ctx ends.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := readConfig(getenv)
	if err != nil {
		return err
	}
	logger, err := telemetry.NewLogger(stdout, cfg.App.LogLevel, "websocket-service", version)
	if err != nil {
		return err
	}
	verifier, err := auth.NewVerifier(ctx, cfg.Auth, time.Now, logger)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	app := grpcapp.New(cfg.App, logger)
	h := hub.New(cfg.Hub, newEpoch(), time.Now, hub.NewMetrics(app.Metrics.Registry))
	gw := gateway.New(cfg.Gateway, h, verifier, logger, time.Now)

	sub := daprsub.Subscription{
		PubsubName: cfg.App.PubsubName, Topic: cfg.Topic, DeadLetterTopic: cfg.DeadLetterTopic,
		Timeout: 5 * time.Second,
	}
	if cfg.BulkMaxMessages > 1 {
		// A bulk call holds records of one partition, in offset order; the hub handles them
		// in that order and queues each connection's share of the call as one entry.
		sub.Bulk = &daprsub.Bulk{MaxMessages: int32(cfg.BulkMaxMessages), MaxAwait: cfg.BulkMaxAwait}
	}
	daprsub.HandleBatch(app.Events, sub, func(ctx context.Context, evs []daprsub.Event[*eventsv1.TaskUpdate]) []error {
		us, ats := make([]*eventsv1.TaskUpdate, len(evs)), make([]hub.Offset, len(evs))
		for i, ev := range evs {
			// daprd's pubsub.kafka hands each record's partition and offset over (-1 without
			// them); they are the clients' resume positions, the same on every replica.
			us[i], ats[i] = ev.Msg, hub.NoOffset
			if m := ev.Meta; m.Partition >= 0 && m.Offset >= 0 {
				ats[i] = hub.Offset{Partition: m.Partition, Offset: m.Offset}
			}
		}
		errs := h.PublishBatch(ctx, us, ats)
		for i, err := range errs {
			if errors.Is(err, hub.ErrInvalidUpdate) {
				errs[i] = daprsub.Permanent(err)
			}
		}
		return errs
	})

	lis, err := grpcapp.Listen(cfg.HTTPAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", gw)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if h.Closed() || !app.Health.Serving() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	logger.InfoContext(ctx, "http_listening", "http_addr", lis.Addr().String(), "epoch", h.Epoch(), "resume_stream_id", cfg.Hub.StreamID)
	if cfg.Gateway.QueryToken {
		logger.WarnContext(ctx, "ws_query_token_enabled", "detail", "tokens in ?access_token= URLs end up in proxy and access logs")
	}

	app.Go(func(ctx context.Context) error {
		h.RunSweeper(ctx, min(cfg.Hub.HistoryTTL, 30*time.Second))
		return nil
	})
	app.Go(func(ctx context.Context) error { return serveHTTP(ctx, srv, lis, h, gw, cfg.App.ShutdownTimeout) })
	return app.Run(ctx)
}

// serveHTTP serves until ctx ends, then closes every client with 1001, waits for the
// connections to finish (bounded by timeout) and stops the server.
func serveHTTP(ctx context.Context, srv *http.Server, lis net.Listener, h *hub.Hub, gw *gateway.Gateway, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve HTTP: %w", err)
	case <-ctx.Done():
	}
	deadline, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	h.Shutdown(hub.CloseGoingAway, "server shutting down")
	drained := make(chan struct{})
	go func() { gw.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-deadline.Done():
	}
	_ = srv.Shutdown(deadline)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP: %w", err)
	}
	return nil
}

func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
