package notify

import (
	"context"
	"fmt"
	"time"
)

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
