// Package grpcapp runs a consumer service's process: the gRPC server on :50001 with the
// Dapr callback services, grpc.health.v1 and reflection; Prometheus metrics on :9090;
// dependency health checks; and a bounded graceful shutdown when the context ends.
package grpcapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/health"
	"github.com/taskflow/taskflow-events/internal/telemetry"
)

// Config is the part of every service's configuration that grpcapp owns.
type Config struct {
	// GRPCAddr is where AppCallback, health and the service's own API listen (GRPC_ADDR, ":50001").
	GRPCAddr string
	// MetricsAddr serves /metrics (METRICS_ADDR, ":9090"; "off" disables it).
	MetricsAddr string
	// ShutdownTimeout bounds the drain after SIGTERM (SHUTDOWN_TIMEOUT, "20s").
	ShutdownTimeout time.Duration
	// HealthInterval is how often dependencies are checked (HEALTH_INTERVAL, "2s").
	HealthInterval time.Duration
	// LogLevel is debug, info, warn or error (LOG_LEVEL, "info").
	LogLevel string
	// PubsubName is the Dapr pub/sub component (PUBSUB_NAME, "taskflow-pubsub").
	PubsubName string
	// AppAPIToken, when set, is required as dapr-api-token metadata on topic events (single
	// and bulk), the service's own gRPC API and reflection (APP_API_TOKEN, secret; daprd
	// 1.16+ sends it on events and service invocation). Only health probes and the
	// subscription list stay open: daprd sends no token there (apitoken.go).
	AppAPIToken string
	// PprofAddr serves net/http/pprof on a loopback address (PPROF_ADDR, off by default).
	PprofAddr string
}

// ReadConfig reads the shared variables.
func ReadConfig(r *envconfig.Reader) Config {
	c := Config{
		GRPCAddr:        r.String("GRPC_ADDR", ":50001"),
		MetricsAddr:     r.String("METRICS_ADDR", ":9090"),
		ShutdownTimeout: r.Duration("SHUTDOWN_TIMEOUT", 20*time.Second),
		HealthInterval:  r.Duration("HEALTH_INTERVAL", 2*time.Second),
		LogLevel:        r.String("LOG_LEVEL", "info"),
		PubsubName:      r.String("PUBSUB_NAME", "taskflow-pubsub"),
		AppAPIToken:     r.String("APP_API_TOKEN", ""),
		PprofAddr:       readPprofAddr(r),
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		r.Fail("LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel)
	}
	return c
}

// App is one service process.
type App struct {
	Logger  *slog.Logger
	GRPC    *grpc.Server
	Health  *health.Checker
	Metrics *telemetry.Metrics
	Events  *daprsub.Server

	cfg      Config
	limits   *limits
	tasks    []func(ctx context.Context) error
	shutdown []func(ctx context.Context) error
}

// New builds an App; register handlers on Events and services on GRPC before Run.
func New(cfg Config, logger *slog.Logger, opts ...grpc.ServerOption) *App {
	m := telemetry.NewMetrics()
	hc := health.NewChecker(cfg.HealthInterval, logger)
	events := daprsub.NewServer(logger, daprsub.Options{
		Recorder: m,
		Health: func(context.Context) error {
			if hc.Serving() {
				return nil
			}
			if err := hc.Err(); err != nil {
				return err
			}
			return errors.New("not serving")
		},
	})
	lim := &limits{prefixes: map[string]int{}}
	opts = append([]grpc.ServerOption{grpc.MaxRecvMsgSize(maxRecvMsgSize),
		grpc.ChainUnaryInterceptor(recoverUnary(logger), tokenUnary(cfg.AppAPIToken, logger), sizeUnary(lim, logger)),
		grpc.ChainStreamInterceptor(recoverStream(logger), tokenStream(cfg.AppAPIToken, logger))}, opts...)
	g := grpc.NewServer(opts...)
	events.Register(g)
	healthpb.RegisterHealthServer(g, hc.Server)
	reflection.Register(g)
	return &App{Logger: logger, GRPC: g, Health: hc, Metrics: m, Events: events, cfg: cfg, limits: lim}
}

// Go runs task alongside the servers until the App's context ends.
func (a *App) Go(task func(ctx context.Context) error) { a.tasks = append(a.tasks, task) }

// OnShutdown runs fn after the gRPC server has drained, in registration order, with a 5s
// budget of its own (close pools and clients here).
func (a *App) OnShutdown(fn func(ctx context.Context) error) { a.shutdown = append(a.shutdown, fn) }

// Listen binds the gRPC address, naming it in the error.
func Listen(addr string) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return lis, nil
}

// Run serves until ctx ends, then shuts down: health NOT_SERVING (still served for up to a
// second, a quarter of ShutdownTimeout at most), graceful stop with a
// forced stop at ShutdownTimeout, in-flight events drained, shutdown hooks run.
func (a *App) Run(ctx context.Context) error {
	lis, metrics, err := a.listen()
	if err != nil {
		return err
	}
	a.Logger.InfoContext(ctx, "service_started", "grpc_addr", lis.Addr().String(), "metrics_addr", a.cfg.MetricsAddr)

	a.Health.CheckNow(ctx)
	runCtx, stopTasks := context.WithCancel(context.WithoutCancel(ctx))
	g, gctx := errgroup.WithContext(runCtx)
	a.serve(gctx, g, lis, metrics)

	select {
	case <-ctx.Done():
	case <-gctx.Done():
		// A task failed: shut down. Its error comes from g.Wait in drain, once the gRPC and
		// metrics servers (which do not watch gctx) have been stopped.
	}
	return a.stop(stopTasks, g, metrics.srv)
}

// metricsServer serves /metrics; srv is nil when METRICS_ADDR is "off" or empty.
type metricsServer struct {
	srv *http.Server
	lis net.Listener
}

// listen binds the gRPC address and, unless disabled, the metrics address.
func (a *App) listen() (net.Listener, metricsServer, error) {
	lis, err := Listen(a.cfg.GRPCAddr)
	if err != nil {
		return nil, metricsServer{}, err
	}
	var m metricsServer
	if a.cfg.MetricsAddr != "" && a.cfg.MetricsAddr != "off" {
		if m.lis, err = Listen(a.cfg.MetricsAddr); err != nil {
			lis.Close()
			return nil, metricsServer{}, err
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", a.Metrics.Handler())
		m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	}
	return lis, m, nil
}

// serve starts the health checks, the gRPC and metrics servers and the background tasks
// in g.
func (a *App) serve(gctx context.Context, g *errgroup.Group, lis net.Listener, metrics metricsServer) {
	g.Go(func() error { a.Health.Run(gctx); return nil })
	g.Go(func() error {
		if err := a.GRPC.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("serve gRPC: %w", err)
		}
		return nil
	})
	if metrics.srv != nil {
		g.Go(func() error {
			if err := metrics.srv.Serve(metrics.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve metrics: %w", err)
			}
			return nil
		})
	}
	if a.cfg.PprofAddr != "" {
		g.Go(func() error { return servePprof(gctx, a.cfg.PprofAddr) })
	}
	for _, task := range a.tasks {
		g.Go(func() error { return task(gctx) })
	}
}
