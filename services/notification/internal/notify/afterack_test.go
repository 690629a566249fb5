package notify

import (
	"context"
	"errors"
	"testing"
	"time"
)

// With AttemptAfterAck the batch is answered once the ledger holds its plan (channels
// leased, sending), the sends run after and are recorded, a batch that finds every slot
// busy waits (and gives up with its context), and DrainAttempts waits for running attempts.
func TestAttemptAfterAck(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	f := newFixture(t0, nil)
	slow := &blockingSender{release: make(chan struct{})}
	f.h.senders[Email] = slow
	f.h.AttemptAfterAck(1, time.Minute)

	if err := f.h.Handle(context.Background(), reminder("e1", t0.Add(time.Hour))); err != nil {
		t.Fatalf("Handle() = %v, want nil once the plan is recorded", err)
	}
	if got := f.l.row("e1", Email).Status; got != Sending {
		t.Errorf("e-mail right after the answer = %s, want sending (leased to the running attempt)", got)
	}
	// The one slot is busy with e1's blocked e-mail: e2 waits for it and, when its
	// context ends first, is answered with an error (redelivered) and nothing recorded.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := f.h.Handle(ctx, reminder("e2", t0.Add(time.Hour)))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Handle(e2) with every slot busy = %v, want the context's deadline", err)
	}
	if got := f.l.statuses("e2"); len(got) != 0 {
		t.Errorf("e2 recorded %v while it waited for a slot, want nothing", got)
	}

	drained := make(chan struct{})
	go func() { f.h.DrainAttempts(); close(drained) }()
	select {
	case <-drained:
		t.Fatal("DrainAttempts returned while an attempt was still sending")
	case <-time.After(50 * time.Millisecond):
	}
	close(slow.release)
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
		t.Fatal("DrainAttempts did not return after the attempt ended")
	}
	for _, c := range []Channel{InApp, Webhook, Email} {
		if got := f.l.row("e1", c).Status; got != Delivered {
			t.Errorf("e1 %s after the attempt = %s, want delivered", c, got)
		}
	}
	// Once draining, a batch attempts before answering: delivered when Handle returns.
	if err := f.h.Handle(context.Background(), reminder("e3", t0.Add(time.Hour))); err != nil {
		t.Fatalf("Handle(e3) = %v", err)
	}
	if got := f.l.row("e3", Email).Status; got != Delivered {
		t.Errorf("e3 e-mail when Handle returned during the drain = %s, want delivered", got)
	}
}
