package notify

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

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

// clock is an injected, settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// fixture is a handler over a memLedger with three fake channels and an injected clock;
// jitter is off (r = 0.5) so retry times are exact.
type fixture struct {
	h                 *Handler
	l                 *memLedger
	metrics           *Metrics
	clock             *clock
	inApp, hook, mail *fakeSender
}

func newFixture(t0 time.Time, prefs memPrefs) *fixture {
	f := &fixture{l: newMemLedger(), clock: &clock{t: t0}, inApp: &fakeSender{}, hook: &fakeSender{}, mail: &fakeSender{}}
	f.h = NewHandler(f.l, map[Channel]Sender{InApp: f.inApp, Webhook: f.hook, Email: f.mail}, 6*time.Hour,
		f.clock.now, slog.New(slog.DiscardHandler))
	f.h.Schedule(DefaultBackoff, func() float64 { return 0.5 })
	f.metrics = NewMetrics(prometheus.NewRegistry())
	f.h.UseMetrics(f.metrics)
	if prefs != nil {
		f.h.UsePreferences(prefs)
	}
	return f
}

func (f *fixture) sent() [3]int {
	f.inApp.mu.Lock()
	defer f.inApp.mu.Unlock()
	f.hook.mu.Lock()
	defer f.hook.mu.Unlock()
	f.mail.mu.Lock()
	defer f.mail.mu.Unlock()
	return [3]int{f.inApp.sent, f.hook.sent, f.mail.sent}
}

// due runs one scheduler pass at t.
func (f *fixture) due(t *testing.T, at time.Time) int {
	t.Helper()
	f.clock.set(at)
	n, err := f.h.AttemptDue(context.Background(), 100)
	if err != nil {
		t.Fatalf("AttemptDue at %s = %v", at.Format(time.TimeOnly), err)
	}
	return n
}

func reminder(id string, due time.Time) *eventsv1.ReminderEvent {
	return &eventsv1.ReminderEvent{EventId: id, TaskId: "t1", UserId: "u1", Title: "Pay rent",
		DueAt: timestamppb.New(due), TimeZone: "Europe/Berlin",
		Targets: &eventsv1.DeliveryTargets{Email: "a@example.com", WebhookUrl: "https://example.com/h"}}
}

func TestHandle(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	transient := errors.New("503")
	tests := []struct {
		name       string
		due        time.Time
		hookErrs   []error
		mailCheck  error
		deliveries int // how many times the event is handled
		want       map[Channel]Status
		wantSent   [3]int
	}{
		{
			name: "all delivered once across redeliveries", due: now.Add(time.Hour), deliveries: 3,
			want:     map[Channel]Status{InApp: Delivered, Webhook: Delivered, Email: Delivered},
			wantSent: [3]int{1, 1, 1},
		},
		{
			name: "transient webhook scheduled, not resent by a redelivery", due: now.Add(time.Hour),
			hookErrs: []error{transient}, deliveries: 3,
			want:     map[Channel]Status{InApp: Delivered, Webhook: Retrying, Email: Delivered},
			wantSent: [3]int{1, 1, 1},
		},
		{
			name: "permanent failure is final", due: now.Add(time.Hour),
			hookErrs: []error{Permanent(errors.New("410"))}, mailCheck: errors.New("bad address"), deliveries: 2,
			want:     map[Channel]Status{InApp: Delivered, Webhook: Failed, Email: Failed},
			wantSent: [3]int{1, 1, 0},
		},
		{
			name: "stale reminder skipped", due: now.Add(-6*time.Hour - time.Second), deliveries: 1,
			want: map[Channel]Status{InApp: Skipped, Webhook: Skipped, Email: Skipped},
		},
		{
			name: "exactly at the lateness limit still sent", due: now.Add(-6 * time.Hour), deliveries: 1,
			want:     map[Channel]Status{InApp: Delivered, Webhook: Delivered, Email: Delivered},
			wantSent: [3]int{1, 1, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(now, nil)
			f.hook.errs, f.mail.check = tt.hookErrs, tt.mailCheck
			for i := range tt.deliveries {
				// Every reminder is acknowledged once it is in the ledger: retries are the
				// service's own, not daprd's.
				if err := f.h.Handle(context.Background(), reminder("e1", tt.due)); err != nil {
					t.Errorf("Handle #%d = %v, want nil", i+1, err)
				}
			}
			if diff := cmp.Diff(tt.want, f.l.statuses("e1")); diff != "" {
				t.Errorf("ledger statuses (-want +got):\n%s", diff)
			}
			if got := f.sent(); got != tt.wantSent {
				t.Errorf("sends (in-app, webhook, e-mail) = %v, want %v", got, tt.wantSent)
			}
		})
	}
}

