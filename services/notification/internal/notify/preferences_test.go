package notify

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

func TestQuietHoursUntil(t *testing.T) {
	t.Parallel()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	night := QuietHours{Start: 22 * 60, End: 7 * 60, TimeZone: "Europe/Berlin"}
	lunch := QuietHours{Start: 12 * 60, End: 13*60 + 30, TimeZone: "Europe/Berlin"}
	tests := []struct {
		name   string
		q      QuietHours
		now    time.Time
		want   time.Time
		wantIn bool
	}{
		{"before the window", night, time.Date(2026, 3, 2, 21, 59, 0, 0, berlin), time.Time{}, false},
		{"at its start", night, time.Date(2026, 3, 2, 22, 0, 0, 0, berlin), time.Date(2026, 3, 3, 7, 0, 0, 0, berlin), true},
		{"after midnight", night, time.Date(2026, 3, 3, 2, 0, 0, 0, berlin), time.Date(2026, 3, 3, 7, 0, 0, 0, berlin), true},
		{"at its end", night, time.Date(2026, 3, 3, 7, 0, 0, 0, berlin), time.Time{}, false},
		{"across the spring DST change (23 h night)", night, time.Date(2026, 3, 28, 23, 0, 0, 0, berlin), time.Date(2026, 3, 29, 7, 0, 0, 0, berlin), true},
		{"same-day window", lunch, time.Date(2026, 3, 2, 12, 15, 0, 0, berlin), time.Date(2026, 3, 2, 13, 30, 0, 0, berlin), true},
		{"outside a same-day window", lunch, time.Date(2026, 3, 2, 23, 0, 0, 0, berlin), time.Time{}, false},
		{"judged in the user's zone, not UTC", night, time.Date(2026, 3, 2, 21, 30, 0, 0, time.UTC), time.Date(2026, 3, 3, 7, 0, 0, 0, berlin), true},
	}
	for _, tt := range tests {
		got, in := tt.q.Until(tt.now)
		if in != tt.wantIn || !got.Equal(tt.want) {
			t.Errorf("%s: Until(%s) = %s, %v, want %s, %v", tt.name, tt.now, got, in, tt.want, tt.wantIn)
		}
	}
	for _, bad := range []QuietHours{{Start: 60, End: 60}, {Start: 0, End: 24 * 60}, {Start: 1, End: 2, TimeZone: "Mars/Olympus"}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", bad)
		}
	}
	for _, s := range []string{"7:00", "24:00", "12:60", "ab:cd", "12:00:00"} {
		if _, err := ParseClock(s); err == nil {
			t.Errorf("ParseClock(%q) = nil error, want one", s)
		}
	}
}

// TestQuietHoursHoldAndRelease: a reminder arriving at 23:00 Berlin for a user with quiet
// hours 22:00–07:00 is held on every channel (nothing sent, event acknowledged) and sent
// by the scheduler at 07:00, although that is more than NOTIFY_MAX_LATENESS after its due
// time: lateness counts from the end of the quiet hours. An urgent reminder goes at once.
func TestQuietHoursHoldAndRelease(t *testing.T) {
	t.Parallel()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	arrive := time.Date(2026, 3, 2, 23, 0, 0, 0, berlin)
	release := time.Date(2026, 3, 3, 7, 0, 0, 0, berlin)
	f := newFixture(arrive, memPrefs{"u1": {Quiet: &QuietHours{Start: 22 * 60, End: 7 * 60, TimeZone: "Europe/Berlin"}}})
	if err := f.h.Handle(context.Background(), reminder("e1", arrive.Add(15*time.Minute))); err != nil {
		t.Fatalf("Handle() = %v, want nil (held)", err)
	}
	want := map[Channel]Status{InApp: Held, Webhook: Held, Email: Held}
	if diff := cmp.Diff(want, f.l.statuses("e1")); diff != "" {
		t.Errorf("statuses in quiet hours (-want +got):\n%s", diff)
	}
	if row := f.l.row("e1", Email); !row.next.Equal(release) || !strings.Contains(row.Error, "quiet hours 22:00 to 07:00 (Europe/Berlin)") {
		t.Errorf("held e-mail: next attempt %s, reason %q; want %s and the quiet hours", row.next, row.Error, release)
	}
	if n := f.due(t, release.Add(-time.Minute)); n != 0 || f.sent() != [3]int{} {
		t.Fatalf("before the quiet hours end: %d claimed, sends %v; want nothing", n, f.sent())
	}
	f.due(t, release)
	if got := f.sent(); got != [3]int{1, 1, 1} {
		t.Errorf("sends at the end of the quiet hours = %v, want [1 1 1]", got)
	}
	want = map[Channel]Status{InApp: Delivered, Webhook: Delivered, Email: Delivered}
	if diff := cmp.Diff(want, f.l.statuses("e1")); diff != "" {
		t.Errorf("statuses after release (-want +got):\n%s", diff)
	}

	urgent := reminder("e2", arrive.Add(15*time.Minute))
	urgent.Urgent = true
	f.clock.set(arrive)
	if err := f.h.Handle(context.Background(), urgent); err != nil {
		t.Fatal(err)
	}
	if got := f.sent(); got != [3]int{2, 2, 2} {
		t.Errorf("sends after an urgent reminder in quiet hours = %v, want [2 2 2]", got)
	}
}

