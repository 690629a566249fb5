package email

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
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

// TestPoolCapsOpenSessions: 40 concurrent sends through a pool of 3 open at most 3
// sessions (the relay counts connections), every mail arrives once, and all 3 stay idle
// for reuse; a send that cannot get a session within its timeout fails transiently.
func TestPoolCapsOpenSessions(t *testing.T) {
	mp := testenv.StartMailpit(t)
	var dials atomic.Int32
	s, err := NewSender(Config{Addr: mp.SMTPAddr, From: &mail.Address{Address: "reminders@example.com"},
		TLS: TLSNone, Timeout: 10 * time.Second, MaxConns: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.pool.onDial = func() { dials.Add(1) }
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("ev-%02d", i)
			ev := &eventsv1.ReminderEvent{EventId: id, ReminderId: "rem-" + id, TaskId: "task-1", UserId: "user-1",
				Title: "Water the plants", Targets: &eventsv1.DeliveryTargets{Email: "alice@example.com"}}
			if err := s.Send(context.Background(), notify.New(ev, time.Now())); err != nil {
				t.Errorf("send %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	if n := dials.Load(); n > 3 {
		t.Errorf("sessions opened for 40 concurrent mails = %d, want at most 3 (SMTP_MAX_CONNECTIONS)", n)
	}
	if got := len(idle(s)); got != int(dials.Load()) {
		t.Errorf("idle sessions after the burst = %d, want all %d opened kept for reuse", got, dials.Load())
	}
	for i := range 40 {
		id := fmt.Sprintf("ev-%02d", i)
		mid := strings.Trim(MessageID(notify.New(&eventsv1.ReminderEvent{EventId: id}, time.Now()), "example.com"), "<>")
		if got := mp.ByMessageID(t, mid); len(got) != 1 {
			t.Errorf("%s: %d messages, want 1", id, len(got))
		}
	}
	// All three taken: the next send waits and gives up at its deadline.
	var taken []*session
	for range 3 {
		ss, stop, err := s.pool.get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		stop()
		taken = append(taken, ss)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, _, err := s.pool.get(ctx); err == nil || !strings.Contains(err.Error(), "SMTP_MAX_CONNECTIONS") {
		t.Errorf("get with every session in use = %v, want a timeout naming SMTP_MAX_CONNECTIONS", err)
	}
	for _, ss := range taken {
		s.pool.drop(ss)
	}
}
