package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
// attempted), or a final Failed or Skipped with the reason in Error. After an attempt it
// is the outcome: Delivered, Retrying or Failed.
type Plan struct {
	Channel Channel
	Status  Status
	Error   string
}

// Request is the plan of one reminder.
type Request struct {
	Key   Key
	Plans []Plan
}

// Claim is one channel of one reminder to attempt now, or, when Held, one that another
// attempt is delivering at this moment: it is not sent, and the reminder is answered
// RETRY so that it is looked at again once that attempt has recorded its outcome.
type Claim struct {
	EventID string
	Channel Channel
	Held    bool
	// Since is when the ledger first saw this channel of the reminder.
	Since time.Time
}

// Outcome is the result of one claimed attempt.
type Outcome struct {
	EventID string
	Plan
}

// Ledger remembers, per (event_id, channel), what was delivered.
type Ledger interface {
	// Begin records the plans for channels that are not final yet (rows are created on
	// first sight) and returns the channels now marked Sending: those to attempt, and
	// (Held) those another attempt is sending right now.
	// Channels already delivered, failed or skipped are left alone and not returned.
	// Event ids in reqs are distinct.
	Begin(ctx context.Context, reqs []Request, now time.Time) ([]Claim, error)
	// Finish records the outcomes of the attempts Begin returned.
	Finish(ctx context.Context, outcomes []Outcome, now time.Time) error
}

// BatchSender is a Sender that can deliver many notifications in one call (in-app: one
// bulk publish). It returns one error per notification.
type BatchSender interface {
	SendBatch(ctx context.Context, ns []*Notification) []error
}

// Handler delivers reminders on every channel they ask for, at most once per channel
// as far as the ledger knows.
type Handler struct {
	ledger      Ledger
	senders     map[Channel]Sender
	maxLateness time.Duration
	giveUpAfter time.Duration
	now         func() time.Time
	logger      *slog.Logger

	// pending holds, in order, outcomes of sends whose Finish failed (the database was
	// down): they are recorded before anything else, and their channels are never sent
	// again by this process meanwhile. pendingMu also serialises the flushes.
	pendingMu sync.Mutex
	pending   []Outcome
}

// sendConcurrency bounds concurrent webhook POSTs and SMTP sessions of one batch.
const sendConcurrency = 16

// NewHandler returns a Handler. senders holds the configured channels; a reminder that
// asks for a missing one fails that channel permanently. A reminder arriving more than
// maxLateness after its due time is skipped (0 disables the check).
func NewHandler(ledger Ledger, senders map[Channel]Sender, maxLateness time.Duration, now func() time.Time, logger *slog.Logger) *Handler {
	return &Handler{ledger: ledger, senders: senders, maxLateness: maxLateness, now: now, logger: logger}
}

// GiveUpAfter records a channel as Failed ("gave up …") when it still fails transiently
// more than d after the ledger first saw the reminder, so the reminder is acknowledged:
// while it is answered RETRY its partition waits behind it (daprd retries until
// delivered). 0 (the default) never gives up.
func (h *Handler) GiveUpAfter(d time.Duration) { h.giveUpAfter = d }

// Handle delivers one reminder. It returns nil when every channel is delivered, failed
// permanently or skipped, and an error (retry) while any channel failed transiently.
// logAttrs are added to its log lines (topic, trace_id).
func (h *Handler) Handle(ctx context.Context, ev *eventsv1.ReminderEvent, logAttrs ...any) error {
	return h.HandleBatch(ctx, []*eventsv1.ReminderEvent{ev}, logAttrs...)[0]
}

// HandleBatch delivers reminders with one ledger round trip before and one after all
// sends, and returns one result per reminder, as Handle does. Copies of the same
// event_id in a batch share the first copy's result.
func (h *Handler) HandleBatch(ctx context.Context, evs []*eventsv1.ReminderEvent, logAttrs ...any) []error {
	now := h.now()
	errs := make([]error, len(evs))
	first := make(map[string]int, len(evs))
	notes := make(map[string]*Notification, len(evs))
	reqs := make([]Request, 0, len(evs))
	for i, ev := range evs {
		if _, dup := first[ev.GetEventId()]; dup {
			continue
		}
		first[ev.GetEventId()] = i
		n := New(ev, now)
		notes[ev.GetEventId()] = n
		reqs = append(reqs, Request{
			Key:   Key{EventID: ev.GetEventId(), UserID: ev.GetUserId(), TaskID: ev.GetTaskId(), NotificationID: n.ID},
			Plans: h.plan(ev, now),
		})
	}
	if err := h.FlushPending(ctx); err != nil {
		// Begin would fail as well; the reminders come back once the ledger is reachable.
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	claims, err := h.ledger.Begin(ctx, reqs, now)
	if err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("begin deliveries: %w", err)
		}
		return errs
	}
	transient := map[string][]error{}
	mine := claims[:0:0]
	unrecorded := h.pendingKeys()
	for _, c := range claims {
		switch {
		case unrecorded[outcomeKey{c.EventID, c.Channel}]:
			// Sent by this process; the outcome waits for the ledger. Never send it again.
			transient[c.EventID] = append(transient[c.EventID], fmt.Errorf("%s: sent, outcome not recorded yet", c.Channel))
		case c.Held:
			transient[c.EventID] = append(transient[c.EventID], fmt.Errorf("%s: being delivered by another attempt", c.Channel))
		default:
			mine = append(mine, c)
		}
	}
	outcomes := h.sendAll(ctx, mine, notes)
	h.giveUp(outcomes, mine)
	if len(outcomes) > 0 {
		if err := h.ledger.Finish(context.WithoutCancel(ctx), outcomes, h.now()); err != nil {
			// The sends happened: keep their outcomes until the ledger takes them, and
			// answer RETRY so the reminders stay on the topic until then.
			h.keepPending(outcomes)
			h.logger.WarnContext(ctx, "deliveries_unrecorded", append([]any{"outcomes", len(outcomes), "error", err.Error()}, logAttrs...)...)
			for i := range errs {
				errs[i] = fmt.Errorf("record deliveries (kept in memory until the ledger is back): %w", err)
			}
			return errs
		}
	}
	for _, o := range outcomes {
		switch o.Status {
		case Retrying:
			transient[o.EventID] = append(transient[o.EventID], fmt.Errorf("%s: %s", o.Channel, o.Error))
		case Failed:
			h.logger.WarnContext(ctx, "channel_failed", append([]any{"event_id", o.EventID,
				"channel", string(o.Channel), "error", o.Error}, logAttrs...)...)
		}
	}
	for i, ev := range evs {
		if t := transient[ev.GetEventId()]; len(t) > 0 {
			errs[i] = fmt.Errorf("deliver %s: %w", ev.GetEventId(), errors.Join(t...))
		}
	}
	return errs
}

