package main

import (
	"time"

	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
)

// Config is the audit service's configuration, read from the environment once.
type Config struct {
	App grpcapp.Config
	// DatabaseURL is the PostgreSQL connection string (DATABASE_URL, required).
	DatabaseURL string
	// DBMaxConns bounds the connection pool (DB_MAX_CONNS, 10).
	DBMaxConns int
	// Retention drops monthly partitions whose whole month is older than this
	// (AUDIT_RETENTION, 0 = keep forever).
	Retention time.Duration
	// PartitionsAhead is how many future months get a partition in advance (AUDIT_PARTITIONS_AHEAD, 3).
	PartitionsAhead int
	// MaintenanceInterval is how often partitions are created and retention applied
	// (AUDIT_MAINTENANCE_INTERVAL, 1h).
	MaintenanceInterval time.Duration
	// BulkMaxMessages and BulkMaxAwait configure bulk delivery
	// (AUDIT_BULK_MAX_MESSAGES, 1000; AUDIT_BULK_MAX_AWAIT, 250ms). pubsub.kafka (daprd 1.14 to
	// 1.18, components-contrib up to v1.18.4) runs one bulk callback at a time for all partitions of all topics (one mutex per
	// component), so each call should carry a full batch: with a short await every
	// partition's ticker flushes a few events per serialised call and throughput collapses.
	BulkMaxMessages int
	BulkMaxAwait    time.Duration
}

func readConfig(getenv func(string) string) (Config, error) {
	r := envconfig.New(getenv)
	c := Config{
		App:                 grpcapp.ReadConfig(r),
		DatabaseURL:         r.Required("DATABASE_URL"),
		DBMaxConns:          r.Int("DB_MAX_CONNS", 10, 2, 1000),
		Retention:           r.Duration("AUDIT_RETENTION", 0),
		PartitionsAhead:     r.Int("AUDIT_PARTITIONS_AHEAD", 3, 0, 120),
		MaintenanceInterval: r.Duration("AUDIT_MAINTENANCE_INTERVAL", time.Hour),
	}
	c.BulkMaxMessages, c.BulkMaxAwait = readBulk(r)
	if c.MaintenanceInterval < time.Second {
		r.Fail("AUDIT_MAINTENANCE_INTERVAL=%s: want at least 1s", c.MaintenanceInterval)
	}
	if c.Retention != 0 && c.Retention < 24*time.Hour {
		r.Fail("AUDIT_RETENTION=%s: want 0 (keep forever) or at least 24h", c.Retention)
	}
	return c, r.Err()
}

// readBulk reads the bulk subscribe settings (shared with the benchmark's no-op subscriber,
// so that both measure the same delivery pattern).
func readBulk(r *envconfig.Reader) (maxMessages int, maxAwait time.Duration) {
	maxMessages = r.Int("AUDIT_BULK_MAX_MESSAGES", 1000, 1, 10000)
	maxAwait = r.Duration("AUDIT_BULK_MAX_AWAIT", 250*time.Millisecond)
	if maxAwait < time.Millisecond {
		r.Fail("AUDIT_BULK_MAX_AWAIT=%s: want at least 1ms", maxAwait)
	}
	return maxMessages, maxAwait
}
