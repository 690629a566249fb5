package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
	"github.com/taskflow/taskflow-events/services/notification/internal/webhook"
)

// stack is everything the end-to-end tests run against.
type stack struct {
	broker   *testenv.Broker
	pg       *testenv.Postgres
	mail     *testenv.Mailpit
	hook     *receiver
	svc      *testenv.Service
	daprd    *testenv.Daprd
	deliver  notificationv1.NotificationServiceClient
	webhookK []byte // the master key, WEBHOOK_SECRET
	env      map[string]string
}

var testSecretKey = []byte("0123456789abcdef0123456789abcdef")

func startStack(t testing.TB, extraEnv map[string]string) *stack {
	t.Helper()
	return startStackWith(t, stackOptions{env: extraEnv})
}

func reminder(id string, due time.Time, email, webhookURL string) *eventsv1.ReminderEvent {
	return &eventsv1.ReminderEvent{
		EventId: id, ReminderId: "rem-" + id, TaskId: "task-" + id, UserId: "user-" + id,
		Title: "Water the plants", DueAt: timestamppb.New(due), RemindAt: timestamppb.New(due.Add(-time.Hour)),
		TimeZone: "Europe/Berlin",
		Targets:  &eventsv1.DeliveryTargets{Email: email, WebhookUrl: webhookURL},
	}
}

func (s *stack) publish(t *testing.T, ev *eventsv1.ReminderEvent) {
	t.Helper()
	s.daprd.Publish(t, Topic, "taskflow.reminder.due.v1", ev.GetTaskId(), ev)
}

func (s *stack) waitFinal(t *testing.T, eventID string, channels int) map[notificationv1.Channel]*notificationv1.Delivery {
	t.Helper()
	testenv.WaitFor(t, 30*time.Second, "ledger of "+eventID+" final", func() bool { return allFinal(t, s.deliver, eventID, channels) })
	return deliveries(t, s.deliver, eventID)
}

func wantStatus(t *testing.T, ds map[notificationv1.Channel]*notificationv1.Delivery, c notificationv1.Channel, st notificationv1.DeliveryStatus, attempts uint32) {
	t.Helper()
	d := ds[c]
	if d.GetStatus() != st || d.GetAttempts() != attempts {
		t.Errorf("ledger %s = %s after %d attempts, want %s after %d (ledger: %s)", c, d.GetStatus(), d.GetAttempts(), st, attempts, describe(ds))
	}
}

