package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/daprconn"
	"github.com/taskflow/taskflow-events/internal/daprpub"
	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/pgpool"
	"github.com/taskflow/taskflow-events/internal/telemetry"
	"github.com/taskflow/taskflow-events/services/audit/auditsig"
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
	if cfg.MigrationDatabaseURL != "" {
		applied, err := migrateAsOwner(ctx, cfg.MigrationDatabaseURL, "", cfg.DatabaseURL, cfg.DBMaxConns)
		if err != nil {
			return err
		}
		logger.InfoContext(ctx, "migrations_applied", "names", applied)
	}
	pool, err := pgpool.Open(ctx, cfg.DatabaseURL, cfg.DBMaxConns)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	if err := waitMigrated(ctx, pool, cfg.SchemaWait); err != nil {
		pool.Close()
		return err
	}
	if err := auditlog.CheckRuntimeRole(ctx, pool); err != nil {
		pool.Close()
		return err
	}

	now := time.Now
	signer := auditsig.NewSigner(cfg.SigningKey)
	store := auditlog.NewStore(pool, now, signer, cfg.RetiredKeys...)
	logger.InfoContext(ctx, "audit_signing_key", "key_id", signer.KeyID(),
		"public_key", base64.StdEncoding.EncodeToString(signer.PublicKey()), "verify_key_ids", store.Keys().IDs())
	dc, err := daprconn.New(cfg.Dapr)
	if err != nil {
		pool.Close()
		return err
	}
	pub := daprpub.New(dc, cfg.App.PubsubName)
	app := grpcapp.New(cfg.App, logger)
	daprsub.HandleBatch(app.Events, subscription(cfg, topicTaskEvents), batchHandler[*eventsv1.TaskEvent](topicTaskEvents, store, now))
	daprsub.HandleBatch(app.Events, subscription(cfg, topicReminders), batchHandler[*eventsv1.ReminderEvent](topicReminders, store, now))
	daprsub.HandleBatch(app.Events, subscription(cfg, topicTaskUpdates), batchHandler[*eventsv1.TaskUpdate](topicTaskUpdates, store, now))
	auditapi.Register(app.GRPC, auditapi.NewServer(store))
	// A listing request is a few filters (32 kinds at most); VerifyChain may carry an
	// auditor's keys and up to 1,000 checkpoints.
	app.LimitRequests("/taskflow.audit.v1.AuditService/ListEvents", 16<<10)
	app.LimitRequests("/taskflow.audit.v1.AuditService/VerifyChain", 4<<20)
	app.Health.Register("postgres", func(ctx context.Context) error { return pool.Ping(ctx) })
	app.Go(func(ctx context.Context) error {
		maintain(ctx, store, cfg, now, logger)
		return nil
	})
	cps := &checkpointer{store: store, pub: pub, topic: cfg.CheckpointTopic, logger: logger}
	app.Go(func(ctx context.Context) error {
		cps.loop(ctx, cfg.CheckpointInterval)
		return nil
	})
	app.OnShutdown(func(ctx context.Context) error {
		cps.once(ctx) // the tail of the log is covered by a checkpoint before we go
		pool.Close()
		dc.Close()
		return nil
	})
	return app.Run(ctx)
}

// migrateAsOwner applies the schema as the owner (waiting for PostgreSQL for a while when
// it is not up yet) and grants the runtime privileges to role, or to runtimeDSN's user.
func migrateAsOwner(ctx context.Context, ownerDSN, role, runtimeDSN string, maxConns int) ([]string, error) {
	if role == "" {
		if role = pgpool.User(runtimeDSN); role == "" {
			return nil, fmt.Errorf("DATABASE_URL: cannot parse")
		}
	}
	owner, err := pgpool.Open(ctx, ownerDSN, min(maxConns, 2))
	if err != nil {
		return nil, fmt.Errorf("AUDIT_MIGRATION_DATABASE_URL: %w", err)
	}
	defer owner.Close()
	var applied []string
	err = pgpool.Retry(ctx, time.Minute, "migrate audit schema", func(ctx context.Context) error {
		var err error
		applied, err = auditlog.Migrate(ctx, owner)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := auditlog.Grant(ctx, owner, role); err != nil {
		return nil, err
	}
	return applied, nil
}

// waitMigrated waits up to wait for every embedded migration to be applied (by the
// migration job, or by the owner step above).
func waitMigrated(ctx context.Context, pool *pgxpool.Pool, wait time.Duration) error {
	return pgpool.Retry(ctx, wait, "audit schema not ready", func(ctx context.Context) error {
		pending, err := auditlog.Pending(ctx, pool)
		if err == nil && len(pending) > 0 {
			err = fmt.Errorf("migrations %v are not applied: run `audit migrate` with AUDIT_MIGRATION_DATABASE_URL (the chart's migration job does), or set AUDIT_MIGRATION_DATABASE_URL for the service", pending)
		}
		return err
	})
}

// runMigrate is `audit migrate`: apply the schema as the owner, grant the runtime role,
// and exit. Environment: AUDIT_MIGRATION_DATABASE_URL (required) and AUDIT_RUNTIME_ROLE
// (or DATABASE_URL, whose user is the runtime role).
func runMigrate(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	r := envconfig.New(getenv)
	owner := r.Required("AUDIT_MIGRATION_DATABASE_URL")
	role, runtimeDSN := r.String("AUDIT_RUNTIME_ROLE", ""), r.String("DATABASE_URL", "")
	if role == "" && runtimeDSN == "" {
		r.Fail("AUDIT_RUNTIME_ROLE (or DATABASE_URL) is required: the role the service runs as gets the runtime grants")
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	applied, err := migrateAsOwner(ctx, owner, role, runtimeDSN, 2)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "audit migrate: applied %v; runtime grants in place\n", applied)
	return nil
}
