package email

import (
	"context"
	"net/mail"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

func sendTo(t *testing.T, s *Sender, eventID string) {
	t.Helper()
	now := time.Now()
	ev := &eventsv1.ReminderEvent{EventId: eventID, ReminderId: "rem-" + eventID, TaskId: "task-1", UserId: "user-1",
		Title: "Water the plants", DueAt: timestamppb.New(now.Add(time.Hour)),
		Targets: &eventsv1.DeliveryTargets{Email: "alice@example.com"}}
	if err := s.Send(context.Background(), notify.New(ev, now)); err != nil {
		t.Fatalf("Send(%s) = %v, want nil", eventID, err)
	}
}

// idle returns the pool's idle sessions.
func idle(s *Sender) []*session {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	return append([]*session(nil), s.pool.idle...)
}

// TestPoolReuseAndReconnect sends through a real relay: the second mail reuses the first
// session, and after the relay restarts (dropping the session) the next mail opens a new
// one instead of failing.
func TestPoolReuseAndReconnect(t *testing.T) {
	mp := testenv.StartMailpit(t)
	s, err := NewSender(Config{Addr: mp.SMTPAddr, From: &mail.Address{Name: "TaskFlow", Address: "reminders@example.com"},
		TLS: TLSNone, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)

	sendTo(t, s, "ev-1")
	first := idle(s)
	if len(first) != 1 {
		t.Fatalf("idle sessions after one mail = %d, want 1", len(first))
	}
	sendTo(t, s, "ev-2")
	if got := idle(s); len(got) != 1 || got[0] != first[0] {
		t.Fatalf("idle sessions after two mails = %v, want the first session %v reused", got, first)
	}

	mp.Stop(t)
	mp.Start(t)
	sendTo(t, s, "ev-3")
	if got := idle(s); len(got) != 1 || got[0] == first[0] {
		t.Fatalf("idle sessions after the relay restarted = %v, want one new session", got)
	}
	sendTo(t, s, "ev-4")

	for _, id := range []string{"ev-1", "ev-2", "ev-3", "ev-4"} {
		n := notify.New(&eventsv1.ReminderEvent{EventId: id}, time.Now())
		mid := strings.Trim(MessageID(n, "example.com"), "<>")
		if got := mp.ByMessageID(t, mid); len(got) != 1 {
			t.Errorf("ByMessageID(%s) = %d messages, want 1", mid, len(got))
		}
	}
}

// TestPoolClosesIdleSessions: a session unused for IdleTimeout is not reused.
func TestPoolClosesIdleSessions(t *testing.T) {
	mp := testenv.StartMailpit(t)
	s, err := NewSender(Config{Addr: mp.SMTPAddr, From: &mail.Address{Address: "reminders@example.com"},
		TLS: TLSNone, IdleTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	clock := time.Now()
	s.pool.now = func() time.Time { return clock }

	sendTo(t, s, "ev-1")
	first := idle(s)
	clock = clock.Add(time.Hour + time.Second)
	sendTo(t, s, "ev-2")
	if got := idle(s); len(got) != 1 || got[0] == first[0] {
		t.Fatalf("idle sessions after IdleTimeout = %v, want one new session", got)
	}
}