// TestSchedulerRetriesOnBackoffThenGivesUp: a webhook failing transiently is attempted
// by the scheduler at 30 s, 2 m, 8 m, 32 m, then hourly after the failure before, and a
// last time at the end of NOTIFY_RETRY_FOR; still failing then, it is recorded failed with
// the reason. The other channels went out once.
func TestSchedulerRetriesOnBackoffThenGivesUp(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	f := newFixture(t0, nil)
	f.h.Schedule(Backoff{Initial: 30 * time.Second, Multiplier: 4, Max: time.Hour, Jitter: 0.2, RetryFor: 3 * time.Hour}, func() float64 { return 0.5 })
	f.hook.errs = make([]error, 100)
	for i := range f.hook.errs {
		f.hook.errs[i] = errors.New("503 Service Unavailable")
	}
	if err := f.h.Handle(context.Background(), reminder("e1", t0.Add(time.Hour))); err != nil {
		t.Fatalf("Handle() = %v, want nil (retry scheduled)", err)
	}
	var attemptsAt []time.Duration
	for range 20 {
		row := f.l.row("e1", Webhook)
		if row.Status != Retrying {
			break
		}
		if n := f.due(t, row.next.Add(-time.Second)); n != 0 {
			t.Fatalf("scheduler attempted %d channels a second before the next attempt time", n)
		}
		at := row.next
		f.due(t, at)
		attemptsAt = append(attemptsAt, at.Sub(t0))
	}
	want := []time.Duration{30 * time.Second, 150 * time.Second, 630 * time.Second, 2550 * time.Second,
		2550*time.Second + time.Hour, 2550*time.Second + 2*time.Hour, 3 * time.Hour}
	if diff := cmp.Diff(want, attemptsAt); diff != "" {
		t.Errorf("retry times after first arrival (-want +got):\n%s", diff)
	}
	row := f.l.row("e1", Webhook)
	if row.Status != Failed || row.attempts != 8 || !strings.Contains(row.Error, "gave up after 8 attempts in 3h0m0s") || !strings.Contains(row.Error, "503") {
		t.Errorf("webhook row = %s after %d attempts (%q), want failed after 8 with the give-up and the last error", row.Status, row.attempts, row.Error)
	}
	if got := f.sent(); got != [3]int{1, 8, 1} {
		t.Errorf("sends (in-app, webhook, e-mail) = %v, want [1 8 1]", got)
	}
	for _, m := range []struct {
		channel Channel
		event   string
		want    float64
	}{
		{Webhook, "attempted", 8}, {Webhook, "scheduled", 7}, {Webhook, "gave_up", 1}, {Webhook, "delivered", 0},
		{InApp, "attempted", 1}, {InApp, "delivered", 1}, {Email, "delivered", 1},
	} {
		var pb dto.Metric
		if err := f.metrics.deliveries.WithLabelValues(string(m.channel), m.event).Write(&pb); err != nil {
			t.Fatal(err)
		}
		if got := pb.GetCounter().GetValue(); got != m.want {
			t.Errorf("taskflow_notification_deliveries_total{channel=%q,event=%q} = %g, want %g", m.channel, m.event, got, m.want)
		}
	}
}

func TestBackoffJitterStaysInBounds(t *testing.T) {
	t.Parallel()
	b := DefaultBackoff
	for _, tt := range []struct {
		n      int
		r      float64
		want   time.Duration
		reason string
	}{
		{1, 0.5, 30 * time.Second, "first wait, no jitter"},
		{1, 0, 24 * time.Second, "-20 %"},
		{1, 0.999999, 36 * time.Second, "+20 %"},
		{3, 0.5, 8 * time.Minute, "30s × 4²"},
		{50, 0.5, time.Hour, "capped, no overflow"},
	} {
		if got := b.Wait(tt.n, tt.r).Round(time.Second); got != tt.want {
			t.Errorf("Wait(%d, %g) = %s, want %s (%s)", tt.n, tt.r, got, tt.want, tt.reason)
		}
	}
}

// TestConcurrentAttemptIsNotSentTwice: a second delivery of a reminder while the first
// attempt holds the lease sends nothing and is acknowledged; when the first attempt never
// records its outcome (it crashed), the scheduler sends after the lease, once.
func TestConcurrentAttemptIsNotSentTwice(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	f := newFixture(t0, nil)
	ev := reminder("e1", t0.Add(time.Hour))
	// The crashed attempt: rows marked sending, nothing recorded after.
	if _, err := f.l.Begin(context.Background(), []Request{f.h.request(ev, New(ev, t0), Preferences{}, t0)}, t0); err != nil {
		t.Fatal(err)
	}
	f.clock.set(t0.Add(time.Second))
	if err := f.h.Handle(context.Background(), ev); err != nil {
		t.Fatalf("Handle() during another attempt's lease = %v, want nil", err)
	}
	if got := f.sent(); got != [3]int{} {
		t.Fatalf("sends during another attempt's lease = %v, want none", got)
	}
	if n := f.due(t, t0.Add(f.l.lease-time.Second)); n != 0 {
		t.Fatalf("scheduler claimed %d channels before the lease ran out", n)
	}
	if n := f.due(t, t0.Add(f.l.lease)); n != 3 {
		t.Fatalf("scheduler claimed %d channels after the lease, want 3", n)
	}
	f.due(t, t0.Add(2*f.l.lease))
	if got := f.sent(); got != [3]int{1, 1, 1} {
		t.Errorf("sends = %v, want [1 1 1]", got)
	}
	want := map[Channel]Status{InApp: Delivered, Webhook: Delivered, Email: Delivered}
	if diff := cmp.Diff(want, f.l.statuses("e1")); diff != "" {
		t.Errorf("ledger statuses (-want +got):\n%s", diff)
	}
}

