package wire

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// The names below are what the chart, dev/resources and every deployed consumer group use:
// changing one is a wire change, not a refactoring.
func TestNames(t *testing.T) {
	t.Parallel()
	want := []string{"task-events-audit-dlq", "task-events-recurring-dlq", "reminders-audit-dlq",
		"reminders-notification-dlq", "task-updates-audit-dlq", "task-updates-websocket-dlq"}
	if diff := cmp.Diff(want, DeadLetterTopics()); diff != "" {
		t.Errorf("DeadLetterTopics() (-want +got):\n%s", diff)
	}
	for _, s := range Subscriptions {
		sub := s.Service
		if sub == "recurring-task" {
			sub = SubscriberRecurring
		}
		if got := DeadLetter(s.Topic, sub); got != s.DeadLetter {
			t.Errorf("DeadLetter(%q, %q) = %q, want %q", s.Topic, sub, got, s.DeadLetter)
		}
	}
	if diff := cmp.Diff([]string{"task-events", "reminders", "task-updates"}, EventTopicNames()); diff != "" {
		t.Errorf("EventTopicNames() (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"task-events", "reminders", "task-updates"}, SubscribedTopics("audit")); diff != "" {
		t.Errorf("SubscribedTopics(audit) (-want +got):\n%s", diff)
	}
}

func TestTaskEventType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind eventsv1.TaskEventKind
		want string
	}{
		{eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED, "taskflow.task.completed.v1"},
		{eventsv1.TaskEventKind_TASK_EVENT_KIND_CREATED, "taskflow.task.created.v1"},
		{eventsv1.TaskEventKind_TASK_EVENT_KIND_DELETED, "taskflow.task.deleted.v1"},
	}
	for _, tc := range tests {
		got := TaskEventType(tc.kind)
		if got != tc.want {
			t.Errorf("TaskEventType(%v) = %q, want %q", tc.kind, got, tc.want)
		}
	}
	if TaskEventType(eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED) != TypeTaskCompleted {
		t.Errorf("TypeTaskCompleted = %q, want TaskEventType(COMPLETED)", TypeTaskCompleted)
	}
}

func TestTaskEventTypeKind(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"taskflow.task.completed.v1": "completed",
		"taskflow.task.v1":           "",
		"taskflow.task.a.b.v1":       "",
		"com.dapr.event.sent":        "",
		"taskflow.reminder.due.v1":   "",
	}
	for in, want := range tests {
		if got := TaskEventTypeKind(in); got != want {
			t.Errorf("TaskEventTypeKind(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitDeadLetter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, topic, subscriber string
		ok                      bool
	}{
		{"reminders-notification-dlq", "reminders", "notification", true},
		{"task-events-recurring-dlq", "task-events", "recurring", true},
		{"task-updates-noop-dlq", "task-updates", "noop", true},
		{"task-events--dlq", "", "", false},
		{"task-events", "", "", false},
		{"audit-checkpoints-x-dlq", "", "", false},
	}
	for _, tc := range tests {
		topic, sub, ok := SplitDeadLetter(tc.name)
		if topic != tc.topic || sub != tc.subscriber || ok != tc.ok {
			t.Errorf("SplitDeadLetter(%q) = %q, %q, %v, want %q, %q, %v", tc.name, topic, sub, ok, tc.topic, tc.subscriber, tc.ok)
		}
	}
}

func TestKeysAndTypes(t *testing.T) {
	t.Parallel()
	ev := &eventsv1.TaskEvent{EventId: "e1", Task: &eventsv1.Task{Id: "task-1", UserId: "u1"}}
	rem := &eventsv1.ReminderEvent{EventId: "e2", TaskId: "task-2", UserId: "u2"}
	up := &eventsv1.TaskUpdate{EventId: "e3", UserId: "u3"}
	for _, tc := range []struct {
		topic string
		msg   Event
		want  string
	}{{TopicTaskEvents, ev, "task-1"}, {TopicReminders, rem, "task-2"}, {TopicTaskUpdates, up, "u3"}} {
		wt, ok := LookupTopic(tc.topic)
		if !ok {
			t.Fatalf("LookupTopic(%q) not found", tc.topic)
		}
		if got := wt.Key(tc.msg); got != tc.want {
			t.Errorf("%s key = %q, want %q", tc.topic, got, tc.want)
		}
		if got, want := wt.New().ProtoReflect().Descriptor().FullName(), tc.msg.ProtoReflect().Descriptor().FullName(); got != want {
			t.Errorf("%s message = %s, want %s", tc.topic, got, want)
		}
	}
	if got := UpdateType(up); got != "taskflow.update.notification.v1" {
		t.Errorf("UpdateType(notification) = %q", got)
	}
	up.Update = &eventsv1.TaskUpdate_TaskChange{TaskChange: &eventsv1.TaskChange{}}
	if got := UpdateType(up); got != "taskflow.update.task.v1" {
		t.Errorf("UpdateType(task change) = %q", got)
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		ceType, id, key string
		want            map[string]string
		wantQuery       string
	}{
		{"all", "taskflow.task.completed.v1", "e1", "task-1",
			map[string]string{"cloudevent.type": "taskflow.task.completed.v1", "cloudevent.id": "e1", "partitionKey": "task-1"},
			"metadata.cloudevent.id=e1&metadata.cloudevent.type=taskflow.task.completed.v1&metadata.partitionKey=task-1"},
		{"type only", "t", "", "", map[string]string{"cloudevent.type": "t"}, "metadata.cloudevent.type=t"},
		{"escaped", "t", "a&b", "c d", map[string]string{"cloudevent.type": "t", "cloudevent.id": "a&b", "partitionKey": "c d"},
			"metadata.cloudevent.id=a%26b&metadata.cloudevent.type=t&metadata.partitionKey=c+d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			md := Metadata(tc.ceType, tc.id, tc.key)
			if diff := cmp.Diff(tc.want, md); diff != "" {
				t.Errorf("Metadata(%q, %q, %q) (-want +got):\n%s", tc.ceType, tc.id, tc.key, diff)
			}
			if got := MetadataQuery(md); got != tc.wantQuery {
				t.Errorf("MetadataQuery(%v) = %q, want %q", md, got, tc.wantQuery)
			}
		})
	}
}
