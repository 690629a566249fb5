package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

// TestPreferencesEndToEnd: preferences set through the real API decide what the next
// reminder does: a channel turned off is skipped, quiet hours hold every channel until
// they end, an urgent reminder goes out at once.
func TestPreferencesEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs daprd, PostgreSQL and mailpit")
	}
	s := startStack(t, nil)
	ctx := context.Background()

	t.Run("defaults for a user who never set any", func(t *testing.T) {
		resp, err := s.deliver.GetPreferences(ctx, &notificationv1.GetPreferencesRequest{UserId: "user-new"})
		if err != nil {
			t.Fatalf("GetPreferences(user-new): %v", err)
		}
		if diff := cmp.Diff(&notificationv1.Preferences{UserId: "user-new"}, resp.GetPreferences(), protocmp.Transform()); diff != "" {
			t.Errorf("GetPreferences(user-new) mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("bad preferences are refused", func(t *testing.T) {
		quiet := func(start, end, zone string) *notificationv1.QuietHours {
			return &notificationv1.QuietHours{Start: start, End: end, TimeZone: zone}
		}
		for _, tt := range []struct {
			name string
			p    *notificationv1.Preferences
		}{
			{"unknown channel", &notificationv1.Preferences{UserId: "user-bad", DisabledChannels: []notificationv1.Channel{notificationv1.Channel_CHANNEL_UNSPECIFIED}}},
			{"channel listed twice", &notificationv1.Preferences{UserId: "user-bad", DisabledChannels: []notificationv1.Channel{emailCh, emailCh}}},
			{"start not HH:MM", &notificationv1.Preferences{UserId: "user-bad", QuietHours: quiet("7:00", "08:00", "")}},
			{"end past 23:59", &notificationv1.Preferences{UserId: "user-bad", QuietHours: quiet("22:00", "24:00", "")}},
			{"start equals end", &notificationv1.Preferences{UserId: "user-bad", QuietHours: quiet("22:00", "22:00", "")}},
			{"unknown time zone", &notificationv1.Preferences{UserId: "user-bad", QuietHours: quiet("22:00", "07:00", "Mars/Olympus")}},
			{"empty user_id", &notificationv1.Preferences{DisabledChannels: []notificationv1.Channel{emailCh}}},
		} {
			resp, err := s.deliver.SetPreferences(ctx, &notificationv1.SetPreferencesRequest{Preferences: tt.p})
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("SetPreferences(%s) = %v, %v; want InvalidArgument", tt.name, resp, err)
			}
		}
		resp, err := s.deliver.GetPreferences(ctx, &notificationv1.GetPreferencesRequest{UserId: "user-bad"})
		if err != nil || resp.GetPreferences().GetUpdatedAt() != nil {
			t.Errorf("GetPreferences(user-bad) after refused sets = %v, %v; want the defaults (nothing stored)", resp, err)
		}
	})

	t.Run("e-mail turned off is skipped, webhook delivered", func(t *testing.T) {
		const id = "evt-prefs-off" // user-evt-prefs-off
		set := setPreferences(t, s, &notificationv1.Preferences{UserId: "user-" + id, DisabledChannels: []notificationv1.Channel{emailCh}})
		got, err := s.deliver.GetPreferences(ctx, &notificationv1.GetPreferencesRequest{UserId: "user-" + id})
		if err != nil {
			t.Fatalf("GetPreferences: %v", err)
		}
		if diff := cmp.Diff(set, got.GetPreferences(), protocmp.Transform()); diff != "" {
			t.Errorf("GetPreferences after SetPreferences mismatch (-set +got):\n%s", diff)
		}
		s.hook.trust(t, "/off", webhookSecret(t, s.deliver, "user-"+id))
		s.publish(t, reminder(id, time.Now().Add(time.Hour), "frank@example.com", s.hook.URL("/off")))
		ds := s.waitFinal(t, id, 3)
		wantStatus(t, ds, inApp, delivered, 1)
		wantStatus(t, ds, hookCh, delivered, 1)
		wantStatus(t, ds, emailCh, skipped, 0)
		if got := ds[emailCh].GetLastError(); got != "turned off in the user's preferences" {
			t.Errorf("ledger e-mail last_error = %q, want \"turned off in the user's preferences\"", got)
		}
		if n := len(s.mail.ByMessageID(t, notify.UUIDv5("notification:"+id)+"@taskflow.test")); n != 0 {
			t.Errorf("mails for %s = %d, want 0", id, n)
		}
		if calls, verified, _ := s.hook.stats("/off"); calls != 1 || len(verified) != 1 {
			t.Errorf("webhook calls = %d, accepted = %d; want 1, 1", calls, len(verified))
		}
	})

	t.Run("quiet hours hold every channel, an urgent reminder goes out at once", func(t *testing.T) {
		const user = "user-evt-quiet"
		now := time.Now()
		loc := awayFromMidnight(t, now)
		local := now.In(loc)
		minute := local.Hour()*60 + local.Minute()
		start, end := minute-60, minute+60 // inside 01:00..23:00: no midnight in the window
		setPreferences(t, s, &notificationv1.Preferences{UserId: user, QuietHours: &notificationv1.QuietHours{
			Start: notify.Clock(start), End: notify.Clock(end), TimeZone: loc.String()}})
		wantUntil := time.Date(local.Year(), local.Month(), local.Day(), end/60, end%60, 0, 0, loc)
		s.hook.trust(t, "/quiet", webhookSecret(t, s.deliver, user))

		heldEv := reminder("evt-quiet", now.Add(time.Hour), "grace@example.com", s.hook.URL("/quiet"))
		s.publish(t, heldEv)
		testenv.WaitFor(t, 20*time.Second, "evt-quiet held on 3 channels", func() bool {
			ds := deliveries(t, s.deliver, "evt-quiet")
			n := 0
			for _, d := range ds {
				if d.GetStatus() == held {
					n++
				}
			}
			return n == 3
		})

		urgent := reminder("evt-quiet-urgent", now.Add(time.Hour), "grace@example.com", s.hook.URL("/quiet"))
		urgent.UserId, urgent.Urgent = user, true
		s.publish(t, urgent)
		ds := s.waitFinal(t, "evt-quiet-urgent", 3)
		for _, c := range []notificationv1.Channel{inApp, hookCh, emailCh} {
			wantStatus(t, ds, c, delivered, 1)
		}
		urgentID := notify.UUIDv5("notification:evt-quiet-urgent")
		if n := len(s.mail.ByMessageID(t, urgentID+"@taskflow.test")); n != 1 {
			t.Errorf("mails for the urgent reminder = %d, want 1", n)
		}
		if n := len(inAppUpdates(t, s.broker, urgentID)); n != 1 {
			t.Errorf("TaskUpdates for the urgent reminder = %d, want 1", n)
		}

		// The held reminder, a few seconds later, still waits for the end of quiet hours.
		ds = deliveries(t, s.deliver, "evt-quiet")
		for _, c := range []notificationv1.Channel{inApp, hookCh, emailCh} {
			d := ds[c]
			wantStatus(t, ds, c, held, 0)
			if !d.GetNextAttemptAt().AsTime().Equal(wantUntil) {
				t.Errorf("ledger %s next_attempt_at = %v, want the end of quiet hours %v", c, d.GetNextAttemptAt().AsTime(), wantUntil.UTC())
			}
			if !strings.Contains(d.GetLastError(), "quiet hours") {
				t.Errorf("ledger %s last_error = %q, want the quiet hours", c, d.GetLastError())
			}
		}
		heldID := notify.UUIDv5("notification:evt-quiet")
		if n := len(s.mail.ByMessageID(t, heldID+"@taskflow.test")); n != 0 {
			t.Errorf("mails for the held reminder = %d, want 0", n)
		}
		if n := len(inAppUpdates(t, s.broker, heldID)); n != 0 {
			t.Errorf("TaskUpdates for the held reminder = %d, want 0", n)
		}
		calls, verified, _ := s.hook.stats("/quiet")
		if calls != 1 || len(verified) != 1 || verified[0].Data.EventID != "evt-quiet-urgent" {
			t.Errorf("webhook calls = %d, accepted = %v; want 1 call, the urgent reminder", calls, verified)
		}
	})
}

