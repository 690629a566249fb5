package notify

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// memLedger is an in-memory Ledger with the same rules as the PostgreSQL one.
type memLedger struct {
	mu    sync.Mutex
	rows  map[string]map[Channel]Plan
	att   map[string]map[Channel]int
	first map[string]time.Time // created_at per event
}

func newMemLedger() *memLedger {
	return &memLedger{rows: map[string]map[Channel]Plan{}, att: map[string]map[Channel]int{}, first: map[string]time.Time{}}
}

func (l *memLedger) Begin(_ context.Context, reqs []Request, now time.Time) ([]Claim, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var todo []Claim
	for _, r := range reqs {
		id := r.Key.EventID
		if l.rows[id] == nil {
			l.rows[id], l.att[id], l.first[id] = map[Channel]Plan{}, map[Channel]int{}, now
		}
		for _, p := range r.Plans {
			if cur, ok := l.rows[id][p.Channel]; ok && cur.Status.Final() {
				continue
			}
			l.rows[id][p.Channel] = p
			if p.Status == Sending {
				l.att[id][p.Channel]++
				todo = append(todo, Claim{EventID: id, Channel: p.Channel, Since: l.first[id]})
			}
		}
	}
	return todo, nil
}

func (l *memLedger) Finish(_ context.Context, outcomes []Outcome, _ time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range outcomes {
		l.rows[o.EventID][o.Channel] = o.Plan
	}
	return nil
}

func (l *memLedger) statuses(eventID string) map[Channel]Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[Channel]Status{}
	for c, p := range l.rows[eventID] {
		out[c] = p.Status
	}
	return out
}

// fakeSender answers errs in turn (nil once they run out) and counts sends.
type fakeSender struct {
	mu    sync.Mutex
	errs  []error
	sent  int
	check error
}

func (f *fakeSender) Check(*eventsv1.ReminderEvent) error { return f.check }

func (f *fakeSender) Send(context.Context, *Notification) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent++
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return err
	}
	return nil
}

func TestHandle(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ev := func(due time.Time) *eventsv1.ReminderEvent {
		return &eventsv1.ReminderEvent{EventId: "e1", TaskId: "t1", UserId: "u1", Title: "Pay rent",
			DueAt: timestamppb.New(due), TimeZone: "Europe/Berlin",
			Targets: &eventsv1.DeliveryTargets{Email: "a@example.com", WebhookUrl: "https://example.com/h"}}
	}
	transient := errors.New("503")
	tests := []struct {
		name       string
		due        time.Time
		inApp      *fakeSender
		hook, mail *fakeSender
		deliveries int // how many times the event is handled
		wantErrs   []bool
		want       map[Channel]Status
		wantSent   [3]int
	}{
		{
			name: "all delivered once across redeliveries", due: now.Add(time.Hour),
			inApp: &fakeSender{}, hook: &fakeSender{}, mail: &fakeSender{}, deliveries: 3,
			wantErrs: []bool{false, false, false},
			want:     map[Channel]Status{InApp: Delivered, Webhook: Delivered, Email: Delivered},
			wantSent: [3]int{1, 1, 1},
		},
		{
			name: "transient webhook retried alone", due: now.Add(time.Hour),
			inApp: &fakeSender{}, hook: &fakeSender{errs: []error{transient, transient}}, mail: &fakeSender{}, deliveries: 3,
			wantErrs: []bool{true, true, false},
			want:     map[Channel]Status{InApp: Delivered, Webhook: Delivered, Email: Delivered},
			wantSent: [3]int{1, 3, 1},
		},
		{
			name: "permanent failure is final", due: now.Add(time.Hour),
			inApp: &fakeSender{}, hook: &fakeSender{errs: []error{Permanent(errors.New("410"))}}, mail: &fakeSender{check: errors.New("bad address")}, deliveries: 2,
			wantErrs: []bool{false, false},
			want:     map[Channel]Status{InApp: Delivered, Webhook: Failed, Email: Failed},
			wantSent: [3]int{1, 1, 0},
		},
		{
			name: "stale reminder skipped", due: now.Add(-6*time.Hour - time.Second),
			inApp: &fakeSender{}, hook: &fakeSender{}, mail: &fakeSender{}, deliveries: 1,
			wantErrs: []bool{false},
			want:     map[Channel]Status{InApp: Skipped, Webhook: Skipped, Email: Skipped},
		},
		{
			name: "exactly at the lateness limit still sent", due: now.Add(-6 * time.Hour),
			inApp: &fakeSender{}, hook: &fakeSender{}, mail: &fakeSender{}, deliveries: 1,
			wantErrs: []bool{false},
			want:     map[Channel]Status{InApp: Delivered, Webhook: Delivered, Email: Delivered},
			wantSent: [3]int{1, 1, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newMemLedger()
			h := NewHandler(l, map[Channel]Sender{InApp: tt.inApp, Webhook: tt.hook, Email: tt.mail}, 6*time.Hour,
				func() time.Time { return now }, slog.New(slog.NewTextHandler(io.Discard, nil)))
			for i := range tt.deliveries {
				err := h.Handle(context.Background(), ev(tt.due))
				if (err != nil) != tt.wantErrs[i] {
					t.Errorf("Handle #%d = %v, want error %v", i+1, err, tt.wantErrs[i])
				}
			}
			if diff := cmp.Diff(tt.want, l.statuses("e1")); diff != "" {
				t.Errorf("ledger statuses (-want +got):\n%s", diff)
			}
			if got := [3]int{tt.inApp.sent, tt.hook.sent, tt.mail.sent}; got != tt.wantSent {
				t.Errorf("sends (in-app, webhook, e-mail) = %v, want %v", got, tt.wantSent)
			}
		})
	}
}

