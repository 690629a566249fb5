package main

import (
	"bytes"
	"net/mail"
	"time"

	"github.com/taskflow/taskflow-events/internal/daprconn"
	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/wire"
	"github.com/taskflow/taskflow-events/services/notification/internal/email"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
	"github.com/taskflow/taskflow-events/services/notification/internal/webhook"
)

// Config is the notification service's configuration, read from the environment once.
type Config struct {
	App grpcapp.Config
	// DatabaseURL is the PostgreSQL DSN of the delivery ledger (DATABASE_URL, required).
	DatabaseURL string
	// DBMaxConns caps the pool (DB_MAX_CONNS, 16).
	DBMaxConns int
	// DBStartupTimeout bounds waiting for PostgreSQL to run migrations at start (DB_STARTUP_TIMEOUT, 60s).
	DBStartupTimeout time.Duration
	// Dapr says how to reach the sidecar (DAPR_GRPC_ENDPOINT, DAPR_GRPC_PORT, DAPR_API_TOKEN).
	Dapr daprconn.Config
	// MaxLateness: a reminder handled later than this after its due time is skipped
	// (NOTIFY_MAX_LATENESS, 6h; 0 disables).
	MaxLateness time.Duration
	// Retry is the schedule on which the service retries a channel that failed transiently
	// (NOTIFY_RETRY_INITIAL 30s, NOTIFY_RETRY_MULTIPLIER 4, NOTIFY_RETRY_MAX_INTERVAL 1h,
	// jitter ±20 %), until NOTIFY_RETRY_FOR (24h; 0: forever) after the reminder first
	// arrived, then the channel is recorded failed.
	Retry notify.Backoff
	// SchedulerInterval is how often the scheduler looks for due channels
	// (NOTIFY_SCHEDULER_INTERVAL, 1s; must be positive).
	SchedulerInterval time.Duration
	// SchedulerBatch is the most channels one scheduler pass attempts
	// (NOTIFY_SCHEDULER_BATCH, 100).
	SchedulerBatch int
	// HandlerTimeout bounds the handling of one reminder, all channels (HANDLER_TIMEOUT, 30s;
	// must be positive).
	HandlerTimeout time.Duration
	// BulkMaxMessages is the most reminders daprd delivers in one bulk request
	// (BULK_MAX_MESSAGES, 100); 1 turns bulk delivery off.
	BulkMaxMessages int
	// BackgroundBatches is how many batches' first attempts may run after their batches
	// were acknowledged (NOTIFY_BACKGROUND_BATCHES, 8); 0 attempts before acknowledging.
	BackgroundBatches int
	// BulkMaxAwait is how long daprd waits to fill a bulk request (BULK_MAX_AWAIT, 100ms; at
	// least 1ms: daprd gets whole milliseconds and replaces 0 by its own default, 1s or 10s).
	BulkMaxAwait time.Duration
	// WebhookKey is the master key each user's webhook key is derived from (WEBHOOK_SECRET,
	// secret, "whsec_<base64>"); nil disables the webhook channel (reminders asking for it
	// record it as failed) and GetWebhookSecret.
	WebhookKey []byte
	// WebhookPreviousKey is the master key being rotated out (WEBHOOK_SECRET_PREVIOUS,
	// secret, optional): webhooks carry a second signature under the user's key derived
	// from it, and GetWebhookSecret returns that secret too.
	WebhookPreviousKey []byte
	// WebhookTimeout bounds one webhook POST (WEBHOOK_TIMEOUT, 10s; must be positive).
	WebhookTimeout time.Duration
	// WebhookAllowPrivate lets webhooks reach loopback, private and link-local addresses
	// (WEBHOOK_ALLOW_PRIVATE, false: user-chosen URLs must not reach inside the cluster).
	WebhookAllowPrivate bool
	// SMTP is nil when SMTP_ADDR is unset: the e-mail channel is disabled.
	SMTP *email.Config
}

func readConfig(getenv func(string) string) (Config, error) {
	r := envconfig.New(getenv)
	c := Config{
		App:                 grpcapp.ReadConfig(r),
		DatabaseURL:         r.Required("DATABASE_URL"),
		DBMaxConns:          r.Int("DB_MAX_CONNS", 16, 1, 1000),
		DBStartupTimeout:    r.Duration("DB_STARTUP_TIMEOUT", 60*time.Second),
		Dapr:                daprconn.ReadConfig(r),
		MaxLateness:         r.Duration("NOTIFY_MAX_LATENESS", 6*time.Hour),
		HandlerTimeout:      r.Duration("HANDLER_TIMEOUT", 30*time.Second),
		Retry:               readRetry(r),
		SchedulerInterval:   r.Duration("NOTIFY_SCHEDULER_INTERVAL", time.Second),
		SchedulerBatch:      r.Int("NOTIFY_SCHEDULER_BATCH", 100, 1, 1000),
		WebhookTimeout:      r.Duration("WEBHOOK_TIMEOUT", 10*time.Second),
		WebhookAllowPrivate: r.Bool("WEBHOOK_ALLOW_PRIVATE", false),
		BulkMaxMessages:     r.Int("BULK_MAX_MESSAGES", wire.NotificationBulkMaxMessages, 1, 1000),
		BulkMaxAwait:        r.Duration("BULK_MAX_AWAIT", wire.NotificationBulkMaxAwait),
		BackgroundBatches:   r.Int("NOTIFY_BACKGROUND_BATCHES", 8, 0, 64),
	}
	checkTimings(r, c)
	c.WebhookKey, c.WebhookPreviousKey = readWebhookKeys(r)
	c.SMTP = readSMTP(r)
	return c, r.Err()
}

