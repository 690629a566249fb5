package notify

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// afterAck runs the first attempt of a batch after the batch has been acknowledged
// (AttemptAfterAck): the ledger holds the plan with its channels leased to this process,
// so the reminders are safe before anything is sent.
type afterAck struct {
	slots   chan struct{} // one per batch whose first attempt is running
	timeout time.Duration // bound on one attempt, shorter than the ledger's lease

	mu      sync.Mutex
	closed  bool // shutting down: later batches attempt before answering
	running sync.WaitGroup
}

// AttemptAfterAck makes HandleBatch answer as soon as the ledger holds a batch's plan and
// run the batch's first attempt afterwards, with at most batches such attempts running;
// a batch that finds them all busy waits for one (daprd's delivery is paced by the sends
// this way, as before). Each attempt is bounded by timeout, which must be shorter than the
// ledger's lease of a sending channel. batches 0 keeps the first attempt before the answer.
// DrainAttempts ends it.
func (h *Handler) AttemptAfterAck(batches int, timeout time.Duration) {
	if batches > 0 {
		h.ahead = &afterAck{slots: make(chan struct{}, batches), timeout: timeout}
	}
}

// reserve takes a slot for a batch's attempt after the answer. async is false (attempt
// before answering) without AttemptAfterAck or once DrainAttempts has begun; err is set
// when ctx ended while every slot was busy.
func (a *afterAck) reserve(ctx context.Context) (release func(), async bool, err error) {
	if a == nil || a.isClosed() {
		return func() {}, false, nil
	}
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, false, fmt.Errorf("wait for a running first attempt to end: %w", ctx.Err())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		<-a.slots
		return func() {}, false, nil
	}
	a.running.Add(1)
	return func() { <-a.slots; a.running.Done() }, true, nil
}

func (a *afterAck) isClosed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

// DrainAttempts makes later batches attempt before answering and waits until every first
// attempt running after an answer is over (each is bounded by its timeout). Call it when
// shutting down, before the outcomes kept in memory are flushed and the senders closed.
func (h *Handler) DrainAttempts() {
	a := h.ahead
	if a == nil {
		return
	}
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.running.Wait()
}

// attemptAfterAnswer runs the first attempt of a batch whose plan the ledger holds, in the
// background when a slot was reserved, and returns at once then; otherwise it attempts now.
func (h *Handler) attemptAfterAnswer(ctx context.Context, release func(), async bool, claims []Claim, notes map[string]*Notification, logAttrs ...any) {
	if !async {
		release()
		h.attempt(ctx, claims, notes, nil, logAttrs...)
		return
	}
	// The callback's context ends with the answer; the attempt keeps its values (trace)
	// and gets its own bound, which the lease outlasts.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.ahead.timeout)
	go func() {
		defer release()
		defer cancel()
		h.attempt(actx, claims, notes, nil, logAttrs...)
	}()
}
