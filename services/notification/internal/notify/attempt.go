package notify

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// attempt sends the claimed channels (except those this process sent already and has not
// recorded yet), schedules the transient failures and records every outcome, with extra
// (outcomes decided without sending) in the same statement.
func (h *Handler) attempt(ctx context.Context, claims []Claim, notes map[string]*Notification, extra []Outcome, logAttrs ...any) {
	unrecorded := h.pendingKeys()
	mine := claims[:0:0]
	for _, c := range claims {
		// Sent by this process; the outcome waits for the ledger. Never send it again:
		// the pending outcome is recorded over the row this claim leased.
		if !unrecorded[outcomeKey{c.EventID, c.Channel}] {
			mine = append(mine, c)
		}
	}
	outcomes := append(h.sendAll(ctx, mine, notes), extra...)
	h.reschedule(outcomes, mine)
	if len(outcomes) == 0 {
		return
	}
	if err := h.ledger.Finish(context.WithoutCancel(ctx), outcomes, h.now()); err != nil {
		// The sends happened: keep their outcomes until the ledger takes them. Until then
		// the rows stay leased to this attempt, and nothing here sends them again.
		h.keepPending(outcomes)
		h.logger.WarnContext(ctx, "deliveries_unrecorded", append([]any{"outcomes", len(outcomes), "error", err.Error()}, logAttrs...)...)
	}
	h.countOutcomes(outcomes)
	for _, o := range outcomes {
		switch o.Status {
		case Failed:
			h.logger.WarnContext(ctx, "channel_failed", append([]any{"event_id", o.EventID,
				"channel", string(o.Channel), "error", o.Error}, logAttrs...)...)
		case Retrying:
			h.logger.InfoContext(ctx, "channel_retry_scheduled", append([]any{"event_id", o.EventID,
				"channel", string(o.Channel), "next_attempt_at", o.NextAttempt.UTC().Format(time.RFC3339), "error", o.Error}, logAttrs...)...)
		}
	}
}

// reschedule gives each Retrying outcome its next attempt time from the backoff, or turns
// it Failed once the retry window (NOTIFY_RETRY_FOR) has passed.
func (h *Handler) reschedule(outcomes []Outcome, claims []Claim) {
	byKey := make(map[outcomeKey]Claim, len(claims))
	for _, c := range claims {
		byKey[outcomeKey{c.EventID, c.Channel}] = c
	}
	now := h.now()
	for i, o := range outcomes {
		c, ok := byKey[outcomeKey{o.EventID, o.Channel}]
		if o.Status != Retrying || !ok {
			continue
		}
		at, ok := h.backoff.Next(c.Attempts+1, c.Since, now, h.random())
		if !ok {
			outcomes[i].Status, outcomes[i].GaveUp = Failed, true
			outcomes[i].Error = fmt.Sprintf("gave up after %d attempts in %s (NOTIFY_RETRY_FOR): %s",
				c.Attempts+1, now.Sub(c.Since).Round(time.Second), o.Error)
			continue
		}
		outcomes[i].NextAttempt = at
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
		outcomes = append(outcomes, Outcome{EventID: n.Reminder.GetEventId(), Plan: result(c, err), Attempted: true})
	}
	sem := make(chan struct{}, sendConcurrency)
	for c, ns := range byChannel {
		s, ok := h.senders[c]
		if !ok {
			// Claimed after a configuration change (the scheduler checks before sending).
			for _, n := range ns {
				record(c, n, Permanent(fmt.Errorf("channel not configured")))
			}
			continue
		}
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