// readRetry reads the retry schedule of transiently failing channels; checkRetry
// validates it.
func readRetry(r *envconfig.Reader) notify.Backoff {
	return notify.Backoff{
		Initial:    r.Duration("NOTIFY_RETRY_INITIAL", notify.DefaultBackoff.Initial),
		Multiplier: float64(r.Int("NOTIFY_RETRY_MULTIPLIER", int(notify.DefaultBackoff.Multiplier), 1, 100)),
		Max:        r.Duration("NOTIFY_RETRY_MAX_INTERVAL", notify.DefaultBackoff.Max),
		Jitter:     notify.DefaultBackoff.Jitter,
		RetryFor:   r.Duration("NOTIFY_RETRY_FOR", notify.DefaultBackoff.RetryFor),
	}
}

// checkTimings records the timeouts, intervals and waits of c that parse but cannot work.
func checkTimings(r *envconfig.Reader, c Config) {
	// A zero timeout would not mean "no time": daprsub replaces a zero HANDLER_TIMEOUT by 30s
	// and http.Client waits forever with a zero WEBHOOK_TIMEOUT.
	if c.HandlerTimeout == 0 {
		r.Fail("HANDLER_TIMEOUT=0: must be positive")
	}
	if c.WebhookTimeout == 0 {
		r.Fail("WEBHOOK_TIMEOUT=0: must be positive")
	}
	if c.SchedulerInterval <= 0 {
		r.Fail("NOTIFY_SCHEDULER_INTERVAL=%s: must be positive", c.SchedulerInterval)
	}
	checkRetry(r, c.Retry)
	// daprd (1.14 to 1.17.5) receives maxAwaitDurationMs in whole milliseconds and treats 0
	// as unset: it waits its default instead (pkg/runtime/pubsub/default_bulksub.go: 1s;
	// pubsub.kafka: 10s), the opposite of "do not wait".
	if c.BulkMaxAwait < time.Millisecond {
		r.Fail("BULK_MAX_AWAIT=%s: want at least 1ms (daprd treats 0 as its default wait of 1s, 10s with Kafka)", c.BulkMaxAwait)
	}
}

// checkRetry records the first problem of the retry schedule b, if any.
func checkRetry(r *envconfig.Reader, b notify.Backoff) {
	switch {
	case b.Initial <= 0:
		r.Fail("NOTIFY_RETRY_INITIAL=%s: must be positive", b.Initial)
	case b.Max < b.Initial:
		r.Fail("NOTIFY_RETRY_MAX_INTERVAL=%s is shorter than NOTIFY_RETRY_INITIAL=%s", b.Max, b.Initial)
	case b.RetryFor < 0 || (b.RetryFor > 0 && b.RetryFor < b.Initial):
		r.Fail("NOTIFY_RETRY_FOR=%s is shorter than NOTIFY_RETRY_INITIAL=%s: no retry would ever happen (0 retries forever)", b.RetryFor, b.Initial)
	}
}

// readWebhookKeys reads the webhook master key and the one being rotated out; both nil
// when unset.
func readWebhookKeys(r *envconfig.Reader) (key, previous []byte) {
	key = webhookKey(r, "WEBHOOK_SECRET")
	previous = webhookKey(r, "WEBHOOK_SECRET_PREVIOUS")
	switch {
	case previous == nil:
	case r.String("WEBHOOK_SECRET", "") == "":
		r.Fail("WEBHOOK_SECRET_PREVIOUS is set but WEBHOOK_SECRET is not: a rotation needs the new master key")
	case bytes.Equal(key, previous):
		r.Fail("WEBHOOK_SECRET_PREVIOUS equals WEBHOOK_SECRET: set the new master key in WEBHOOK_SECRET")
	}
	return key, previous
}

// readSMTP reads the e-mail channel's settings; nil when SMTP_ADDR is unset (the channel
// is disabled).
func readSMTP(r *envconfig.Reader) *email.Config {
	addr := r.String("SMTP_ADDR", "")
	if addr == "" {
		return nil
	}
	sc := &email.Config{
		Addr:     addr,
		TLS:      r.String("SMTP_TLS", email.TLSStartTLS),
		Username: r.String("SMTP_USERNAME", ""),
		Password: r.String("SMTP_PASSWORD", ""),
		Timeout:  r.Duration("SMTP_TIMEOUT", 15*time.Second),
		HeloName: r.String("SMTP_HELO_NAME", ""),
		MaxConns: r.Int("SMTP_MAX_CONNECTIONS", 32, 1, 1000),
	}
	// email.NewSender replaces a zero timeout by 15s.
	if sc.Timeout == 0 {
		r.Fail("SMTP_TIMEOUT=0: must be positive")
	}
	switch sc.TLS {
	case email.TLSNone, email.TLSStartTLS, email.TLSImplicit:
	default:
		r.Fail("SMTP_TLS=%q: want none, starttls or tls", sc.TLS)
	}
	from := r.Required("SMTP_FROM")
	if from != "" {
		a, err := mail.ParseAddress(from)
		if err != nil {
			r.Fail("SMTP_FROM=%q: not an e-mail address", from)
		}
		sc.From = a
	}
	return sc
}

// webhookKey reads a master key variable; nil when unset.
func webhookKey(r *envconfig.Reader, name string) []byte {
	s := r.String(name, "")
	if s == "" {
		return nil
	}
	key, err := webhook.ParseSecret(s)
	if err != nil {
		// The error never contains the secret itself.
		r.Fail("%s: %v", name, err)
	}
	return key
}
