package email

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

// strictRelay is an SMTP relay that offers PIPELINING and answers a transaction's MAIL
// FROM only once RCPT TO and DATA have arrived too: a client that waits for each reply
// before the next command never gets one. rcpt is its reply to RCPT TO; bodies receives
// each accepted message, commands every command line.
type strictRelay struct {
	addr     string
	rcpt     string
	bodies   chan string
	commands chan string
	// sequential: PIPELINING is not offered and every command is answered on arrival.
	sequential bool
	// rtt delays every reply, as a network round trip would.
	rtt time.Duration
	// idleClose, when set, ends a session idle that long as Postfix does: 421, then close.
	idleClose time.Duration
	conns     atomic.Int32
}

func startStrictRelay(t testing.TB, rcpt string) *strictRelay {
	t.Helper()
	return startRelay(t, &strictRelay{rcpt: rcpt})
}

func startRelay(t testing.TB, r *strictRelay) *strictRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	r.addr, r.bodies, r.commands = ln.Addr().String(), make(chan string, 10), make(chan string, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.conns.Add(1)
			go r.session(c)
		}
	}()
	return r
}

func (r *strictRelay) session(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	tp, w := textproto.NewReader(bufio.NewReader(c)), bufio.NewWriter(c)
	reply := func(lines ...string) {
		time.Sleep(r.rtt)
		for _, l := range lines {
			_, _ = w.WriteString(l + "\r\n")
		}
		_ = w.Flush()
	}
	reply("220 strict ESMTP")
	for {
		if r.idleClose > 0 {
			_ = c.SetReadDeadline(time.Now().Add(r.idleClose))
		}
		line, err := tp.ReadLine()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && r.idleClose > 0 {
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			reply("421 4.4.2 strict Error: timeout exceeded")
			return
		}
		if err != nil {
			return
		}
		r.note(line)
		switch verb, _, _ := strings.Cut(line, " "); strings.ToUpper(verb) {
		case "EHLO":
			if r.sequential {
				reply("250-strict", "250 8BITMIME")
			} else {
				reply("250-strict", "250-8BITMIME", "250 PIPELINING")
			}
		case "DATA":
			reply("354 go ahead")
			if _, err := tp.ReadDotLines(); err != nil {
				return
			}
			reply("250 OK queued")
		case "MAIL":
			if r.sequential {
				reply("250 OK")
				continue
			}
			group := []string{line}
			for len(group) < 3 { // RCPT TO and DATA, before any reply
				next, err := tp.ReadLine()
				if err != nil {
					return
				}
				r.note(next)
				group = append(group, next)
			}
			if r.rcpt != "250 OK" {
				reply("250 OK", r.rcpt, "554 no valid recipients")
				continue
			}
			reply("250 OK", "250 OK", "354 go ahead")
			body, err := tp.ReadDotLines()
			if err != nil {
				return
			}
			select {
			case r.bodies <- strings.Join(body, "\n"):
			default: // a benchmark does not read them
			}
			reply("250 OK queued")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("250 OK")
		}
	}
}

// note records a command line, unless nobody reads them (a benchmark).
func (r *strictRelay) note(line string) {
	select {
	case r.commands <- line:
	default:
	}
}

