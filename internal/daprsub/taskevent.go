package daprsub

import (
	"fmt"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/wire"
)

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
	if wire.TaskEventTypeKind(ceType) != "" && ceType != wire.TaskEventType(kind) {
		return fmt.Errorf("%w: task event %s has CloudEvent type %q but kind %s (want type %q)",
			ErrInvalidEvent, ev.GetEventId(), ceType, kind, wire.TaskEventType(kind))
	}
	return nil
}