// giveUp turns Retrying outcomes of channels first seen more than giveUpAfter ago into
// Failed.
func (h *Handler) giveUp(outcomes []Outcome, claims []Claim) {
	if h.giveUpAfter <= 0 {
		return
	}
	since := make(map[outcomeKey]time.Time, len(claims))
	for _, c := range claims {
		since[outcomeKey{c.EventID, c.Channel}] = c.Since
	}
	now := h.now()
	for i, o := range outcomes {
		first, ok := since[outcomeKey{o.EventID, o.Channel}]
		if o.Status != Retrying || !ok || first.IsZero() || now.Sub(first) <= h.giveUpAfter {
			continue
		}
		outcomes[i].Status = Failed
		outcomes[i].Error = fmt.Sprintf("gave up after %s of transient failures (NOTIFY_RETRY_FOR): %s",
			now.Sub(first).Round(time.Second), o.Error)
	}
}

type outcomeKey struct {
	eventID string
	channel Channel
}

func (h *Handler) keepPending(outcomes []Outcome) {
	h.pendingMu.Lock()
	defer h.pendingMu.Unlock()
	h.pending = append(h.pending, outcomes...)
}

func (h *Handler) pendingKeys() map[outcomeKey]bool {
	h.pendingMu.Lock()
	defer h.pendingMu.Unlock()
	if len(h.pending) == 0 {
		return nil
	}
	keys := make(map[outcomeKey]bool, len(h.pending))
	for _, o := range h.pending {
		keys[outcomeKey{o.EventID, o.Channel}] = true
	}
	return keys
}

// Pending returns how many sent outcomes wait for the ledger.
func (h *Handler) Pending() int {
	h.pendingMu.Lock()
	defer h.pendingMu.Unlock()
	return len(h.pending)
}

// FlushPending records the outcomes kept while the ledger was unreachable, in the order
// they happened. It returns nil when none is left.
func (h *Handler) FlushPending(ctx context.Context) error {
	h.pendingMu.Lock()
	defer h.pendingMu.Unlock()
	if len(h.pending) == 0 {
		return nil
	}
	if err := h.ledger.Finish(context.WithoutCancel(ctx), h.pending, h.now()); err != nil {
		return fmt.Errorf("record %d earlier deliveries: %w", len(h.pending), err)
	}
	h.logger.InfoContext(ctx, "deliveries_recorded_late", "outcomes", len(h.pending))
	h.pending = nil
	return nil
}

// RunPending flushes kept outcomes every interval until ctx ends, so they reach the
// ledger even when no reminder arrives meanwhile. Call FlushPending once more after the
// last event has been answered.
func (h *Handler) RunPending(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := h.FlushPending(ctx); err != nil {
				h.logger.Debug("deliveries_still_unrecorded", "error", err.Error())
			}
		}
	}
}

// sendAll attempts every claim: channels in parallel, a BatchSender in one call, other
// senders with bounded concurrency.
func (h *Handler) sendAll(ctx context.Context, claims []Claim, notes map[string]*Notification) []Outcome {
	byChannel := map[Channel][]*Notification{}
	for _, c := range claims {
		byChannel[c.Channel] = append(byChannel[c.Channel], notes[c.EventID])
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	outcomes := make([]Outcome, 0, len(claims))
	record := func(c Channel, n *Notification, err error) {
		mu.Lock()
		defer mu.Unlock()
		outcomes = append(outcomes, Outcome{EventID: n.Reminder.GetEventId(), Plan: result(c, err)})
	}
	sem := make(chan struct{}, sendConcurrency)
	for c, ns := range byChannel {
		s := h.senders[c]
		if bs, ok := s.(BatchSender); ok && len(ns) > 1 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i, err := range bs.SendBatch(ctx, ns) {
					record(c, ns[i], err)
				}
			}()
			continue
		}
		for _, n := range ns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				record(c, n, s.Send(ctx, n))
			}()
		}
	}
	wg.Wait()
	return outcomes
}

func result(c Channel, err error) Plan {
	switch {
	case err == nil:
		return Plan{Channel: c, Status: Delivered}
	case IsPermanent(err):
		return Plan{Channel: c, Status: Failed, Error: err.Error()}
	default:
		return Plan{Channel: c, Status: Retrying, Error: err.Error()}
	}
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
