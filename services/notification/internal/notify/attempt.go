package notify

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// attempt sends the claimed channels (except those this process sent already and has not
// recorded yet), schedules the transient failures and records the outcomes: extra
// (outcomes decided without sending) first, then each channel's as soon as all of that
// channel's sends are done. A slow channel (an SMTP relay that takes its time) thus never
// keeps a fast one (in-app) `sending`, where a crash would make it go out again.
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
	byKey := make(map[outcomeKey]Claim, len(mine))
	for _, c := range mine {
		byKey[outcomeKey{c.EventID, c.Channel}] = c
	}
	record := func(outcomes []Outcome) {
		h.reschedule(outcomes, byKey)
		h.record(ctx, outcomes, logAttrs...)
	}
	if len(extra) > 0 {
		record(extra)
	}
	h.sendAll(ctx, mine, notes, record)
}

// record writes outcomes to the ledger, or keeps them in memory when it is unreachable.
func (h *Handler) record(ctx context.Context, outcomes []Outcome, logAttrs ...any) {
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
func (h *Handler) reschedule(outcomes []Outcome, byKey map[outcomeKey]Claim) {
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

// sendAll attempts every claim, channels in parallel (a BatchSender in one call, other
// senders with bounded concurrency), and hands each channel's outcomes to done once all
// of its sends are over. It returns when every channel is done.
func (h *Handler) sendAll(ctx context.Context, claims []Claim, notes map[string]*Notification, done func([]Outcome)) {
	byChannel := map[Channel][]*Notification{}
	for _, c := range claims {
		byChannel[c.Channel] = append(byChannel[c.Channel], notes[c.EventID])
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, sendConcurrency)
	for c, ns := range byChannel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done(h.sendChannel(ctx, c, ns, sem))
		}()
	}
	wg.Wait()
}

// sendChannel sends ns on channel c and returns their outcomes.
func (h *Handler) sendChannel(ctx context.Context, c Channel, ns []*Notification, sem chan struct{}) []Outcome {
	outcomes := make([]Outcome, len(ns))
	// Each outcome carries the time its send ended: the channel's outcomes are recorded
	// together once all of them are over, and a delivered_at taken then would be the
	// slowest send's.
	set := func(i int, err error) {
		outcomes[i] = Outcome{EventID: ns[i].Reminder.GetEventId(), Plan: result(c, err), Attempted: true, At: h.now()}
	}
	s, ok := h.senders[c]
	if !ok {
		// Claimed after a configuration change (the scheduler checks before sending).
		for i := range ns {
			set(i, Permanent(fmt.Errorf("channel not configured")))
		}
		return outcomes
	}
	if bs, ok := s.(BatchSender); ok && len(ns) > 1 {
		for i, err := range bs.SendBatch(ctx, ns) {
			set(i, err)
		}
		return outcomes
	}
	var wg sync.WaitGroup
	for i, n := range ns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			set(i, s.Send(ctx, n))
		}()
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
