package ledger

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

// TestStore runs the ledger tests against one PostgreSQL, a database each.
func TestStore(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	pg := testenv.StartPostgres(t)
	for name, test := range map[string]func(*testing.T, *testenv.Postgres){
		"LeasesAndSchedule":         testLeasesAndSchedule,
		"DueNeverHandsOutARowTwice": testDueNeverHandsOutARowTwice,
		"PreferencesRoundTrip":      testPreferencesRoundTrip,
		"BeginDefaults":             testBeginDefaults,
	} {
		t.Run(name, func(t *testing.T) { test(t, pg) })
	}
}

func startStore(t *testing.T, pg *testenv.Postgres, lease time.Duration) (*Store, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	dsn := pg.CreateDatabase(t, strings.ToLower(strings.NewReplacer("/", "_").Replace(t.Name())))
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return New(pool, lease), pool
}

func request(id string, channels ...notify.Channel) notify.Request {
	r := notify.Request{
		Key:      notify.Key{EventID: id, UserID: "u1", TaskID: "t1", NotificationID: "n-" + id},
		Reminder: &eventsv1.ReminderEvent{EventId: id, UserId: "u1", TaskId: "t1", Title: "Pay rent"},
	}
	for _, c := range channels {
		r.Plans = append(r.Plans, notify.Plan{Channel: c, Status: notify.Sending})
	}
	return r
}