// flakyLedger fails Finish while down.
type flakyLedger struct {
	*memLedger
	down atomic.Bool
}

func (l *flakyLedger) Finish(ctx context.Context, outcomes []Outcome, now time.Time) error {
	if l.down.Load() {
		return errors.New("connection refused")
	}
	return l.memLedger.Finish(ctx, outcomes, now)
}

// TestDatabaseOutageAfterSendNeverSendsTwice: the send succeeded, recording it failed.
// The reminder is acknowledged (it is in the ledger); redeliveries and scheduler passes
// while the outcome waits in memory send nothing, even past the lease; once the ledger is
// back the outcome is recorded in the background and every channel went out once.
func TestDatabaseOutageAfterSendNeverSendsTwice(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	f := newFixture(t0, nil)
	l := &flakyLedger{memLedger: f.l}
	f.h.ledger = l
	l.down.Store(true)
	ev := reminder("e1", t0.Add(time.Hour))
	ctx := context.Background()
	if err := f.h.Handle(ctx, ev); err != nil {
		t.Fatalf("Handle() with the ledger down after the send = %v, want nil (the plan is in the ledger)", err)
	}
	f.clock.set(t0.Add(2 * f.l.lease))
	for i := range 3 {
		if err := f.h.Handle(ctx, ev); err == nil {
			t.Fatalf("redelivery #%d while outcomes wait for the ledger = nil, want RETRY", i+1)
		}
		if _, err := f.h.AttemptDue(ctx, 100); err == nil {
			t.Fatalf("scheduler pass #%d while outcomes wait for the ledger = nil, want an error", i+1)
		}
	}
	if got := f.sent(); got != [3]int{1, 1, 1} {
		t.Fatalf("sends during the outage = %v, want [1 1 1]", got)
	}
	if f.h.Pending() != 3 {
		t.Errorf("Pending() = %d, want the 3 sent channels", f.h.Pending())
	}
	l.down.Store(false)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.h.RunPending(rctx, 10*time.Millisecond) }()
	for deadline := time.Now().Add(5 * time.Second); f.h.Pending() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunPending = %v after cancel, want nil", err)
	}
	if f.h.Pending() != 0 {
		t.Fatalf("Pending() = %d after the ledger came back, want 0", f.h.Pending())
	}
	f.due(t, t0.Add(10*f.l.lease))
	if err := f.h.Handle(ctx, ev); err != nil {
		t.Errorf("redelivery after recovery = %v, want nil", err)
	}
	want := map[Channel]Status{InApp: Delivered, Webhook: Delivered, Email: Delivered}
	if diff := cmp.Diff(want, f.l.statuses("e1")); diff != "" {
		t.Errorf("ledger statuses after recovery (-want +got):\n%s", diff)
	}
	if got := f.sent(); got != [3]int{1, 1, 1} {
		t.Errorf("sends after recovery = %v, want [1 1 1]", got)
	}
}

// blockingSender blocks every Send until release is closed.
type blockingSender struct {
	fakeSender
	release chan struct{}
}

func (b *blockingSender) Send(ctx context.Context, n *Notification) error {
	<-b.release
	return b.fakeSender.Send(ctx, n)
}

// TestFastChannelRecordedWhileSlowOneSends: in-app is recorded delivered as soon as it is
// published, not when a slow SMTP relay finally answers: a crash meanwhile must not make
// the in-app notification go out again after the lease.
func TestFastChannelRecordedWhileSlowOneSends(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	f := newFixture(t0, nil)
	slow := &blockingSender{release: make(chan struct{})}
	f.h.senders[Email] = slow
	done := make(chan error, 1)
	go func() { done <- f.h.Handle(context.Background(), reminder("e1", t0.Add(time.Hour))) }()
	deadline := time.Now().Add(5 * time.Second)
	for f.l.row("e1", InApp).Status != Delivered || f.l.row("e1", Webhook).Status != Delivered {
		if time.Now().After(deadline) {
			close(slow.release)
			t.Fatalf("in-app %s, webhook %s while the e-mail is still being sent; want both delivered",
				f.l.row("e1", InApp).Status, f.l.row("e1", Webhook).Status)
		}
		time.Sleep(time.Millisecond)
	}
	if got := f.l.row("e1", Email).Status; got != Sending {
		t.Errorf("e-mail while its send is blocked = %s, want sending", got)
	}
	close(slow.release)
	if err := <-done; err != nil {
		t.Fatalf("Handle() = %v", err)
	}
	if got := f.l.row("e1", Email).Status; got != Delivered {
		t.Errorf("e-mail after its send = %s, want delivered", got)
	}
}
