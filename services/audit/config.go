package main

import (
	"crypto/ed25519"
	"os"
	"time"

	"github.com/taskflow/taskflow-events/internal/daprconn"
	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/wire"
	"github.com/taskflow/taskflow-events/services/audit/auditsig"
)

// Config is the audit service's configuration, read from the environment once.
type Config struct {
	App  grpcapp.Config
	Dapr daprconn.Config
	// DatabaseURL is the PostgreSQL connection string of the runtime role (DATABASE_URL,
	// required): INSERT/SELECT only, see auditlog.Grant.
	DatabaseURL string
	// MigrationDatabaseURL is the owner role's connection string
	// (AUDIT_MIGRATION_DATABASE_URL, optional): when set, the service migrates at start as
	// the owner and grants the runtime privileges to DATABASE_URL's role; otherwise it waits
	// up to SchemaWait (AUDIT_SCHEMA_WAIT, 2m) for `audit migrate` to have done so.
	MigrationDatabaseURL string
	SchemaWait           time.Duration
	// SigningKey signs chain heads, checkpoints and retention records
	// (AUDIT_SIGNING_KEY_FILE, a file with a PKCS#8 PEM Ed25519 key or the base64 of its
	// seed; or AUDIT_SIGNING_KEY with the same content; one is required).
	SigningKey ed25519.PrivateKey
	// RetiredKeys are public keys of earlier signing keys, still accepted by VerifyChain
	// (AUDIT_VERIFY_KEYS, comma-separated base64 or PEM).
	RetiredKeys []ed25519.PublicKey
	// CheckpointInterval is how often a signed checkpoint is made when the log has grown
	// (AUDIT_CHECKPOINT_INTERVAL, 1m); CheckpointTopic is where it is published
	// (AUDIT_CHECKPOINT_TOPIC, audit-checkpoints; empty: only stored and logged).
	CheckpointInterval time.Duration
	CheckpointTopic    string
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
	// TopicPubsubs names the pub/sub Component each topic is subscribed on
	// (AUDIT_PUBSUB_TASK_EVENTS, AUDIT_PUBSUB_REMINDERS, AUDIT_PUBSUB_TASK_UPDATES; default
	// PUBSUB_NAME). One Component per topic gives each topic its own Kafka consumer, so
	// bulk callbacks of different topics run concurrently instead of under the one mutex
	// per Component (see BulkMaxMessages); the chart and `make run` set them.
	TopicPubsubs map[string]string
}

func readConfig(getenv func(string) string) (Config, error) {
	r := envconfig.New(getenv)
	c := Config{
		App:                  grpcapp.ReadConfig(r),
		Dapr:                 daprconn.ReadConfig(r),
		DatabaseURL:          r.Required("DATABASE_URL"),
		MigrationDatabaseURL: r.String("AUDIT_MIGRATION_DATABASE_URL", ""),
		SchemaWait:           r.Duration("AUDIT_SCHEMA_WAIT", 2*time.Minute),
		CheckpointInterval:   r.Duration("AUDIT_CHECKPOINT_INTERVAL", time.Minute),
		CheckpointTopic:      r.String("AUDIT_CHECKPOINT_TOPIC", wire.TopicAuditCheckpoints),
		DBMaxConns:           r.Int("DB_MAX_CONNS", 10, 2, 1000),
		Retention:            r.Duration("AUDIT_RETENTION", 0),
		PartitionsAhead:      r.Int("AUDIT_PARTITIONS_AHEAD", 3, 0, 120),
		MaintenanceInterval:  r.Duration("AUDIT_MAINTENANCE_INTERVAL", time.Hour),
	}
	c.BulkMaxMessages, c.BulkMaxAwait = readBulk(r)
	c.TopicPubsubs = readTopicPubsubs(r, c.App.PubsubName)
	c.SigningKey = readSigningKey(r, getenv)
	for _, k := range r.List("AUDIT_VERIFY_KEYS", nil) {
		pub, err := auditsig.ParsePublicKey(k)
		if err != nil {
			r.Fail("AUDIT_VERIFY_KEYS: %q: %v", k, err)
			continue
		}
		c.RetiredKeys = append(c.RetiredKeys, pub)
	}
	if c.CheckpointInterval < time.Second {
		r.Fail("AUDIT_CHECKPOINT_INTERVAL=%s: want at least 1s", c.CheckpointInterval)
	}
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
	maxMessages = r.Int("AUDIT_BULK_MAX_MESSAGES", wire.AuditBulkMaxMessages, 1, 10000)
	maxAwait = r.Duration("AUDIT_BULK_MAX_AWAIT", wire.AuditBulkMaxAwait)
	if maxAwait < time.Millisecond {
		r.Fail("AUDIT_BULK_MAX_AWAIT=%s: want at least 1ms", maxAwait)
	}
	return maxMessages, maxAwait
}

// readTopicPubsubs reads the pub/sub Component of each topic (shared with the benchmark's
// no-op subscriber); def is the default for all.
func readTopicPubsubs(r *envconfig.Reader, def string) map[string]string {
	return map[string]string{
		topicTaskEvents:  r.String("AUDIT_PUBSUB_TASK_EVENTS", def),
		topicReminders:   r.String("AUDIT_PUBSUB_REMINDERS", def),
		topicTaskUpdates: r.String("AUDIT_PUBSUB_TASK_UPDATES", def),
	}
}

// readSigningKey reads the Ed25519 signing key from AUDIT_SIGNING_KEY_FILE or
// AUDIT_SIGNING_KEY. Errors never contain the key.
func readSigningKey(r *envconfig.Reader, getenv func(string) string) ed25519.PrivateKey {
	file, inline := getenv("AUDIT_SIGNING_KEY_FILE"), getenv("AUDIT_SIGNING_KEY")
	var text, from string
	switch {
	case file != "" && inline != "":
		r.Fail("AUDIT_SIGNING_KEY_FILE and AUDIT_SIGNING_KEY are both set: set one")
		return nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			r.Fail("AUDIT_SIGNING_KEY_FILE: %v", err)
			return nil
		}
		text, from = string(b), "AUDIT_SIGNING_KEY_FILE "+file
	case inline != "":
		text, from = inline, "AUDIT_SIGNING_KEY"
	default:
		r.Fail("AUDIT_SIGNING_KEY_FILE (or AUDIT_SIGNING_KEY) is required: the Ed25519 key that signs the audit chain heads, checkpoints and retention records; make one with `taskflow audit keygen` or `openssl genpkey -algorithm ed25519`, and keep it out of the database")
		return nil
	}
	key, err := auditsig.ParsePrivateKey(text)
	if err != nil {
		r.Fail("%s: %v", from, err)
		return nil
	}
	return key
}
