package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// Sender delivers a notification on one channel.
type Sender interface {
	// Check reports, without side effects, whether the reminder can ever be delivered on
	// this channel (an invalid address, say); its error is a permanent failure.
	Check(ev *eventsv1.ReminderEvent) error
	// Send delivers n. An error marked with Permanent fails the channel for good; any
	// other error is retried.
	Send(ctx context.Context, n *Notification) error
}

// Key identifies a reminder in the ledger and carries what queries need.
type Key struct {
	EventID, UserID, TaskID, NotificationID string
}

// Plan is what to record for a channel before anything is sent: Sending (about to be
// attempted), or a final Failed or Skipped with the reason in Error.
type Plan struct {
	Channel Channel
	Status  Status
	Error   string
}

// Ledger remembers, per (event_id, channel), what was delivered.
type Ledger interface {
	// Begin records plans for channels that are not final yet (rows are created on first
	// sight) and returns the channels now marked Sending: those to attempt. Channels
	// already delivered, failed or skipped are left alone and not returned.
	Begin(ctx context.Context, key Key, plans []Plan, now time.Time) ([]Channel, error)
	// Finish records the outcome of the attempts Begin returned.
	Finish(ctx context.Context, eventID string, results []Plan, now time.Time) error
}

// Handler delivers reminders on every channel they ask for, at most once per channel
// as far as the ledger knows.
type Handler struct {
	ledger      Ledger
	senders     map[Channel]Sender
	maxLateness time.Duration
	now         func() time.Time
	logger      *slog.Logger
}

// NewHandler returns a Handler. senders holds the configured channels; a reminder that
// asks for a missing one fails that channel permanently. A reminder arriving more than
// maxLateness after its due time is skipped (0 disables the check).
func NewHandler(ledger Ledger, senders map[Channel]Sender, maxLateness time.Duration, now func() time.Time, logger *slog.Logger) *Handler {
	return &Handler{ledger: ledger, senders: senders, maxLateness: maxLateness, now: now, logger: logger}
}

// Handle delivers one reminder. It returns nil when every channel is delivered, failed
// permanently or skipped, and an error (retry) while any channel failed transiently.
// logAttrs are added to its log lines (topic, trace_id).
func (h *Handler) Handle(ctx context.Context, ev *eventsv1.ReminderEvent, logAttrs ...any) error {
	now := h.now()
	n := New(ev, now)
	plans := h.plan(ev, now)
	key := Key{EventID: ev.GetEventId(), UserID: ev.GetUserId(), TaskID: ev.GetTaskId(), NotificationID: n.ID}
	todo, err := h.ledger.Begin(ctx, key, plans, now)
	if err != nil {
		return fmt.Errorf("begin deliveries of %s: %w", ev.GetEventId(), err)
	}
	if len(todo) == 0 {
		return nil
	}
	results := make([]Plan, len(todo))
	if len(todo) == 1 {
		results[0] = h.send(ctx, todo[0], n)
	} else {
		done := make(chan struct{}, len(todo))
		for i, c := range todo {
			go func() { results[i] = h.send(ctx, c, n); done <- struct{}{} }()
		}
		for range todo {
			<-done
		}
	}
	if err := h.ledger.Finish(context.WithoutCancel(ctx), ev.GetEventId(), results, h.now()); err != nil {
		return fmt.Errorf("record deliveries of %s: %w", ev.GetEventId(), err)
	}
	var transient []error
	for _, r := range results {
		switch r.Status {
		case Retrying:
			transient = append(transient, fmt.Errorf("%s: %s", r.Channel, r.Error))
		case Failed:
			h.logger.WarnContext(ctx, "channel_failed", append([]any{"event_id", ev.GetEventId(),
				"channel", string(r.Channel), "error", r.Error}, logAttrs...)...)
		}
	}
	if len(transient) > 0 {
		return fmt.Errorf("deliver %s: %w", ev.GetEventId(), errors.Join(transient...))
	}
	return nil
}

// plan decides, before any I/O, what each requested channel should do.
func (h *Handler) plan(ev *eventsv1.ReminderEvent, now time.Time) []Plan {
	channels := []Channel{InApp}
	if ev.GetTargets().GetWebhookUrl() != "" {
		channels = append(channels, Webhook)
	}
	if ev.GetTargets().GetEmail() != "" {
		channels = append(channels, Email)
	}
	plans := make([]Plan, len(channels))
	late, stale := h.lateness(ev, now)
	for i, c := range channels {
		plans[i] = Plan{Channel: c, Status: Sending}
		s, ok := h.senders[c]
		switch {
		case stale:
			plans[i] = Plan{Channel: c, Status: Skipped,
				Error: fmt.Sprintf("stale: arrived %s after its due time, more than the allowed %s", late.Round(time.Second), h.maxLateness)}
		case !ok:
			plans[i] = Plan{Channel: c, Status: Failed, Error: "channel not configured"}
		default:
			if err := s.Check(ev); err != nil {
				plans[i] = Plan{Channel: c, Status: Failed, Error: err.Error()}
			}
		}
	}
	return plans
}

// lateness returns how long after its due time (or, without one, its scheduled time)
// the reminder is handled, and whether that is beyond maxLateness.
func (h *Handler) lateness(ev *eventsv1.ReminderEvent, now time.Time) (time.Duration, bool) {
	ref := ev.GetDueAt()
	if ref == nil {
		ref = ev.GetRemindAt()
	}
	if ref == nil || h.maxLateness <= 0 {
		return 0, false
	}
	late := now.Sub(ref.AsTime())
	return late, late > h.maxLateness
}

func (h *Handler) send(ctx context.Context, c Channel, n *Notification) Plan {
	err := h.senders[c].Send(ctx, n)
	switch {
	case err == nil:
		return Plan{Channel: c, Status: Delivered}
	case IsPermanent(err):
		return Plan{Channel: c, Status: Failed, Error: err.Error()}
	default:
		return Plan{Channel: c, Status: Retrying, Error: err.Error()}
	}
}
