package notify

import (
	"context"
	"fmt"
	"time"
)

// RunScheduler attempts due channels until ctx ends: a pass every interval, and at once
// again while a pass found a full batch of limit channels. Each pass is bounded by
// timeout (HANDLER_TIMEOUT, shorter than the ledger's lease) and, like an event being
// handled, finishes at shutdown instead of being cut off mid-send. Passes of every replica
// run concurrently and never claim the same channel.
func (h *Handler) RunScheduler(ctx context.Context, interval, timeout time.Duration, limit int) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		n, err := h.AttemptDue(pctx, limit)
		cancel()
		if err != nil {
			// The database is down or restarting: health says so; the next pass retries.
			h.logger.Debug("scheduler_pass_failed", "error", err.Error())
		}
		if n == limit && err == nil {
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// AttemptDue attempts up to limit channels whose next attempt is due and returns how many
// it claimed. Before sending, each channel is checked again: a reminder that became stale
// or a channel the user turned off meanwhile is skipped, one inside the user's quiet hours
// is held until they end.
func (h *Handler) AttemptDue(ctx context.Context, limit int) (int, error) {
	if err := h.FlushPending(ctx); err != nil {
		return 0, err
	}
	now := h.now()
	due, err := h.ledger.Due(ctx, now, limit)
	if err != nil {
		return 0, fmt.Errorf("claim due deliveries: %w", err)
	}
	if len(due) == 0 {
		return 0, nil
	}
	users := make([]string, len(due))
	for i, d := range due {
		users[i] = d.Reminder.GetUserId()
	}
	prefs, err := h.preferences(ctx, users)
	if err != nil {
		// The claims stay leased; they come back when the lease runs out.
		return len(due), err
	}
	var decided []Outcome
	claims := make([]Claim, 0, len(due))
	notes := make(map[string]*Notification, len(due))
	for _, d := range due {
		if o, send := h.recheck(d, prefs[d.Reminder.GetUserId()], now); !send {
			decided = append(decided, o)
			continue
		}
		claims = append(claims, d.Claim)
		if notes[d.EventID] == nil {
			notes[d.EventID] = New(d.Reminder, now)
		}
	}
	h.attempt(ctx, claims, notes, decided, "source", "scheduler")
	return len(due), nil
}

// recheck decides whether a due channel is sent now; when not, it returns the outcome to
// record instead.
func (h *Handler) recheck(d DueClaim, p Preferences, now time.Time) (Outcome, bool) {
	o := Outcome{EventID: d.EventID}
	switch {
	case !d.StaleAfter.IsZero() && now.After(d.StaleAfter):
		o.Plan = Plan{Channel: d.Channel, Status: Skipped,
			Error: fmt.Sprintf("stale: not delivered by %s (NOTIFY_MAX_LATENESS after its due time)", d.StaleAfter.UTC().Format(time.RFC3339))}
	case p.Off(d.Channel):
		o.Plan = Plan{Channel: d.Channel, Status: Skipped, Error: "turned off in the user's preferences"}
	default:
		until, quiet := h.quiet(d.Reminder, p, now)
		if !quiet {
			return o, true
		}
		o.Plan = Plan{Channel: d.Channel, Status: Held, NextAttempt: until, Error: heldReason(p, until)}
	}
	return o, false
}
