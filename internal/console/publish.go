package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// publishForm is the page's publish form: a task completion, a reminder or an update, with
// the same fields and defaults as `taskflow publish`.
type publishForm struct {
	What    string `json:"what"` // task, reminder, update
	User    string `json:"user"`
	Title   string `json:"title"`
	RRule   string `json:"rrule"`
	TZ      string `json:"tz"`
	Due     string `json:"due"` // RFC 3339 or wall time in TZ; default in one hour
	Email   string `json:"email"`
	Webhook string `json:"webhook"`
	Body    string `json:"body"`
}

// published is what the page learns about the event it published.
type published struct {
	EventID string `json:"event_id"`
	Topic   string `json:"topic"`
	Type    string `json:"type"`
	Key     string `json:"key"`
}

// fieldError is a form mistake, shown next to Field.
type fieldError struct{ Field, Msg string }

func (e *fieldError) Error() string { return e.Msg }

// build turns the form into the event, its topic, CloudEvent type and partition key.
func (f publishForm) build(now time.Time) (wire.Event, published, error) {
	if strings.TrimSpace(f.User) == "" {
		return nil, published{}, &fieldError{"user", "user: required"}
	}
	if strings.TrimSpace(f.Title) == "" {
		return nil, published{}, &fieldError{"title", "title: required"}
	}
	if f.TZ == "" {
		f.TZ = "UTC"
	}
	loc, err := time.LoadLocation(f.TZ)
	if err != nil {
		return nil, published{}, &fieldError{"tz", fmt.Sprintf("time zone %q: want an IANA name such as Europe/Berlin", f.TZ)}
	}
	due := now.Add(time.Hour).Truncate(time.Minute)
	if f.Due != "" {
		if due, err = parseLocal(f.Due, loc); err != nil {
			return nil, published{}, &fieldError{"due", "due: " + err.Error()}
		}
	}
	ts, id := timestamppb.New(now), uuid.NewString()
	switch f.What {
	case "task":
		ev := &eventsv1.TaskEvent{EventId: uuid.NewString(), Kind: eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED, OccurredAt: ts, ActorId: f.User,
			Task: &eventsv1.Task{Id: id, UserId: f.User, Title: f.Title, TimeZone: f.TZ, DueAt: timestamppb.New(due),
				Status: eventsv1.TaskStatus_TASK_STATUS_COMPLETED, CompletedAt: ts, CreatedAt: ts, UpdatedAt: ts}}
		if f.RRule != "" {
			ev.Task.Recurrence = &eventsv1.Recurrence{Rrule: f.RRule, SeriesId: id, Dtstart: timestamppb.New(due)}
		}
		return ev, published{ev.EventId, wire.TopicTaskEvents, wire.TaskEventType(ev.Kind), wire.TaskEventKey(ev)}, nil
	case "reminder":
		ev := &eventsv1.ReminderEvent{EventId: uuid.NewString(), ReminderId: uuid.NewString(), TaskId: id, UserId: f.User, Title: f.Title,
			DueAt: timestamppb.New(due), RemindAt: ts, TimeZone: f.TZ, Targets: &eventsv1.DeliveryTargets{Email: f.Email, WebhookUrl: f.Webhook}}
		return ev, published{ev.EventId, wire.TopicReminders, wire.TypeReminderDue, wire.ReminderKey(ev)}, nil
	case "update":
		body := f.Body
		if body == "" {
			body = "Hello from the console"
		}
		ev := &eventsv1.TaskUpdate{EventId: uuid.NewString(), UserId: f.User, OccurredAt: ts, Update: &eventsv1.TaskUpdate_Notification{
			Notification: &eventsv1.Notification{Id: uuid.NewString(), Title: f.Title, Body: body, CreatedAt: ts}}}
		return ev, published{ev.EventId, wire.TopicTaskUpdates, wire.UpdateType(ev), wire.UpdateKey(ev)}, nil
	}
	return nil, published{}, &fieldError{"what", fmt.Sprintf("what %q: want task, reminder or update", f.What)}
}

func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	var f publishForm
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&f); err != nil {
		writeError(w, http.StatusBadRequest, "", "want a JSON form: "+err.Error())
		return
	}
	msg, pub, err := f.build(s.cfg.Now())
	if err != nil {
		var fe *fieldError
		if !errors.As(err, &fe) {
			writeError(w, http.StatusBadRequest, "", err.Error())
			return
		}
		writeError(w, http.StatusBadRequest, fe.Field, fe.Msg)
		return
	}
	if f.What == "task" && f.RRule != "" {
		// The recurring service would drop a rule it cannot read: ask it first, so the
		// form shows its error next to the rule instead of a dead letter later.
		tz := cmp.Or(f.TZ, "UTC")
		loc, _ := time.LoadLocation(tz) // build checked it
		if _, err := s.preview(r.Context(), f.RRule, tz, s.cfg.Now().In(loc), 1); err != nil {
			writeBackendError(w, "the recurring-task service", "rrule", err)
			return
		}
	}
	if s.cfg.Publisher == nil {
		writeBackendError(w, "daprd", "", errBackendMissing)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CallTimeout)
	defer cancel()
	if err := s.cfg.Publisher.Publish(ctx, pub.Topic, pub.Type, pub.Key, msg); err != nil {
		writeJSON(w, http.StatusBadGateway, apiError{Error: "publish through daprd: " + err.Error(), Down: true})
		return
	}
	writeJSON(w, http.StatusOK, pub)
}
