package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// publication is one event `taskflow publish` sends, with where and how it goes.
type publication struct {
	msg                wire.Event
	topic, ceType, key string
}

// buildPublication builds the event named by f.what from the flags, or reads it from
// --file, and gives it an event_id if it has none.
func buildPublication(f publishFlags, dueAt time.Time) (publication, error) {
	switch f.what {
	case "task":
		ev := &eventsv1.TaskEvent{}
		if f.file == "" {
			var err error
			if ev, err = taskEventFromFlags(f, dueAt); err != nil {
				return publication{}, err
			}
		}
		if err := fill(f.file, ev); err != nil {
			return publication{}, err
		}
		return publication{ev, wire.TopicTaskEvents, wire.TaskEventType(ev.GetKind()), wire.TaskEventKey(ev)}, nil
	case "reminder":
		ev := &eventsv1.ReminderEvent{}
		if f.file == "" {
			ev = &eventsv1.ReminderEvent{ReminderId: uuid.NewString(), TaskId: uuid.NewString(), UserId: f.user, Title: f.title,
				DueAt: timestamppb.New(dueAt), RemindAt: timestamppb.Now(), TimeZone: f.tz,
				Targets: &eventsv1.DeliveryTargets{Email: f.email, WebhookUrl: f.webhook}}
		}
		if err := fill(f.file, ev); err != nil {
			return publication{}, err
		}
		return publication{ev, wire.TopicReminders, wire.TypeReminderDue, wire.ReminderKey(ev)}, nil
	case "update":
		ev := &eventsv1.TaskUpdate{}
		if f.file == "" {
			ev = &eventsv1.TaskUpdate{UserId: f.user, OccurredAt: timestamppb.Now(), Update: &eventsv1.TaskUpdate_Notification{
				Notification: &eventsv1.Notification{Id: uuid.NewString(), Title: f.title, Body: f.body, CreatedAt: timestamppb.Now()}}}
		}
		if err := fill(f.file, ev); err != nil {
			return publication{}, err
		}
		return publication{ev, wire.TopicTaskUpdates, wire.UpdateType(ev), wire.UpdateKey(ev)}, nil
	}
	return publication{}, fmt.Errorf("%w: publish %q: want task, reminder or update", errUsage, f.what)
}

// taskEventFromFlags builds a task event of --kind for a new task; with --rrule the task
// recurs, starting at its due time.
func taskEventFromFlags(f publishFlags, dueAt time.Time) (*eventsv1.TaskEvent, error) {
	k, ok := eventsv1.TaskEventKind_value["TASK_EVENT_KIND_"+strings.ToUpper(f.kind)]
	if !ok {
		return nil, fmt.Errorf("--kind %q: want created, updated, completed, reopened or deleted", f.kind)
	}
	id := uuid.NewString()
	ev := &eventsv1.TaskEvent{Kind: eventsv1.TaskEventKind(k), OccurredAt: timestamppb.Now(), ActorId: f.user,
		Task: &eventsv1.Task{Id: id, UserId: f.user, Title: f.title, TimeZone: f.tz, DueAt: timestamppb.New(dueAt),
			Status: eventsv1.TaskStatus_TASK_STATUS_OPEN, CreatedAt: timestamppb.Now(), UpdatedAt: timestamppb.Now()}}
	if ev.Kind == eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED {
		ev.Task.Status, ev.Task.CompletedAt = eventsv1.TaskStatus_TASK_STATUS_COMPLETED, timestamppb.Now()
	}
	if f.rrule != "" {
		ev.Task.Recurrence = &eventsv1.Recurrence{Rrule: f.rrule, SeriesId: id, Dtstart: timestamppb.New(dueAt)}
	}
	return ev, nil
}