func TestNewRendersDueTimeInUserZone(t *testing.T) {
	t.Parallel()
	ev := &eventsv1.ReminderEvent{EventId: "e1", Title: "Pay rent", TimeZone: "America/New_York",
		DueAt: timestamppb.New(time.Date(2026, 7, 1, 16, 30, 0, 0, time.UTC))}
	n := New(ev, time.Time{})
	if want := "Wednesday, 1 July 2026 at 12:30 EDT (America/New_York)"; n.DueText != want {
		t.Errorf("New(...).DueText = %q, want %q", n.DueText, want)
	}
	if n.ID != New(ev, time.Now()).ID || n.ID == New(&eventsv1.ReminderEvent{EventId: "e2"}, time.Time{}).ID {
		t.Errorf("notification ids are not derived from event_id alone")
	}
}

// heldLedger reports the e-mail channel as being sent by another attempt.
type heldLedger struct{ memLedger }

func (l *heldLedger) Begin(ctx context.Context, reqs []Request, now time.Time) ([]Claim, error) {
	claims, err := l.memLedger.Begin(ctx, reqs, now)
	for i := range claims {
		if claims[i].Channel == Email {
			claims[i].Held = true
		}
	}
	return claims, err
}

// TestHandleHeldChannelIsNotSentTwice: a channel another attempt is delivering right now
// is not sent again, and the reminder is answered with a transient error (RETRY) so it is
// looked at again once that attempt has recorded its outcome.
func TestHandleHeldChannelIsNotSentTwice(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	l := &heldLedger{memLedger: *newMemLedger()}
	inApp, hook, mail := &fakeSender{}, &fakeSender{}, &fakeSender{}
	h := NewHandler(l, map[Channel]Sender{InApp: inApp, Webhook: hook, Email: mail}, 6*time.Hour,
		func() time.Time { return now }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	err := h.Handle(context.Background(), &eventsv1.ReminderEvent{EventId: "e1", TaskId: "t1", UserId: "u1", Title: "Pay rent",
		DueAt: timestamppb.New(now.Add(time.Hour)), TimeZone: "Europe/Berlin",
		Targets: &eventsv1.DeliveryTargets{Email: "a@example.com", WebhookUrl: "https://example.com/h"}})
	if err == nil || !strings.Contains(err.Error(), "being delivered by another attempt") {
		t.Fatalf("Handle() = %v, want a transient error naming the held channel", err)
	}
	if got := [3]int{inApp.sent, hook.sent, mail.sent}; got != [3]int{1, 1, 0} {
		t.Errorf("sends (in-app, webhook, e-mail) = %v, want [1 1 0]: the held e-mail must not be sent", got)
	}
}

// flakyLedger fails Finish while down; its Begin re-claims every channel that is not
// final, as the PostgreSQL ledger does once a `sending` row's lease has expired (the worst
// case: the database stayed down longer than the lease).
type flakyLedger struct {
	memLedger
	down atomic.Bool
}

func (l *flakyLedger) Finish(ctx context.Context, outcomes []Outcome, now time.Time) error {
	if l.down.Load() {
		return errors.New("connection refused")
	}
	return l.memLedger.Finish(ctx, outcomes, now)
}

// TestHandleDatabaseOutageAfterSendNeverSendsTwice: the send succeeded, recording it
// failed. Redeliveries while the outcome waits in memory send nothing and answer RETRY;
// once the ledger is back the outcome is recorded (in the background, without a new
// event) and the next redelivery succeeds with every channel still sent once.
func TestHandleDatabaseOutageAfterSendNeverSendsTwice(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	l := &flakyLedger{memLedger: *newMemLedger()}
	l.down.Store(true)
	inApp, hook, mail := &fakeSender{}, &fakeSender{}, &fakeSender{}
	h := NewHandler(l, map[Channel]Sender{InApp: inApp, Webhook: hook, Email: mail}, 6*time.Hour,
		func() time.Time { return now }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ev := &eventsv1.ReminderEvent{EventId: "e1", TaskId: "t1", UserId: "u1", Title: "Pay rent",
		DueAt:   timestamppb.New(now.Add(time.Hour)),
		Targets: &eventsv1.DeliveryTargets{Email: "a@example.com", WebhookUrl: "https://example.com/h"}}
	ctx := context.Background()

	if err := h.Handle(ctx, ev); err == nil {
		t.Fatal("Handle() with the ledger down after the send = nil, want RETRY until the outcome is recorded")
	}
	for i := range 3 {
		if err := h.Handle(ctx, ev); err == nil {
			t.Fatalf("redelivery #%d while the ledger is down = nil, want RETRY", i+1)
		}
	}
	if got := [3]int{inApp.sent, hook.sent, mail.sent}; got != [3]int{1, 1, 1} {
		t.Fatalf("sends (in-app, webhook, e-mail) during the outage = %v, want [1 1 1]", got)
	}
	if h.Pending() != 3 {
		t.Errorf("Pending() = %d, want the 3 sent channels", h.Pending())
	}

	l.down.Store(false)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.RunPending(rctx, 10*time.Millisecond) }()
	for deadline := time.Now().Add(5 * time.Second); h.Pending() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if h.Pending() != 0 {
		t.Fatalf("Pending() = %d after the ledger came back, want 0", h.Pending())
	}
	want := map[Channel]Status{InApp: Delivered, Webhook: Delivered, Email: Delivered}
	if diff := cmp.Diff(want, l.statuses("e1")); diff != "" {
		t.Errorf("ledger statuses after recovery (-want +got):\n%s", diff)
	}
	if err := h.Handle(ctx, ev); err != nil {
		t.Errorf("redelivery after recovery = %v, want nil", err)
	}
	if got := [3]int{inApp.sent, hook.sent, mail.sent}; got != [3]int{1, 1, 1} {
		t.Errorf("sends (in-app, webhook, e-mail) after recovery = %v, want [1 1 1]", got)
	}
}

// TestHandleGivesUpAfterRetryFor: a webhook that keeps failing transiently is retried
// (RETRY) until NOTIFY_RETRY_FOR has passed since the reminder first arrived; then it is
// recorded failed with the reason and the reminder is acknowledged, so its partition moves on.
func TestHandleGivesUpAfterRetryFor(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := now
	l := newMemLedger()
	transient := errors.New("503")
	inApp, hook, mail := &fakeSender{}, &fakeSender{errs: []error{transient, transient, transient}}, &fakeSender{}
	h := NewHandler(l, map[Channel]Sender{InApp: inApp, Webhook: hook, Email: mail}, 6*time.Hour,
		func() time.Time { return clock }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.GiveUpAfter(10 * time.Minute)
	ev := &eventsv1.ReminderEvent{EventId: "e1", TaskId: "t1", UserId: "u1", Title: "Pay rent",
		DueAt:   timestamppb.New(now.Add(time.Hour)),
		Targets: &eventsv1.DeliveryTargets{Email: "a@example.com", WebhookUrl: "https://example.com/h"}}
	if err := h.Handle(context.Background(), ev); err == nil {
		t.Fatal("first attempt with a failing webhook = nil, want RETRY")
	}
	clock = now.Add(10 * time.Minute)
	if err := h.Handle(context.Background(), ev); err == nil {
		t.Fatal("attempt at exactly NOTIFY_RETRY_FOR = nil, want RETRY")
	}
	clock = now.Add(10*time.Minute + time.Second)
	if err := h.Handle(context.Background(), ev); err != nil {
		t.Fatalf("attempt after NOTIFY_RETRY_FOR = %v, want nil (given up, acknowledged)", err)
	}
	want := map[Channel]Status{InApp: Delivered, Webhook: Failed, Email: Delivered}
	if diff := cmp.Diff(want, l.statuses("e1")); diff != "" {
		t.Errorf("ledger statuses (-want +got):\n%s", diff)
	}
	l.mu.Lock()
	reason := l.rows["e1"][Webhook].Error
	l.mu.Unlock()
	if !strings.Contains(reason, "gave up after 10m1s") || !strings.Contains(reason, "503") {
		t.Errorf("webhook failure reason = %q, want the give-up and the last error", reason)
	}
	if got := [3]int{inApp.sent, hook.sent, mail.sent}; got != [3]int{1, 3, 1} {
		t.Errorf("sends (in-app, webhook, e-mail) = %v, want [1 3 1]", got)
	}
}
