package daprsub

import (
	"errors"
	"strings"
	"testing"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

func TestCheckTaskEvent(t *testing.T) {
	t.Parallel()
	completed := &eventsv1.TaskEvent{EventId: "e1", Kind: eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED}
	// What protojson with DiscardUnknown makes of "kind": "completed".
	var fromJSON eventsv1.TaskEvent
	if err := Decode("application/json", []byte(`{"event_id":"e2","kind":"completed"}`), &fromJSON); err != nil {
		t.Fatalf("Decode error: %v", err)
	}
	tests := []struct {
		name, ceType string
		msg          any
		wantMsg      string // "" for no error
	}{
		{"agrees", "taskflow.task.completed.v1", completed, ""},
		{"daprd default type", "com.dapr.event.sent", completed, ""},
		{"no type", "", completed, ""},
		{"type without a kind", "taskflow.task.v1", completed, ""},
		{"unknown kind in type", "taskflow.task.finished.v1", completed, `CloudEvent type "taskflow.task.finished.v1" but kind`},
		{"other message", "taskflow.task.completed.v1", &eventsv1.ReminderEvent{EventId: "r"}, ""},
		{"kind from a JSON producer's lower-case value", "taskflow.task.completed.v1", &fromJSON, "task event e2 has no kind"},
		{"disagrees", "taskflow.task.created.v1", completed,
			`CloudEvent type "taskflow.task.created.v1" but kind TASK_EVENT_KIND_COMPLETED (want type "taskflow.task.completed.v1")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckTaskEvent(tt.ceType, tt.msg)
			switch {
			case tt.wantMsg == "" && err != nil:
				t.Errorf("CheckTaskEvent(%q) = %v, want nil", tt.ceType, err)
			case tt.wantMsg != "" && (!errors.Is(err, ErrInvalidEvent) || !strings.Contains(err.Error(), tt.wantMsg)):
				t.Errorf("CheckTaskEvent(%q) = %v, want ErrInvalidEvent mentioning %q", tt.ceType, err, tt.wantMsg)
			}
		})
	}
}
