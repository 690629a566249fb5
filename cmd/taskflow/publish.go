package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/devstack"
	"github.com/taskflow/taskflow-events/internal/wire"
)

func cmdPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: taskflow publish task|reminder|update [flags]   (-h for flags)")
		return errUsage
	}
	what := args[0]
	fs := flag.NewFlagSet("publish "+what, flag.ContinueOnError)
	fs.SetOutput(stderr)
	stack := fs.String("stack", ".run/stack.json", "stack.json of a running `make run`")
	dapr := fs.String("dapr", "", "daprd HTTP address to publish through (default: the Task API double's sidecar)")
	file := fs.String("file", "", "JSON file with the message (protojson, snake_case); flags below are ignored")
	user := fs.String("user", devstack.DevUser, "user id")
	title := fs.String("title", "Water the plants", "task title")
	kind := fs.String("kind", "created", "task event kind: created, updated, completed, reopened, deleted")
	rrule := fs.String("rrule", "", "RFC 5545 rule for a recurring task, e.g. FREQ=WEEKLY;BYDAY=MO,TH")
	tz := fs.String("tz", "Europe/Berlin", "IANA time zone")
	due := fs.String("due", "", "due time, RFC 3339 (default: in one hour)")
	email := fs.String("email", "", "reminder: e-mail address")
	webhook := fs.String("webhook", "", "reminder: webhook URL")
	body := fs.String("body", "Hello from taskflow publish", "update: notification body")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	target := *dapr
	if target == "" {
		info, err := loadInfo(*stack)
		if err != nil {
			return err
		}
		target = info.TaskAPI.DaprHTTP
	}
	dueAt := time.Now().Add(time.Hour).Truncate(time.Minute)
	if *due != "" {
		t, err := time.Parse(time.RFC3339, *due)
		if err != nil {
			return fmt.Errorf("--due: %w", err)
		}
		dueAt = t
	}
	var msg wire.Event
	var topic, ceType, key string
	switch what {
	case "task":
		ev := &eventsv1.TaskEvent{}
		if *file == "" {
			k, ok := eventsv1.TaskEventKind_value["TASK_EVENT_KIND_"+strings.ToUpper(*kind)]
			if !ok {
				return fmt.Errorf("--kind %q: want created, updated, completed, reopened or deleted", *kind)
			}
			id := uuid.NewString()
			ev = &eventsv1.TaskEvent{Kind: eventsv1.TaskEventKind(k), OccurredAt: timestamppb.Now(), ActorId: *user,
				Task: &eventsv1.Task{Id: id, UserId: *user, Title: *title, TimeZone: *tz, DueAt: timestamppb.New(dueAt),
					Status: eventsv1.TaskStatus_TASK_STATUS_OPEN, CreatedAt: timestamppb.Now(), UpdatedAt: timestamppb.Now()}}
			if ev.Kind == eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED {
				ev.Task.Status, ev.Task.CompletedAt = eventsv1.TaskStatus_TASK_STATUS_COMPLETED, timestamppb.Now()
			}
			if *rrule != "" {
				ev.Task.Recurrence = &eventsv1.Recurrence{Rrule: *rrule, SeriesId: id, Dtstart: timestamppb.New(dueAt)}
			}
		}
		if err := fill(*file, ev); err != nil {
			return err
		}
		msg, topic, ceType, key = ev, wire.TopicTaskEvents, wire.TaskEventType(ev.GetKind()), wire.TaskEventKey(ev)
	case "reminder":
		ev := &eventsv1.ReminderEvent{}
		if *file == "" {
			ev = &eventsv1.ReminderEvent{ReminderId: uuid.NewString(), TaskId: uuid.NewString(), UserId: *user, Title: *title,
				DueAt: timestamppb.New(dueAt), RemindAt: timestamppb.Now(), TimeZone: *tz,
				Targets: &eventsv1.DeliveryTargets{Email: *email, WebhookUrl: *webhook}}
		}
		if err := fill(*file, ev); err != nil {
			return err
		}
		msg, topic, ceType, key = ev, wire.TopicReminders, wire.TypeReminderDue, wire.ReminderKey(ev)
	case "update":
		ev := &eventsv1.TaskUpdate{}
		if *file == "" {
			ev = &eventsv1.TaskUpdate{UserId: *user, OccurredAt: timestamppb.Now(), Update: &eventsv1.TaskUpdate_Notification{
				Notification: &eventsv1.Notification{Id: uuid.NewString(), Title: *title, Body: *body, CreatedAt: timestamppb.Now()}}}
		}
		if err := fill(*file, ev); err != nil {
			return err
		}
		msg, topic, ceType, key = ev, wire.TopicTaskUpdates, wire.UpdateType(ev), wire.UpdateKey(ev)
	default:
		return fmt.Errorf("%w: publish %q: want task, reminder or update", errUsage, what)
	}
	if err := devstack.Publish(ctx, target, topic, ceType, key, msg); err != nil {
		return err
	}
	out, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(msg)
	fmt.Fprintf(stdout, "published %s to %s through %s:\n%s\n", ceType, topic, target, out)
	return nil
}

// fill reads a protojson file into m (when file is set) and gives m an event_id if it has none.
func fill(file string, m wire.Event) error {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, m); err != nil {
			return fmt.Errorf("parse %s as %s: %w", file, m.ProtoReflect().Descriptor().FullName(), err)
		}
	}
	if m.GetEventId() == "" {
		f := m.ProtoReflect().Descriptor().Fields().ByName("event_id")
		m.ProtoReflect().Set(f, protoreflect.ValueOfString(uuid.NewString()))
	}
	return nil
}
