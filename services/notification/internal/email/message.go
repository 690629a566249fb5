// Package email delivers notifications as multipart (text + HTML) e-mails over SMTP.
package email

import (
	"bytes"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

// ParseRecipient accepts a bare e-mail address (no display name, no line breaks).
func ParseRecipient(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != strings.TrimSpace(s) || strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("e-mail address %q is invalid", s)
	}
	return a.Address, nil
}

// MessageID returns the Message-ID of n's e-mail (with angle brackets): the same on every
// attempt, so receivers and mailbox providers can drop duplicates.
func MessageID(n *notify.Notification, domain string) string {
	return "<" + n.ID + "@" + domain + ">"
}

var htmlBody = template.Must(template.New("reminder").Parse(`<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<h2>Reminder: {{.Title}}</h2>
{{if .Due}}<p>Your task <strong>{{.Title}}</strong> is due <strong>{{.Due}}</strong>.</p>
{{else}}<p>This is your reminder for <strong>{{.Title}}</strong>.</p>
{{end}}<p style="color: #777; font-size: small">Sent by TaskFlow. Task {{.TaskID}}.</p>
</body></html>
`))

// Compose renders the RFC 5322 message of n from from to to.
func Compose(n *notify.Notification, from *mail.Address, to string) ([]byte, error) {
	ev := n.Reminder
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	var buf bytes.Buffer
	// The writer's boundary is random (crypto/rand): one derived from the event would let a
	// producer who knows it close a part from inside the task title.
	mw := multipart.NewWriter(&buf)
	subject := mime.QEncoding.Encode("utf-8", oneLine("Reminder: "+ev.GetTitle()))
	fmt.Fprintf(&buf, "From: %s\r\n", from.String())
	fmt.Fprintf(&buf, "To: <%s>\r\n", to)
	fmt.Fprintf(&buf, "Subject: %s\r\n", subject)
	fmt.Fprintf(&buf, "Date: %s\r\n", n.CreatedAt.UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&buf, "Message-ID: %s\r\n", MessageID(n, domain))
	fmt.Fprintf(&buf, "X-TaskFlow-Event-ID: %s\r\n", oneLine(ev.GetEventId()))
	fmt.Fprintf(&buf, "Auto-Submitted: auto-generated\r\n")
	fmt.Fprintf(&buf, "MIME-Version: 1.0\r\n")
	fmt.Fprintf(&buf, "Content-Type: multipart/alternative; boundary=%q\r\n\r\n", mw.Boundary())

	// Every string from the event enters the bodies on one line, without control characters.
	text := oneLine(n.Body) + "\r\n\r\n-- \r\nSent by TaskFlow. Task " + oneLine(ev.GetTaskId()) + ".\r\n"
	var html bytes.Buffer
	if err := htmlBody.Execute(&html, struct{ Title, Due, TaskID string }{oneLine(ev.GetTitle()), oneLine(n.DueText), oneLine(ev.GetTaskId())}); err != nil {
		return nil, fmt.Errorf("render HTML body: %w", err)
	}
	for _, body := range []string{text, html.String()} {
		if strings.Contains(body, mw.Boundary()) {
			return nil, fmt.Errorf("compose: a body contains the MIME boundary")
		}
	}
	for _, part := range []struct{ ctype, body string }{
		{"text/plain; charset=utf-8", text},
		{"text/html; charset=utf-8", html.String()},
	} {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", part.ctype)
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := mw.CreatePart(h)
		if err != nil {
			return nil, fmt.Errorf("create part: %w", err)
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(part.body)); err != nil {
			return nil, fmt.Errorf("write part: %w", err)
		}
		if err := qp.Close(); err != nil {
			return nil, fmt.Errorf("write part: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("close multipart: %w", err)
	}
	return buf.Bytes(), nil
}

// oneLine removes control characters, so that a title cannot inject header lines.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
