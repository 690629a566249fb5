package wire

import (
	"strings"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// CloudEvent types, set through the publish metadata (MetaType). Routing rules match on
// them (`event.type == "..."`) because CEL cannot see inside binary data.
const (
	// TypeTaskCompleted is TaskEventType(TASK_EVENT_KIND_COMPLETED), the only task event
	// the recurring-task service's routing rule delivers.
	TypeTaskCompleted      = taskTypePrefix + "completed" + typeSuffix
	TypeReminderDue        = "taskflow.reminder.due.v1"
	TypeUpdateTask         = "taskflow.update.task.v1"
	TypeUpdateNotification = "taskflow.update.notification.v1"
	TypeAuditCheckpoint    = "taskflow.audit.checkpoint.v1"
)

const (
	taskTypePrefix = "taskflow.task."
	typeSuffix     = ".v1"
)

// TaskEventType returns the CloudEvent type a TaskEvent of kind is published with,
// "taskflow.task.<kind>.v1", e.g. "taskflow.task.completed.v1" for TASK_EVENT_KIND_COMPLETED.
func TaskEventType(kind eventsv1.TaskEventKind) string {
	return taskTypePrefix + strings.ToLower(strings.TrimPrefix(kind.String(), "TASK_EVENT_KIND_")) + typeSuffix
}

// TaskEventTypeKind returns the <kind> of a "taskflow.task.<kind>.v1" type, or "" when
// ceType names no task event kind.
func TaskEventTypeKind(ceType string) string {
	rest, ok := strings.CutPrefix(ceType, taskTypePrefix)
	if !ok {
		return ""
	}
	kind, ok := strings.CutSuffix(rest, typeSuffix)
	if !ok || strings.Contains(kind, ".") {
		return ""
	}
	return kind
}

// UpdateType returns the CloudEvent type of a TaskUpdate: a task change or a notification.
func UpdateType(up *eventsv1.TaskUpdate) string {
	if up.GetTaskChange() != nil {
		return TypeUpdateTask
	}
	return TypeUpdateNotification
}

// Partition keys: task events and reminders are keyed by task, so the events of one task
// stay in order; updates by user, so one user's WebSocket sees them in order.

// TaskEventKey is the partition key of a TaskEvent: its task id.
func TaskEventKey(ev *eventsv1.TaskEvent) string { return ev.GetTask().GetId() }

// ReminderKey is the partition key of a ReminderEvent: its task id.
func ReminderKey(ev *eventsv1.ReminderEvent) string { return ev.GetTaskId() }

// UpdateKey is the partition key of a TaskUpdate: its user id.
func UpdateKey(up *eventsv1.TaskUpdate) string { return up.GetUserId() }

// CheckpointKey is the partition key of every audit checkpoint: one key, one partition,
// so checkpoints are read in the order they were signed.
const CheckpointKey = TopicAuditCheckpoints
