package email

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

// TestComposeTitleCannotInjectParts: a task title with CR/LF and a guessed boundary line
// stays one line of text inside the two parts and text (escaped) in the HTML one; the message
// has exactly text + HTML.
func TestComposeTitleCannotInjectParts(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	ev := &eventsv1.ReminderEvent{EventId: "e-1", TaskId: "t-1\r\nBcc: x@evil.example", UserId: "u",
		DueAt: timestamppb.New(now.Add(time.Hour)),
		Title: "Pay rent\r\n--taskflow-" + strings.ReplaceAll(notify.UUIDv5("notification:e-1"), "-", "") +
			"\r\nContent-Type: text/html\r\n\r\n<a href=https://evil.example>click</a>"}
	n := notify.New(ev, now)
	raw, err := Compose(n, &mail.Address{Name: "TaskFlow", Address: "r@taskflow.example"}, "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the composed message does not parse: %v", err)
	}
	if got := msg.Header.Get("Bcc"); got != "" {
		t.Errorf("a header was injected: Bcc %q", got)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		body, _ := io.ReadAll(p)
		types = append(types, p.Header.Get("Content-Type"))
		if strings.Contains(string(body), "\nContent-Type: text/html") {
			t.Errorf("part %s carries the title's line breaks: %q", p.Header.Get("Content-Type"), body)
		}
		if p.Header.Get("Content-Type") == "text/html; charset=utf-8" {
			// The title is text in the HTML part, never markup (and the task id likewise).
			if strings.Contains(string(body), "<a ") || !strings.Contains(string(body), "&lt;a href=https://evil.example&gt;click&lt;/a&gt;") ||
				!strings.Contains(string(body), "Task t-1  Bcc: x@evil.example.") {
				t.Errorf("HTML part %q: want the title and task id escaped as text", body)
			}
		}
	}
	if len(types) != 2 || types[0] != "text/plain; charset=utf-8" || types[1] != "text/html; charset=utf-8" {
		t.Errorf("parts = %q, want exactly text/plain and text/html", types)
	}
	raw2, _ := Compose(n, &mail.Address{Address: "r@taskflow.example"}, "a@example.com")
	if b1, b2 := boundaryOf(t, raw), boundaryOf(t, raw2); b1 == b2 || strings.Contains(b1, strings.ReplaceAll(n.ID, "-", "")) {
		t.Errorf("boundaries %q and %q: want random ones, not derived from the notification id", b1, b2)
	}
}

func boundaryOf(t *testing.T, raw []byte) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	return params["boundary"]
}

// BenchmarkCompose: one reminder e-mail, as each Send renders it.
func BenchmarkCompose(b *testing.B) {
	ev := &eventsv1.ReminderEvent{EventId: "ev-1", TaskId: "task-1", UserId: "u1", Title: "Water the <plants> & \"herbs\"",
		TimeZone: "Europe/Berlin", DueAt: timestamppb.New(time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC))}
	n := notify.New(ev, time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC))
	from := &mail.Address{Name: "TaskFlow", Address: "noreply@taskflow.example"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compose(n, from, "user@example.com"); err != nil {
			b.Fatal(err)
		}
	}
}
