package notify

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// request decides, before any I/O, what each channel of a newly arrived reminder does.
func (h *Handler) request(ev *eventsv1.ReminderEvent, n *Notification, p Preferences, now time.Time) Request {
	r := Request{
		Key:      Key{EventID: ev.GetEventId(), UserID: ev.GetUserId(), TaskID: ev.GetTaskId(), NotificationID: n.ID},
		Reminder: ev,
	}
	channels := []Channel{InApp}
	if ev.GetTargets().GetWebhookUrl() != "" {
		channels = append(channels, Webhook)
	}
	if ev.GetTargets().GetEmail() != "" {
		channels = append(channels, Email)
	}
	holdUntil, quiet := h.quiet(ev, p, now)
	if ref := reference(ev); ref != nil && h.maxLateness > 0 {
		// A reminder held by quiet hours is late from their end, not from its due time.
		base := ref.AsTime()
		if quiet && holdUntil.After(base) {
			base = holdUntil
		}
		r.StaleAfter = base.Add(h.maxLateness)
	}
	late, stale := h.lateness(ev, now)
	for _, c := range channels {
		plan := Plan{Channel: c, Status: Sending}
		s, ok := h.senders[c]
		switch {
		case stale:
			plan = Plan{Channel: c, Status: Skipped,
				Error: fmt.Sprintf("stale: arrived %s after its due time, more than the allowed %s", late.Round(time.Second), h.maxLateness)}
		case p.Off(c):
			plan = Plan{Channel: c, Status: Skipped, Error: "turned off in the user's preferences"}
		case !ok:
			plan = Plan{Channel: c, Status: Failed, Error: "channel not configured"}
		case quiet:
			if err := s.Check(ev); err != nil {
				plan = Plan{Channel: c, Status: Failed, Error: err.Error()}
				break
			}
			plan = Plan{Channel: c, Status: Held, NextAttempt: holdUntil, Error: heldReason(p, holdUntil)}
		default:
			if err := s.Check(ev); err != nil {
				plan = Plan{Channel: c, Status: Failed, Error: err.Error()}
			}
		}
		r.Plans = append(r.Plans, plan)
	}
	return r
}

// quiet returns when the user's quiet hours end, if now falls in them and the reminder is
// not urgent.
func (h *Handler) quiet(ev *eventsv1.ReminderEvent, p Preferences, now time.Time) (time.Time, bool) {
	if p.Quiet == nil || ev.GetUrgent() {
		return time.Time{}, false
	}
	return p.Quiet.Until(now)
}

func heldReason(p Preferences, until time.Time) string {
	zone := p.Quiet.TimeZone
	if zone == "" {
		zone = "UTC"
	}
	return fmt.Sprintf("held: quiet hours %s to %s (%s) end at %s", Clock(p.Quiet.Start), Clock(p.Quiet.End), zone, until.UTC().Format(time.RFC3339))
}

// reference is the time a reminder is late from: its due time, else its scheduled time.
func reference(ev *eventsv1.ReminderEvent) *timestamppb.Timestamp {
	if ev.GetDueAt() != nil {
		return ev.GetDueAt()
	}
	if ev.GetRemindAt() != nil {
		return ev.GetRemindAt()
	}
	return nil
}

// lateness returns how long after its due time (or, without one, its scheduled time)
// the reminder is handled, and whether that is beyond maxLateness.
func (h *Handler) lateness(ev *eventsv1.ReminderEvent, now time.Time) (time.Duration, bool) {
	ref := reference(ev)
	if ref == nil || h.maxLateness <= 0 {
		return 0, false
	}
	late := now.Sub(ref.AsTime())
	return late, late > h.maxLateness
}