// setPreferences stores p through the API and returns them as stored.
func setPreferences(t *testing.T, s *stack, p *notificationv1.Preferences) *notificationv1.Preferences {
	t.Helper()
	resp, err := s.deliver.SetPreferences(context.Background(), &notificationv1.SetPreferencesRequest{Preferences: p})
	if err != nil {
		t.Fatalf("SetPreferences(%v): %v", p, err)
	}
	got := resp.GetPreferences()
	if got.GetUpdatedAt() == nil {
		t.Errorf("SetPreferences(%v).updated_at unset, want when they were stored", p)
	}
	if diff := cmp.Diff(p, got, protocmp.Transform(), protocmp.IgnoreFields(got, "updated_at")); diff != "" {
		t.Errorf("SetPreferences returned other preferences (-sent +got):\n%s", diff)
	}
	return got
}

// awayFromMidnight returns a time zone in which now is between 02:00 and 22:00, so that
// quiet hours from an hour before now to an hour after do not span midnight.
func awayFromMidnight(t *testing.T, now time.Time) *time.Location {
	t.Helper()
	for _, name := range []string{"Asia/Tokyo", "UTC"} { // 9 hours apart, no DST
		loc := mustLoad(t, name)
		if h := now.In(loc).Hour(); h >= 2 && h < 22 {
			return loc
		}
	}
	t.Fatalf("no time zone with %v between 02:00 and 22:00", now)
	return nil
}
