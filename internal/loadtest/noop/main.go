// Command noop is the load tool's ceiling: a subscriber built on the same callback runtime
// (daprsub, grpcapp) as the services, subscribed to the services' topics, whose handlers
// do nothing but note when each event_id arrived. Measured through the same daprd and
// broker as the services, it is the pipe's ceiling.
//
// Environment: GRPC_ADDR, METRICS_ADDR and the other grpcapp variables, plus SEEN_ADDR, the
// HTTP listener of GET /seen?from=N (arrivals N.. as "event_id unix_nanos" lines).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/localrun"
	"github.com/taskflow/taskflow-events/internal/telemetry"
	"github.com/taskflow/taskflow-events/internal/wire"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type arrival struct {
	id string
	at int64
}

// seen records arrivals in order.
type seen struct {
	mu   sync.Mutex
	list []arrival
}

func (s *seen) add(id string) {
	at := time.Now().UnixNano()
	s.mu.Lock()
	s.list = append(s.list, arrival{id, at})
	s.mu.Unlock()
}

func (s *seen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	from, _ := strconv.Atoi(r.URL.Query().Get("from"))
	s.mu.Lock()
	var list []arrival
	if from >= 0 && from < len(s.list) {
		list = append(list, s.list[from:]...)
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	for _, a := range list {
		fmt.Fprintf(w, "%s %d\n", a.id, a.at)
	}
}

func handler[PT wire.Event](s *seen) daprsub.Handler[PT] {
	return func(_ context.Context, _ daprsub.Meta, msg PT) error {
		s.add(msg.GetEventId())
		return nil
	}
}

func batchHandler[PT wire.Event](s *seen) daprsub.BatchHandler[PT] {
	return func(_ context.Context, evs []daprsub.Event[PT]) []error {
		for _, ev := range evs {
			s.add(ev.Msg.GetEventId())
		}
		return make([]error, len(evs))
	}
}

// subscribe registers the no-op handlers of mode on app: the subscription modes the no-op
// copies (NOOP_MODE), so that each service is compared with a ceiling of its own mode.
// "services" (default) as notification, recurring-task and websocket subscribe (reminders and
// task-events in bulk with the notification and recurring-task services' defaults, each on
// its own pub/sub Component, task-updates in bulk with the websocket service's defaults), "audit" as the audit service (every topic in bulk with its defaults, each on its own
// pub/sub Component). The defaults are wire's, which the services' configs use too.
func subscribe(app *grpcapp.App, cfg grpcapp.Config, mode string, s *seen) error {
	sub := func(topic string) daprsub.Subscription {
		return daprsub.Subscription{PubsubName: cfg.PubsubName, Topic: topic, DeadLetterTopic: wire.DeadLetter(topic, "noop")}
	}
	// Each bulk topic on its own pub/sub Component, as each service's sidecar has its own:
	// pubsub.kafka runs one bulk callback at a time per Component, across all its topics.
	pubsubs := localrun.AuditPubsubEnv()
	bulk := func(topic, env string, maxMessages int32, maxAwait time.Duration) daprsub.Subscription {
		b := sub(topic)
		b.PubsubName = pubsubs[env]
		b.Bulk = &daprsub.Bulk{MaxMessages: maxMessages, MaxAwait: maxAwait}
		return b
	}
	switch mode {
	case "", "services":
		daprsub.HandleBatch(app.Events, bulk(wire.TopicReminders, "AUDIT_PUBSUB_REMINDERS", wire.NotificationBulkMaxMessages, wire.NotificationBulkMaxAwait),
			batchHandler[*eventsv1.ReminderEvent](s))
		daprsub.HandleBatch(app.Events, bulk(wire.TopicTaskEvents, "AUDIT_PUBSUB_TASK_EVENTS", wire.RecurringBulkMaxMessages, wire.RecurringBulkMaxAwait),
			batchHandler[*eventsv1.TaskEvent](s))
		// task-updates on the shared Component, the only topic the no-op has there, as the
		// websocket service's sidecar has it; in bulk, one event after the other (Handle).
		updates := sub(wire.TopicTaskUpdates)
		updates.Bulk = &daprsub.Bulk{MaxMessages: wire.WebsocketBulkMaxMessages, MaxAwait: wire.WebsocketBulkMaxAwait}
		daprsub.Handle(app.Events, updates, handler[*eventsv1.TaskUpdate](s))
	case "audit":
		daprsub.HandleBatch(app.Events, bulk(wire.TopicTaskEvents, "AUDIT_PUBSUB_TASK_EVENTS", wire.AuditBulkMaxMessages, wire.AuditBulkMaxAwait),
			batchHandler[*eventsv1.TaskEvent](s))
		daprsub.HandleBatch(app.Events, bulk(wire.TopicReminders, "AUDIT_PUBSUB_REMINDERS", wire.AuditBulkMaxMessages, wire.AuditBulkMaxAwait),
			batchHandler[*eventsv1.ReminderEvent](s))
		daprsub.HandleBatch(app.Events, bulk(wire.TopicTaskUpdates, "AUDIT_PUBSUB_TASK_UPDATES", wire.AuditBulkMaxMessages, wire.AuditBulkMaxAwait),
			batchHandler[*eventsv1.TaskUpdate](s))
	default:
		return fmt.Errorf("NOOP_MODE=%q: want services or audit", mode)
	}
	return nil
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	r := envconfig.New(getenv)
	cfg := grpcapp.ReadConfig(r)
	seenAddr := r.Required("SEEN_ADDR")
	if err := r.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	logger, err := telemetry.NewLogger(stdout, cfg.LogLevel, "noop", "dev")
	if err != nil {
		return err
	}
	s := &seen{}
	app := grpcapp.New(cfg, logger)
	if err := subscribe(app, cfg, getenv("NOOP_MODE"), s); err != nil {
		return err
	}

	l, err := net.Listen("tcp", seenAddr)
	if err != nil {
		return fmt.Errorf("listen on SEEN_ADDR: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	app.Go(func(ctx context.Context) error {
		go func() { <-ctx.Done(); _ = srv.Close() }()
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return app.Run(ctx)
}
