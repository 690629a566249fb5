package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/telemetry"
	"github.com/taskflow/taskflow-events/services/audit/internal/auditapi"
	"github.com/taskflow/taskflow-events/services/audit/internal/auditlog"
)

// run reads the configuration, migrates the database, wires the subscriptions and the
// query API, and serves until ctx ends.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := readConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	logger, err := telemetry.NewLogger(stdout, cfg.App.LogLevel, "audit-service", version)
	if err != nil {
		return err
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	applied, err := migrate(ctx, pool)
	if err != nil {
		pool.Close()
		return err
	}
	logger.InfoContext(ctx, "migrations_applied", "names", applied)

	now := time.Now
	store := auditlog.NewStore(pool, now)
	app := grpcapp.New(cfg.App, logger)
	daprsub.HandleBatch(app.Events, subscription(cfg, topicTaskEvents), batchHandler[*eventsv1.TaskEvent](topicTaskEvents, store, now))
	daprsub.HandleBatch(app.Events, subscription(cfg, topicReminders), batchHandler[*eventsv1.ReminderEvent](topicReminders, store, now))
	daprsub.HandleBatch(app.Events, subscription(cfg, topicTaskUpdates), batchHandler[*eventsv1.TaskUpdate](topicTaskUpdates, store, now))
	auditapi.Register(app.GRPC, auditapi.NewServer(store))
	app.Health.Register("postgres", func(ctx context.Context) error { return pool.Ping(ctx) })
	app.Go(func(ctx context.Context) error {
		maintain(ctx, store, cfg, now, logger)
		return nil
	})
	app.OnShutdown(func(context.Context) error { pool.Close(); return nil })
	return app.Run(ctx)
}

func openPool(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	pc.MaxConns = int32(cfg.DBMaxConns)
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL pool: %w", err)
	}
	return pool, nil
}

// migrate applies the schema, waiting for PostgreSQL for a while when it is not up yet.
func migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		applied, err := auditlog.Migrate(ctx, pool)
		if err == nil {
			return applied, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("migrate audit schema: %w", err)
		case <-time.After(time.Second):
		}
	}
}
