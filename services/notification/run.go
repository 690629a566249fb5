package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
	"github.com/taskflow/taskflow-events/internal/daprconn"
	"github.com/taskflow/taskflow-events/internal/daprpub"
	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/pgpool"
	"github.com/taskflow/taskflow-events/internal/telemetry"
	"github.com/taskflow/taskflow-events/internal/wire"
	"github.com/taskflow/taskflow-events/services/notification/internal/deliveryapi"
	"github.com/taskflow/taskflow-events/services/notification/internal/email"
	"github.com/taskflow/taskflow-events/services/notification/internal/inapp"
	"github.com/taskflow/taskflow-events/services/notification/internal/ledger"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
	"github.com/taskflow/taskflow-events/services/notification/internal/webhook"
)

// Names of the subscription.
const (
	AppID           = "notification-service"
	Topic           = wire.TopicReminders
	DeadLetterTopic = wire.DeadLetterRemindersNotification
)

// run reads the configuration, wires the service and serves until ctx ends.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := readConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	logger, err := telemetry.NewLogger(stdout, cfg.App.LogLevel, "notification-service", version)
	if err != nil {
		return err
	}
	now := time.Now

	pool, err := pgpool.Open(ctx, cfg.DatabaseURL, cfg.DBMaxConns)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer pool.Close()
	// PostgreSQL may start after us: wait for it as long as DB_STARTUP_TIMEOUT says.
	if err := pgpool.Retry(ctx, cfg.DBStartupTimeout, "migrate the ledger", func(ctx context.Context) error {
		return ledger.Migrate(ctx, pool)
	}); err != nil {
		return err
	}
	// A channel marked sending belongs to its attempt for twice the handler timeout.
	store := ledger.New(pool, 2*cfg.HandlerTimeout)

	// The connection is lazy: the service starts before its sidecar does.
	dc, err := daprconn.New(cfg.Dapr)
	if err != nil {
		return err
	}
	senders, secrets, closeSenders, err := newSenders(cfg, dc, now, logger)
	if err != nil {
		return err
	}
	defer closeSenders() // after app.Run: no batch is in flight any more
	h := notify.NewHandler(store, senders, cfg.MaxLateness, now, logger)
	h.Schedule(cfg.Retry, nil)
	h.UsePreferences(store)
	// Answer a batch once the ledger holds it, and send after (the lease, twice the
	// handler timeout, outlasts an attempt bounded by the handler timeout).
	h.AttemptAfterAck(cfg.BackgroundBatches, cfg.HandlerTimeout)

	app := grpcapp.New(cfg.App, logger)
	h.UseMetrics(notify.NewMetrics(app.Metrics.Registry))
	app.Health.Register("postgres", func(ctx context.Context) error { return pool.Ping(ctx) })
	subscribe(app, cfg, h)
	notificationv1.RegisterNotificationServiceServer(app.GRPC, deliveryapi.New(store, secrets, store, now))
	// Each takes an id or two and a page token, or one user's preferences.
	app.LimitRequests("/taskflow.notification.v1.NotificationService/", 16<<10)
	app.Go(func(ctx context.Context) error { return h.RunPending(ctx, time.Second) })
	// The retry schedule: due channels, held ones whose quiet hours ended and sending ones
	// whose attempt crashed (lease run out), on every replica.
	app.Go(func(ctx context.Context) error {
		return h.RunScheduler(ctx, cfg.SchedulerInterval, cfg.HandlerTimeout, cfg.SchedulerBatch)
	})
	// At shutdown, first attempts still running after their batches were answered end
	// before the kept outcomes are flushed and the senders closed (the hooks below run
	// after the tasks have returned); batches arriving meanwhile attempt before answering.
	app.Go(func(ctx context.Context) error { <-ctx.Done(); h.DrainAttempts(); return nil })
	app.OnShutdown(func(ctx context.Context) error {
		// Outcomes of sends the ledger did not take yet: one last try. Lost ones leave
		// their channels 'sending', sent once more after the lease (README, delivery rules).
		if err := h.FlushPending(ctx); err != nil {
			logger.Error("deliveries_unrecorded_at_exit", "outcomes", h.Pending(), "error", err.Error())
		}
		return nil
	})
	app.OnShutdown(func(context.Context) error { dc.Close(); return nil })
	return app.Run(ctx)
}

// newSenders builds a sender per configured channel: in-app always, webhook when
// WEBHOOK_SECRET is set, e-mail when SMTP_ADDR is. closeSenders ends the pooled SMTP
// sessions.
func newSenders(cfg Config, dc daprpub.Client, now func() time.Time, logger *slog.Logger) (
	senders map[notify.Channel]notify.Sender, secrets deliveryapi.WebhookSecrets, closeSenders func(), err error,
) {
	senders = map[notify.Channel]notify.Sender{
		notify.InApp: inapp.NewSender(dc, cfg.App.PubsubName),
	}
	closeSenders = func() {}
	// Every webhook is signed with its user's key, derived from the master key; the same
	// Keyring answers GetWebhookSecret. A nil interface (not a nil *Keyring) tells the API
	// that the channel is off.
	if cfg.WebhookKey != nil {
		keys := webhook.NewKeyring(cfg.WebhookKey, cfg.WebhookPreviousKey)
		secrets = keys
		senders[notify.Webhook] = webhook.NewSender(keys, cfg.WebhookTimeout, cfg.WebhookAllowPrivate, now)
		if cfg.WebhookPreviousKey != nil {
			logger.Info("webhook_key_rotation", "reason", "WEBHOOK_SECRET_PREVIOUS is set: webhooks carry a signature under each master key")
		}
	} else {
		logger.Warn("webhook_channel_disabled", "reason", "WEBHOOK_SECRET is not set")
	}
	if cfg.SMTP != nil {
		s, err := email.NewSender(*cfg.SMTP)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("SMTP: %w", err)
		}
		senders[notify.Email] = s
		closeSenders = s.Close
	} else {
		logger.Warn("email_channel_disabled", "reason", "SMTP_ADDR is not set")
	}
	return senders, secrets, closeSenders, nil
}

// subscribe wires the reminders subscription: bulk when BULK_MAX_MESSAGES > 1, one
// event per call otherwise.
func subscribe(app *grpcapp.App, cfg Config, h *notify.Handler) {
	sub := daprsub.Subscription{
		PubsubName: cfg.App.PubsubName, Topic: Topic, DeadLetterTopic: DeadLetterTopic, Timeout: cfg.HandlerTimeout,
	}
	if cfg.BulkMaxMessages <= 1 {
		daprsub.Handle(app.Events, sub, func(ctx context.Context, m daprsub.Meta, ev *eventsv1.ReminderEvent) error {
			return h.Handle(ctx, ev, "topic", m.Topic, "trace_id", m.TraceID)
		})
		return
	}
	// Bulk delivery: one ledger round trip before and after a whole batch and one bulk
	// publish for its in-app notifications, with a status per reminder.
	sub.Bulk = &daprsub.Bulk{MaxMessages: int32(cfg.BulkMaxMessages), MaxAwait: cfg.BulkMaxAwait}
	daprsub.HandleBatch(app.Events, sub, func(ctx context.Context, evs []daprsub.Event[*eventsv1.ReminderEvent]) []error {
		msgs := make([]*eventsv1.ReminderEvent, len(evs))
		for i, e := range evs {
			msgs[i] = e.Msg
		}
		return h.HandleBatch(ctx, msgs, "topic", Topic)
	})
}
