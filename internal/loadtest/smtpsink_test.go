package loadtest

import (
	"net/smtp"
	"testing"
)

func TestSMTPSinkCountsMailsByTask(t *testing.T) {
	t.Parallel()
	sink, err := StartSMTPSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	c, err := smtp.Dial(sink.Addr())
	if err != nil {
		t.Fatal(err)
	}
	send := func(subject string) {
		t.Helper()
		if err := c.Mail("reminders@taskflow.local"); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("load@example.com"); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		// A body line that looks like a header must not count: only the header does.
		_, _ = w.Write([]byte("From: x@y\r\nSubject: " + subject + "\r\n\r\nSubject: Reminder: Reminder t-9\r\n.leading dot\r\n"))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	send("Reminder: Reminder t-1")
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	send("Reminder: Reminder t-1")
	send("=?utf-8?q?Reminder:_Reminder_t-2?=") // Q-encoded, as net/mail writes non-ASCII titles
	send("Weekly digest")
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	mail, n := sink.Mail()
	if n != 4 || mail["t-1"] != 2 || mail["t-2"] != 1 || len(mail) != 2 {
		t.Errorf("sink saw %d messages, per task %v; want 4, t-1 twice and t-2 once", n, mail)
	}
}