// TestOptedOutChannelsSkipped: a channel the user turned off is recorded skipped with the
// reason and not sent; with every channel off nothing is sent at all. A channel turned off
// while it waits for a retry is skipped by the scheduler.
func TestOptedOutChannelsSkipped(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	prefs := memPrefs{"u1": {Disabled: []Channel{Email}}, "u2": {Disabled: []Channel{InApp, Webhook, Email}}}
	f := newFixture(t0, prefs)
	f.hook.errs = []error{errors503}
	if err := f.h.Handle(context.Background(), reminder("e1", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	all := reminder("e2", t0.Add(time.Hour))
	all.UserId = "u2"
	if err := f.h.Handle(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	want := map[Channel]Status{InApp: Delivered, Webhook: Retrying, Email: Skipped}
	if diff := cmp.Diff(want, f.l.statuses("e1")); diff != "" {
		t.Errorf("e1 statuses (-want +got):\n%s", diff)
	}
	want = map[Channel]Status{InApp: Skipped, Webhook: Skipped, Email: Skipped}
	if diff := cmp.Diff(want, f.l.statuses("e2")); diff != "" {
		t.Errorf("e2 (every channel off) statuses (-want +got):\n%s", diff)
	}
	if r := f.l.row("e2", InApp).Error; r != "turned off in the user's preferences" {
		t.Errorf("skip reason = %q", r)
	}
	// The user turns the webhook off while it waits for its retry.
	prefs["u1"] = Preferences{Disabled: []Channel{Email, Webhook}}
	f.due(t, t0.Add(time.Hour))
	if got := f.l.row("e1", Webhook); got.Status != Skipped || got.attempts != 1 {
		t.Errorf("webhook turned off while retrying: %s after %d attempts, want skipped after 1", got.Status, got.attempts)
	}
	if got := f.sent(); got != [3]int{1, 1, 0} {
		t.Errorf("sends = %v, want [1 1 0]", got)
	}
}

// TestSchedulerSkipsStaleRetry: a retry due after NOTIFY_MAX_LATENESS past the due time
// is skipped instead of sent.
func TestSchedulerSkipsStaleRetry(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	f := newFixture(t0, nil)
	f.h.Schedule(Backoff{Initial: 7 * time.Hour, Multiplier: 1, Max: 7 * time.Hour, RetryFor: 24 * time.Hour}, func() float64 { return 0.5 })
	f.hook.errs = []error{errors503}
	if err := f.h.Handle(context.Background(), reminder("e1", t0)); err != nil {
		t.Fatal(err)
	}
	f.due(t, t0.Add(7*time.Hour))
	if got := f.l.row("e1", Webhook); got.Status != Skipped || !strings.HasPrefix(got.Error, "stale: not delivered by") {
		t.Errorf("stale retry: %s (%q), want skipped as stale", got.Status, got.Error)
	}
	if got := f.sent(); got != [3]int{1, 1, 1} {
		t.Errorf("sends = %v, want [1 1 1]", got)
	}
}

var errors503 = errorString("503 Service Unavailable")

type errorString string

func (e errorString) Error() string { return string(e) }

// TestDefaultsBeginnerPlansInOneRoundTrip: with a store that records the plans of users
// without preferences while it reads the others' (ledger.Store), a batch of such users is
// recorded in that one call; users with preferences are planned with them in a second
// Begin, and when that one fails only their reminders are answered with the error — the
// others are recorded and sent.
func TestDefaultsBeginnerPlansInOneRoundTrip(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	f := newFixture(t0, nil)
	planner := &memPlanner{memLedger: f.l, memPrefs: memPrefs{"u2": {Disabled: []Channel{Email}}}}
	f.h.ledger = planner
	f.h.UsePreferences(planner)
	ctx := context.Background()

	// e2 is stale (due 7 h ago, past NOTIFY_MAX_LATENESS): skipped on every channel.
	e1, e2 := reminder("e1", t0.Add(time.Hour)), reminder("e2", t0.Add(-7*time.Hour))
	e2.UserId = "u2"
	if errs := f.h.HandleBatch(ctx, []*eventsv1.ReminderEvent{e1, e2, e1}); errs[0] != nil || errs[1] != nil || errs[2] != nil {
		t.Fatalf("HandleBatch() = %v, want no errors", errs)
	}
	want := map[Channel]Status{InApp: Delivered, Webhook: Delivered, Email: Delivered}
	if diff := cmp.Diff(want, f.l.statuses("e1")); diff != "" {
		t.Errorf("e1 (no preferences) statuses (-want +got):\n%s", diff)
	}
	want = map[Channel]Status{InApp: Skipped, Webhook: Skipped, Email: Skipped}
	if diff := cmp.Diff(want, f.l.statuses("e2")); diff != "" {
		t.Errorf("e2 (stale, e-mail turned off) statuses (-want +got):\n%s", diff)
	}
	if got := f.sent(); got != [3]int{1, 1, 1} {
		t.Errorf("sends = %v, want [1 1 1] (e1 once on every channel, e2 nowhere)", got)
	}
	// e2 was planned twice (with the defaults, then with u2's preferences); its decisions
	// are counted once.
	for _, m := range []struct {
		channel Channel
		event   string
	}{{InApp, "skipped"}, {Webhook, "skipped"}, {Email, "skipped"}} {
		var pb dto.Metric
		if err := f.metrics.deliveries.WithLabelValues(string(m.channel), m.event).Write(&pb); err != nil || pb.GetCounter().GetValue() != 1 {
			t.Errorf("taskflow_notification_deliveries_total{channel=%s,event=%s} = %g (%v), want 1", m.channel, m.event, pb.GetCounter().GetValue(), err)
		}
	}

	planner.beginErr = errors.New("connection reset")
	e3, e4 := reminder("e3", t0.Add(time.Hour)), reminder("e4", t0.Add(time.Hour))
	e4.UserId = "u2"
	errs := f.h.HandleBatch(ctx, []*eventsv1.ReminderEvent{e3, e4})
	if errs[0] != nil || errs[1] == nil || !strings.Contains(errs[1].Error(), "connection reset") {
		t.Fatalf("HandleBatch() with the second Begin failing = %v, want [nil, the error]", errs)
	}
	if got := f.l.statuses("e4"); len(got) != 0 {
		t.Errorf("e4 recorded %v, want nothing (answered RETRY)", got)
	}
	want = map[Channel]Status{InApp: Delivered, Webhook: Delivered, Email: Delivered}
	if diff := cmp.Diff(want, f.l.statuses("e3")); diff != "" {
		t.Errorf("e3 statuses (-want +got):\n%s", diff)
	}
	if got := f.sent(); got != [3]int{2, 2, 2} {
		t.Errorf("sends = %v, want [2 2 2] (e3 sent, e4 not)", got)
	}
	if planner.calls != 2 {
		t.Errorf("BeginDefaults calls = %d, want 2 (one per batch)", planner.calls)
	}
}
