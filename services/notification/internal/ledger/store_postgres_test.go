package ledger

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

// TestBeginLeasesSendingChannels: a channel another attempt is sending is reported held
// (never claimed twice), is claimed again once that attempt's lease has run out (it
// crashed), and never comes back once final.
func TestBeginLeasesSendingChannels(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	pg := testenv.StartPostgres(t)
	pool, err := pgxpool.New(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	const lease = time.Minute
	store := New(pool, lease)
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	req := []notify.Request{{
		Key:   notify.Key{EventID: "evt-1", UserID: "u1", TaskID: "t1", NotificationID: "n1"},
		Plans: []notify.Plan{{Channel: notify.InApp, Status: notify.Sending}, {Channel: notify.Email, Status: notify.Sending}},
	}}
	// Since stays the first sight of the reminder (t0) whoever claims the channel later:
	// NOTIFY_RETRY_FOR counts from it.
	claim := func(c notify.Channel, held bool) notify.Claim {
		return notify.Claim{EventID: "evt-1", Channel: c, Held: held, Since: t0}
	}
	steps := []struct {
		name string
		at   time.Time
		want []notify.Claim
	}{
		{"first attempt claims both channels", t0, []notify.Claim{claim(notify.Email, false), claim(notify.InApp, false)}},
		{"a concurrent attempt finds both held", t0.Add(time.Second), []notify.Claim{claim(notify.Email, true), claim(notify.InApp, true)}},
		{"after the lease the crashed attempt's channels are claimed again", t0.Add(lease + time.Second), []notify.Claim{claim(notify.Email, false), claim(notify.InApp, false)}},
	}
	for _, st := range steps {
		got, err := store.Begin(ctx, req, st.at)
		if err != nil {
			t.Fatalf("%s: Begin() = %v", st.name, err)
		}
		if diff := cmp.Diff(st.want, sortClaims(got)); diff != "" {
			t.Errorf("%s: claims (-want +got):\n%s", st.name, diff)
		}
	}
	// The attempt delivers in-app and fails e-mail transiently: only e-mail comes back.
	if err := store.Finish(ctx, []notify.Outcome{
		{EventID: "evt-1", Plan: notify.Plan{Channel: notify.InApp, Status: notify.Delivered}},
		{EventID: "evt-1", Plan: notify.Plan{Channel: notify.Email, Status: notify.Retrying, Error: "421 try later"}},
	}, t0.Add(lease+2*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := store.Begin(ctx, req, t0.Add(lease+3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]notify.Claim{claim(notify.Email, false)}, got); diff != "" {
		t.Errorf("after a transient failure: claims (-want +got):\n%s", diff)
	}
}

func sortClaims(cs []notify.Claim) []notify.Claim {
	out := slices.Clone(cs)
	slices.SortFunc(out, func(a, b notify.Claim) int { return strings.Compare(string(a.Channel), string(b.Channel)) })
	return out
}
