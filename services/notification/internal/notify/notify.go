// Package notify decides how a due-date reminder is delivered: on which channels, whether
// it is too late to bother, and what the delivery ledger says was already done. It knows
// nothing about Dapr, gRPC, SQL, HTTP or SMTP: channels and the ledger are interfaces.
package notify

import (
	"errors"
	"fmt"
	"github.com/google/uuid"
	"time"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/zoneinfo"
)

// Channel is a way a reminder reaches the user. The values are stored in the ledger.
type Channel string

// The channels, in the order they are attempted.
const (
	InApp   Channel = "in_app"
	Webhook Channel = "webhook"
	Email   Channel = "email"
)

// Status is the ledger state of one channel of one reminder. The values are stored.
type Status string

// The statuses. Delivered, Failed and Skipped are final; Retrying and Held wait for the
// scheduler (their next attempt time); Sending is leased to the attempt that marked it.
const (
	Sending   Status = "sending"
	Delivered Status = "delivered"
	Retrying  Status = "retrying"
	Held      Status = "held"
	Failed    Status = "failed"
	Skipped   Status = "skipped"
)

// Final reports whether s never changes again.
func (s Status) Final() bool { return s == Delivered || s == Failed || s == Skipped }

// Notification is what every channel delivers: one reminder, rendered once.
type Notification struct {
	// ID is derived from the reminder's event_id: the same on every channel and every
	// redelivery, so receivers can deduplicate (in-app Notification.id, webhook-id,
	// e-mail Message-ID).
	ID string
	// UpdateID is the event_id of the TaskUpdate that carries the in-app notification.
	UpdateID string
	// Reminder is the event being delivered.
	Reminder *eventsv1.ReminderEvent
	// Title and Body are the human-readable text.
	Title, Body string
	// DueLocal is the due time in the user's time zone; zero when the reminder has none.
	DueLocal time.Time
	// DueText is DueLocal rendered for people, e.g. "Monday, 2 March 2026 at 08:00 CET".
	DueText string
	// CreatedAt is when this attempt rendered the notification.
	CreatedAt time.Time
}

// New renders the notification of a reminder at now.
func New(ev *eventsv1.ReminderEvent, now time.Time) *Notification {
	n := &Notification{
		ID:        UUIDv5("notification:" + ev.GetEventId()),
		UpdateID:  UUIDv5("task-update:" + ev.GetEventId()),
		Reminder:  ev,
		Title:     "Reminder: " + ev.GetTitle(),
		CreatedAt: now,
	}
	if ev.GetDueAt() != nil {
		loc := location(ev.GetTimeZone())
		n.DueLocal = ev.GetDueAt().AsTime().In(loc)
		n.DueText = n.DueLocal.Format("Monday, 2 January 2006 at 15:04 MST")
		if loc != time.UTC {
			n.DueText += " (" + loc.String() + ")"
		}
		n.Body = fmt.Sprintf("%q is due %s.", ev.GetTitle(), n.DueText)
	} else {
		n.Body = fmt.Sprintf("Reminder for %q.", ev.GetTitle())
	}
	return n
}

// location loads an IANA zone; an empty or unknown zone renders in UTC.
func location(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	loc, err := zoneinfo.Load(name)
	if err != nil {
		return time.UTC
	}
	return loc
}

// namespace is the UUIDv5 namespace of notification ids (a random UUID fixed forever).
var namespace = uuid.UUID{0x5d, 0x3f, 0x0c, 0x8e, 0x6b, 0x1a, 0x4f, 0x2d, 0x9e, 0x47, 0xa1, 0x0b, 0x3c, 0x72, 0xd5, 0x19}

// UUIDv5 returns the RFC 9562 name-based (SHA-1) UUID of name in the notification namespace.
func UUIDv5(name string) string { return uuid.NewSHA1(namespace, []byte(name)).String() }

// permanentError marks a channel failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a permanent channel failure: the channel is recorded as failed
// and not retried. Any other error from a Sender is transient. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