// testLeasesAndSchedule: channels are claimed once; a concurrent attempt gets nothing; a
// crashed attempt's channels come back to the scheduler after the lease (counted as a
// second attempt) with the stored reminder; a transient failure comes back at its
// next_attempt_at, not before, and a redelivery does not take it early; final rows never
// come back.
func testLeasesAndSchedule(t *testing.T, pg *testenv.Postgres) {
	const lease = time.Minute
	store, _ := startStore(t, pg, lease)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	req := []notify.Request{request("evt-1", notify.InApp, notify.Email)}
	claim := func(c notify.Channel, attempts int) notify.Claim {
		// Since stays the first sight of the reminder (t0) whoever claims the channel later:
		// NOTIFY_RETRY_FOR counts from it.
		return notify.Claim{EventID: "evt-1", Channel: c, Since: t0, Attempts: attempts}
	}
	begin := func(at time.Time, want []notify.Claim, what string) {
		t.Helper()
		got, err := store.Begin(ctx, req, at)
		if err != nil {
			t.Fatalf("%s: Begin() = %v", what, err)
		}
		if diff := cmp.Diff(want, sortClaims(got)); diff != "" {
			t.Errorf("%s: Begin claims (-want +got):\n%s", what, diff)
		}
	}
	due := func(at time.Time, want []notify.Claim, what string) {
		t.Helper()
		got, err := store.Due(ctx, at, 100)
		if err != nil {
			t.Fatalf("%s: Due() = %v", what, err)
		}
		var claims []notify.Claim
		for _, d := range got {
			claims = append(claims, d.Claim)
			if d.Reminder.GetEventId() != "evt-1" || d.Reminder.GetTitle() != "Pay rent" {
				t.Errorf("%s: Due() reminder = %v, want the stored evt-1", what, d.Reminder)
			}
		}
		if diff := cmp.Diff(want, sortClaims(claims)); diff != "" {
			t.Errorf("%s: Due claims (-want +got):\n%s", what, diff)
		}
	}
	begin(t0, []notify.Claim{claim(notify.Email, 0), claim(notify.InApp, 0)}, "first attempt")
	begin(t0.Add(time.Second), nil, "a concurrent delivery")
	due(t0.Add(lease-time.Second), nil, "scheduler inside the lease")
	due(t0.Add(lease), []notify.Claim{claim(notify.Email, 1), claim(notify.InApp, 1)}, "scheduler after the lease")

	t1 := t0.Add(lease + time.Second)
	next := t1.Add(30 * time.Second)
	// delivered_at is when the send ended, not when its batch was recorded.
	sentAt := t1.Add(-700 * time.Millisecond)
	if err := store.Finish(ctx, []notify.Outcome{
		{EventID: "evt-1", Plan: notify.Plan{Channel: notify.InApp, Status: notify.Delivered}, Attempted: true, At: sentAt},
		{EventID: "evt-1", Plan: notify.Plan{Channel: notify.Email, Status: notify.Retrying, Error: "421 try later", NextAttempt: next}, Attempted: true},
	}, t1); err != nil {
		t.Fatal(err)
	}
	begin(next.Add(-time.Second), nil, "a redelivery before the retry is due")
	due(next.Add(-time.Second), nil, "scheduler before the retry is due")
	due(next, []notify.Claim{claim(notify.Email, 2)}, "scheduler when the retry is due")
	// The scheduler holds it (quiet hours) instead of sending: not an attempt.
	if err := store.Finish(ctx, []notify.Outcome{
		{EventID: "evt-1", Plan: notify.Plan{Channel: notify.Email, Status: notify.Held, Error: "held: quiet hours", NextAttempt: next.Add(time.Hour)}},
	}, next); err != nil {
		t.Fatal(err)
	}
	entries, err := store.List(ctx, Query{EventID: "evt-1", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch {
		case e.Channel == "in_app" && (e.Status != "delivered" || e.Attempts != 2 || e.NextAttemptAt != nil || e.DeliveredAt == nil || !e.DeliveredAt.Equal(sentAt)):
			t.Errorf("in_app = %s, %d attempts, next %v, delivered at %v; want delivered after 2 at %s, no next attempt", e.Status, e.Attempts, e.NextAttemptAt, e.DeliveredAt, sentAt)
		case e.Channel == "email" && (e.Status != "held" || e.Attempts != 2 || e.NextAttemptAt == nil || !e.NextAttemptAt.Equal(next.Add(time.Hour)) || e.LastError != "held: quiet hours"):
			t.Errorf("email = %s, %d attempts, next %v, %q; want held after 2 until %s", e.Status, e.Attempts, e.NextAttemptAt, e.LastError, next.Add(time.Hour))
		}
	}
	due(next.Add(time.Hour), []notify.Claim{claim(notify.Email, 2)}, "scheduler when the hold ends")
}

// testDueNeverHandsOutARowTwice: schedulers of several replicas run at once over the same
// due rows; every row is claimed by exactly one of them.
func testDueNeverHandsOutARowTwice(t *testing.T, pg *testenv.Postgres) {
	store, _ := startStore(t, pg, time.Minute)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var reqs []notify.Request
	for i := range 300 {
		r := request(fmt.Sprintf("evt-%03d", i), notify.Email)
		r.Plans[0] = notify.Plan{Channel: notify.Email, Status: notify.Held, NextAttempt: t0}
		reqs = append(reqs, r)
	}
	if _, err := store.Begin(ctx, reqs, t0); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := store.Due(ctx, t0, 20)
				if err != nil {
					t.Errorf("Due() = %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					seen[d.EventID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 300 {
		t.Errorf("rows claimed = %d, want 300", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s claimed %d times by concurrent schedulers, want once", id, n)
		}
	}
}

func testPreferencesRoundTrip(t *testing.T, pg *testenv.Postgres) {
	store, _ := startStore(t, pg, time.Minute)
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	got, err := store.GetPreferences(ctx, "u1")
	if err != nil || got.Quiet != nil || len(got.Disabled) != 0 || !got.UpdatedAt.IsZero() {
		t.Fatalf("GetPreferences(unknown) = %+v, %v; want the defaults", got, err)
	}
	want := notify.Preferences{Disabled: []notify.Channel{notify.Email, notify.Webhook},
		Quiet: &notify.QuietHours{Start: 22 * 60, End: 7 * 60, TimeZone: "Europe/Berlin"}}
	if err := store.SetPreferences(ctx, "u1", want, now); err != nil {
		t.Fatal(err)
	}
	got, err = store.GetPreferences(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got.Preferences); diff != "" || !got.UpdatedAt.Equal(now) {
		t.Errorf("GetPreferences after Set (-want +got):\n%s updated %s", diff, got.UpdatedAt)
	}
	if err := store.SetPreferences(ctx, "u1", notify.Preferences{}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	all, err := store.Preferences(ctx, []string{"u1", "u2"})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := all["u1"]; !ok || p.Quiet != nil || len(p.Disabled) != 0 {
		t.Errorf("Preferences()[u1] after reset = %+v, %v; want a row with the defaults", p, ok)
	}
	if _, ok := all["u2"]; ok {
		t.Errorf("Preferences() has u2, who never set any")
	}
}

// testBeginDefaults: BeginDefaults records, as Begin would, the requests of users without
// stored preferences and returns the preferences of the others without recording theirs.
func testBeginDefaults(t *testing.T, pg *testenv.Postgres) {
	store, pool := startStore(t, pg, time.Minute)
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	quiet := notify.Preferences{Disabled: []notify.Channel{notify.Webhook},
		Quiet: &notify.QuietHours{Start: 22 * 60, End: 7 * 60, TimeZone: "Europe/Berlin"}}
	if err := store.SetPreferences(ctx, "u2", quiet, now); err != nil {
		t.Fatal(err)
	}
	if err := store.SetPreferences(ctx, "u3", notify.Preferences{}, now); err != nil {
		t.Fatal(err)
	}
	e2, e3 := request("e2", notify.InApp), request("e3", notify.InApp)
	e2.Key.UserID, e3.Key.UserID = "u2", "u3"
	claims, prefs, err := store.BeginDefaults(ctx, []notify.Request{request("e1", notify.InApp, notify.Email), e2, e3}, now)
	if err != nil {
		t.Fatal(err)
	}
	wantClaims := []notify.Claim{{EventID: "e1", Channel: notify.Email, Since: now}, {EventID: "e1", Channel: notify.InApp, Since: now}}
	if diff := cmp.Diff(wantClaims, sortClaims(claims)); diff != "" {
		t.Errorf("BeginDefaults() claims (-want +got):\n%s", diff)
	}
	wantPrefs := map[string]notify.Preferences{"u2": quiet, "u3": {}}
	if diff := cmp.Diff(wantPrefs, prefs); diff != "" {
		t.Errorf("BeginDefaults() preferences (-want +got):\n%s", diff)
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM notification_deliveries WHERE event_id IN ('e2', 'e3')").Scan(&rows); err != nil || rows != 0 {
		t.Errorf("rows of users with preferences = %d, %v; want 0 (left to the caller's Begin)", rows, err)
	}
	// Again: e1's channels are leased, so nothing is claimed twice.
	claims, _, err = store.BeginDefaults(ctx, []notify.Request{request("e1", notify.InApp, notify.Email)}, now)
	if err != nil || len(claims) != 0 {
		t.Errorf("BeginDefaults() of a leased reminder = %v, %v; want no claims", claims, err)
	}
}

func sortClaims(cs []notify.Claim) []notify.Claim {
	out := slices.Clone(cs)
	slices.SortFunc(out, func(a, b notify.Claim) int { return strings.Compare(string(a.Channel), string(b.Channel)) })
	return out
}