const (
	inApp   = notificationv1.Channel_CHANNEL_IN_APP
	hookCh  = notificationv1.Channel_CHANNEL_WEBHOOK
	emailCh = notificationv1.Channel_CHANNEL_EMAIL

	delivered = notificationv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED
	failed    = notificationv1.DeliveryStatus_DELIVERY_STATUS_FAILED
	skipped   = notificationv1.DeliveryStatus_DELIVERY_STATUS_SKIPPED
)

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs daprd, PostgreSQL and mailpit")
	}
	s := startStack(t, nil)

	t.Run("three channels once each although published three times", func(t *testing.T) {
		// The user's endpoint verifies with the secret the Task API got for that user.
		s.hook.trust(t, "/all", webhookSecret(t, s.deliver, "user-evt-all"))
		ev := reminder("evt-all", time.Now().Add(time.Hour), "alice@example.com", s.hook.URL("/all"))
		for range 3 {
			s.publish(t, ev)
		}
		// A later event on the same partition (same key) is handled after all three copies.
		sentinel := reminder("evt-all-sentinel", time.Now().Add(time.Hour), "", "")
		sentinel.TaskId = ev.GetTaskId()
		s.publish(t, sentinel)
		s.waitFinal(t, "evt-all-sentinel", 1)

		ds := s.waitFinal(t, "evt-all", 3)
		for _, c := range []notificationv1.Channel{inApp, hookCh, emailCh} {
			wantStatus(t, ds, c, delivered, 1)
		}
		nid := notify.UUIDv5("notification:evt-all")
		if got := ds[inApp].GetNotificationId(); got != nid {
			t.Errorf("ledger notification_id = %q, want %q", got, nid)
		}
		mails := s.mail.ByMessageID(t, nid+"@taskflow.test")
		if len(mails) != 1 {
			t.Fatalf("mails with Message-ID <%s@taskflow.test> = %d, want 1", nid, len(mails))
		}
		if mails[0].Subject != "Reminder: Water the plants" || len(mails[0].To) != 1 || mails[0].To[0].Address != "alice@example.com" {
			t.Errorf("mail = %+v, want subject \"Reminder: Water the plants\" to alice@example.com", mails[0])
		}
		body := s.mail.Body(t, mails[0].ID)
		due := ev.GetDueAt().AsTime().In(mustLoad(t, "Europe/Berlin")).Format("15:04")
		if !strings.Contains(body.Text, due) || !strings.Contains(body.HTML, due) || !strings.Contains(body.HTML, "<strong>Water the plants</strong>") {
			t.Errorf("mail text/HTML lack the due time %s in Europe/Berlin or the title:\n%s\n%s", due, body.Text, body.HTML)
		}
		calls, verified, bad := s.hook.stats("/all")
		if calls != 1 || len(verified) != 1 || bad != 0 {
			t.Errorf("webhook calls = %d, verified = %d, bad signatures = %d; want 1, 1, 0", calls, len(verified), bad)
		} else if p := verified[0]; p.Data.EventID != "evt-all" || p.Data.Title != "Water the plants" || p.Type != "task.reminder" {
			t.Errorf("webhook payload = %+v, want the evt-all reminder", p)
		} else if c := s.hook.lastCall("/all"); webhook.Verify(s.webhookK, c.header, c.body, time.Now(), 5*time.Minute) == nil {
			t.Errorf("the webhook verifies with the master key WEBHOOK_SECRET, want only with user-evt-all's own secret")
		}
		ups := inAppUpdates(t, s.broker, nid)
		if len(ups) != 1 {
			t.Fatalf("TaskUpdates for the notification on task-updates = %d, want 1", len(ups))
		}
		u := ups[0]
		if u.GetEventId() != notify.UUIDv5("task-update:evt-all") || u.GetUserId() != "user-evt-all" ||
			u.GetNotification().GetTaskId() != "task-evt-all" || !strings.Contains(u.GetNotification().GetBody(), "Water the plants") {
			t.Errorf("TaskUpdate = %v, want a notification for user-evt-all about task-evt-all", u)
		}
	})

	t.Run("webhook 503 twice then 200 is delivered on the third attempt", func(t *testing.T) {
		s.hook.trust(t, "/flaky", webhookSecret(t, s.deliver, "user-evt-flaky"))
		s.hook.mu.Lock()
		s.hook.failFirst["/flaky"] = 2
		s.hook.mu.Unlock()
		ev := reminder("evt-flaky", time.Now().Add(time.Hour), "bob@example.com", s.hook.URL("/flaky"))
		s.publish(t, ev)
		ds := s.waitFinal(t, "evt-flaky", 3)
		wantStatus(t, ds, hookCh, delivered, 3)
		wantStatus(t, ds, emailCh, delivered, 1)
		wantStatus(t, ds, inApp, delivered, 1)
		calls, verified, _ := s.hook.stats("/flaky")
		if calls != 3 || len(verified) != 1 {
			t.Errorf("webhook calls = %d, accepted = %d; want 3 and 1", calls, len(verified))
		}
		nid := notify.UUIDv5("notification:evt-flaky")
		if n := len(s.mail.ByMessageID(t, nid+"@taskflow.test")); n != 1 {
			t.Errorf("mails for evt-flaky = %d, want 1 (not re-sent on webhook retries)", n)
		}
		if n := len(inAppUpdates(t, s.broker, nid)); n != 1 {
			t.Errorf("TaskUpdates for evt-flaky = %d, want 1", n)
		}
	})

	t.Run("SMTP down then up delivers the mail once", func(t *testing.T) {
		s.mail.Stop(t)
		ev := reminder("evt-smtp", time.Now().Add(time.Hour), "carol@example.com", "")
		s.publish(t, ev)
		testenv.WaitFor(t, 20*time.Second, "a failed e-mail attempt", func() bool {
			return deliveries(t, s.deliver, "evt-smtp")[emailCh].GetAttempts() >= 2
		})
		s.mail.Start(t)
		ds := s.waitFinal(t, "evt-smtp", 2)
		wantStatus(t, ds, inApp, delivered, 1)
		if d := ds[emailCh]; d.GetStatus() != delivered || d.GetAttempts() < 3 {
			t.Errorf("ledger e-mail = %s after %d attempts, want delivered after at least 3", d.GetStatus(), d.GetAttempts())
		}
		nid := notify.UUIDv5("notification:evt-smtp")
		if n := len(s.mail.ByMessageID(t, nid+"@taskflow.test")); n != 1 {
			t.Errorf("mails for evt-smtp = %d, want 1", n)
		}
		if n := len(inAppUpdates(t, s.broker, nid)); n != 1 {
			t.Errorf("TaskUpdates for evt-smtp = %d, want 1 (in-app not re-published on retries)", n)
		}
	})

	t.Run("stale reminder is skipped", func(t *testing.T) {
		ev := reminder("evt-stale", time.Now().Add(-7*time.Hour), "dave@example.com", s.hook.URL("/stale"))
		s.publish(t, ev)
		ds := s.waitFinal(t, "evt-stale", 3)
		for _, c := range []notificationv1.Channel{inApp, hookCh, emailCh} {
			wantStatus(t, ds, c, skipped, 0)
			if !strings.Contains(ds[c].GetLastError(), "stale") {
				t.Errorf("ledger %s last_error = %q, want the staleness reason", c, ds[c].GetLastError())
			}
		}
		nid := notify.UUIDv5("notification:evt-stale")
		if calls, _, _ := s.hook.stats("/stale"); calls != 0 {
			t.Errorf("webhook calls for a stale reminder = %d, want 0", calls)
		}
		if n := len(s.mail.ByMessageID(t, nid+"@taskflow.test")); n != 0 {
			t.Errorf("mails for a stale reminder = %d, want 0", n)
		}
		if n := len(inAppUpdates(t, s.broker, nid)); n != 0 {
			t.Errorf("TaskUpdates for a stale reminder = %d, want 0", n)
		}
	})

	t.Run("invalid address and URL fail only their channel (JSON payload)", func(t *testing.T) {
		ev := reminder("evt-invalid", time.Now().Add(time.Hour), "not an address", "ftp://example.com/hook")
		s.daprd.PublishJSON(t, Topic, "taskflow.reminder.due.v1", ev.GetTaskId(), ev)
		ds := s.waitFinal(t, "evt-invalid", 3)
		wantStatus(t, ds, inApp, delivered, 1)
		wantStatus(t, ds, hookCh, failed, 0)
		wantStatus(t, ds, emailCh, failed, 0)
		if strings.Contains(s.svc.Logs(), base64.StdEncoding.EncodeToString(s.webhookK)) {
			t.Errorf("service log contains the webhook secret")
		}
	})

	t.Run("a webhook for one user does not verify at another user's endpoint", func(t *testing.T) { testForeignWebhook(t, s) })
	t.Run("GetWebhookSecret: per user, refuses bad input, needs the app token", func(t *testing.T) { testWebhookSecretAPI(t, s) })

	t.Run("ListDeliveries pages by user", func(t *testing.T) {
		ctx := context.Background()
		var got []string
		token := ""
		for range 5 {
			resp, err := s.deliver.ListDeliveries(ctx, &notificationv1.ListDeliveriesRequest{UserId: "user-evt-all", PageSize: 2, PageToken: token})
			if err != nil {
				t.Fatalf("ListDeliveries: %v", err)
			}
			for _, d := range resp.GetDeliveries() {
				got = append(got, fmt.Sprintf("%s/%s", d.GetEventId(), d.GetChannel()))
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		if len(got) != 3 {
			t.Errorf("ListDeliveries(user-evt-all) over pages of 2 = %v, want the 3 channels of evt-all", got)
		}
		if _, err := s.deliver.ListDeliveries(ctx, &notificationv1.ListDeliveriesRequest{}); err == nil {
			t.Errorf("ListDeliveries({}) succeeded, want INVALID_ARGUMENT")
		}
	})

	t.Run("health is NOT_SERVING while PostgreSQL is down", func(t *testing.T) {
		s.svc.WaitHealth(t, healthpb.HealthCheckResponse_SERVING, 5*time.Second)
		s.pg.Stop(t)
		s.svc.WaitHealth(t, healthpb.HealthCheckResponse_NOT_SERVING, 10*time.Second)
		s.pg.Start(t)
		s.svc.WaitHealth(t, healthpb.HealthCheckResponse_SERVING, 10*time.Second)
	})
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