func strictSender(t testing.TB, addr string) *Sender {
	t.Helper()
	s, err := NewSender(Config{Addr: addr, From: &mail.Address{Name: "TaskFlow", Address: "reminders@example.com"},
		TLS: TLSNone, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func reminderTo(eventID, to string) *notify.Notification {
	now := time.Now()
	return notify.New(&eventsv1.ReminderEvent{EventId: eventID, ReminderId: "rem-" + eventID, TaskId: "task-1", UserId: "user-1",
		Title: "Water the plants", DueAt: timestamppb.New(now.Add(time.Hour)),
		Targets: &eventsv1.DeliveryTargets{Email: to}}, now)
}

// TestPipelinedTransaction: with a relay that offers PIPELINING, a mail goes out as one
// group of MAIL FROM, RCPT TO and DATA (the strict relay answers none of them before all
// three arrived), then the message; the session is reused for the next mail.
func TestPipelinedTransaction(t *testing.T) {
	t.Parallel()
	relay := startStrictRelay(t, "250 OK")
	s := strictSender(t, relay.addr)
	for _, id := range []string{"ev-1", "ev-2"} {
		if err := s.Send(context.Background(), reminderTo(id, "alice@example.com")); err != nil {
			t.Fatalf("Send(%s) through a pipelining relay = %v, want nil", id, err)
		}
		select {
		case body := <-relay.bodies:
			if !strings.Contains(body, "Water the plants") || !strings.Contains(body, "To: <alice@example.com>") {
				t.Errorf("message %s as received:\n%s\nwant the reminder to alice", id, body)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("the relay received no message for %s", id)
		}
	}
	if got := idle(s); len(got) != 1 {
		t.Errorf("idle sessions after two mails = %d, want 1 (reused)", len(got))
	}
	var mails int
	for len(relay.commands) > 0 {
		if c := <-relay.commands; strings.HasPrefix(c, "MAIL FROM:<reminders@example.com> BODY=8BITMIME") {
			mails++
		}
	}
	if mails != 2 {
		t.Errorf("MAIL FROM with BODY=8BITMIME sent %d times, want 2", mails)
	}
}

// TestPipelinedSessionTimedOutByRelay: a relay that ended an idle session (421, then
// close, as Postfix does after its idle timeout) answers the next pipelined group with the
// 421 and then nothing; the mail goes again on a new session at once, as with MAIL FROM
// failing one command at a time.
func TestPipelinedSessionTimedOutByRelay(t *testing.T) {
	t.Parallel()
	relay := startRelay(t, &strictRelay{rcpt: "250 OK", idleClose: 100 * time.Millisecond})
	s := strictSender(t, relay.addr)
	if err := s.Send(context.Background(), reminderTo("ev-1", "alice@example.com")); err != nil {
		t.Fatal(err)
	}
	<-relay.bodies
	time.Sleep(300 * time.Millisecond) // the relay times the session out meanwhile
	if err := s.Send(context.Background(), reminderTo("ev-2", "alice@example.com")); err != nil {
		t.Fatalf("Send() on a session the relay timed out = %v, want nil (sent again on a new session)", err)
	}
	select {
	case body := <-relay.bodies:
		if !strings.Contains(body, "X-TaskFlow-Event-ID: ev-2") {
			t.Errorf("second message as received:\n%s", body)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the relay received no second message")
	}
	if n := relay.conns.Load(); n != 2 {
		t.Errorf("sessions opened = %d, want 2", n)
	}
}

// TestPipelinedRejectedRecipient: a recipient the relay refuses (550) in a pipelined group
// is a permanent failure naming RCPT TO, no message is sent, and the session is not kept.
func TestPipelinedRejectedRecipient(t *testing.T) {
	t.Parallel()
	relay := startStrictRelay(t, "550 5.1.1 no such user")
	s := strictSender(t, relay.addr)
	err := s.Send(context.Background(), reminderTo("ev-1", "nobody@example.com"))
	if err == nil || !notify.IsPermanent(err) || !strings.Contains(err.Error(), "RCPT TO") || !strings.Contains(err.Error(), "no such user") {
		t.Fatalf("Send() to a refused recipient = %v, want a permanent RCPT TO error with the relay's reason", err)
	}
	select {
	case body := <-relay.bodies:
		t.Errorf("the relay received a message:\n%s", body)
	case <-time.After(200 * time.Millisecond):
	}
	if got := idle(s); len(got) != 0 {
		t.Errorf("idle sessions after a failed mail = %d, want 0", len(got))
	}
}

// BenchmarkTransactionRTT: one session to a relay 2 ms of round trip away, as a relay in
// another zone is: pipelined (MAIL FROM, RCPT TO and DATA in one write) against one
// round trip per command. ns/op is one e-mail.
func BenchmarkTransactionRTT(b *testing.B) {
	for _, sequential := range []bool{true, false} {
		name := map[bool]string{true: "sequential", false: "pipelined"}[sequential]
		b.Run(name, func(b *testing.B) {
			relay := startRelay(b, &strictRelay{rcpt: "250 OK", sequential: sequential, rtt: 2 * time.Millisecond})
			s := strictSender(b, relay.addr)
			n := reminderTo("ev-1", "alice@example.com")
			for b.Loop() {
				if err := s.Send(context.Background(), n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
