package daprsub

import (
	"fmt"
	"strings"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// taskTypePrefix starts the CloudEvent type of every TaskEvent: "taskflow.task.<kind>.v1".
const taskTypePrefix = "taskflow.task."

// TaskEventType returns the CloudEvent type a TaskEvent of kind is published with, e.g.
// "taskflow.task.completed.v1" for TASK_EVENT_KIND_COMPLETED.
func TaskEventType(kind eventsv1.TaskEventKind) string {
	return taskTypePrefix + strings.ToLower(strings.TrimPrefix(kind.String(), "TASK_EVENT_KIND_")) + ".v1"
}

// CheckTaskEvent returns an error wrapping ErrInvalidEvent when msg is a TaskEvent whose
// kind is unset, or whose kind disagrees with a "taskflow.task.<kind>.v1" CloudEvent type. Every
// consumer of task events drops such an event (to its dead-letter topic) with this reason.
//
// Why it matters: JSON is decoded with unknown values discarded, so a producer that sends
// "kind": "completed" instead of the enum name "TASK_EVENT_KIND_COMPLETED" gets an unset
// kind, and routing on the CloudEvent type alone would then act on an event whose payload
// says nothing (or something else). Other message types and CloudEvent types that name no
// kind (daprd's default "com.dapr.event.sent", "taskflow.task.v1") pass.
func CheckTaskEvent(ceType string, msg any) error {
	ev, ok := msg.(*eventsv1.TaskEvent)
	if !ok {
		return nil
	}
	kind := ev.GetKind()
	if kind == eventsv1.TaskEventKind_TASK_EVENT_KIND_UNSPECIFIED {
		return fmt.Errorf("%w: task event %s has no kind (want an enum name such as %q; "+
			"in JSON an unknown value such as \"completed\" reads as no kind)",
			ErrInvalidEvent, ev.GetEventId(), eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED.String())
	}
	if typeKind(ceType) != "" && ceType != TaskEventType(kind) {
		return fmt.Errorf("%w: task event %s has CloudEvent type %q but kind %s (want type %q)",
			ErrInvalidEvent, ev.GetEventId(), ceType, kind, TaskEventType(kind))
	}
	return nil
}

// typeKind returns the <kind> of a "taskflow.task.<kind>.v1" type, or "".
func typeKind(ceType string) string {
	rest, ok := strings.CutPrefix(ceType, taskTypePrefix)
	if !ok {
		return ""
	}
	kind, ok := strings.CutSuffix(rest, ".v1")
	if !ok || strings.Contains(kind, ".") {
		return ""
	}
	return kind
}
