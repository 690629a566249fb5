// Package auditlog is the audit service's tamper-evident, append-only activity log in
// PostgreSQL: records built from event messages, the hash chain, the bulk write path,
// verification, listing and partition maintenance. It knows nothing of Dapr or gRPC.
package auditlog

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// ErrInvalidRecord is wrapped by every error about an event that can never be stored.
var ErrInvalidRecord = errors.New("invalid audit record")

// maxIDLen bounds event, user and task ids (they are indexed).
const maxIDLen = 256

// Record is one event to append, before it gets its place in the chain.
type Record struct {
	EventID string
	// Topic the event arrived on.
	Topic string
	// Kind is derived from the payload, e.g. "task.completed"; see NewRecord.
	Kind string
	// CEType is the CloudEvent type the producer set.
	CEType string
	// OccurredAt is the producer's time of the event.
	OccurredAt time.Time
	ActorID    string
	UserID     string
	TaskID     string
	TraceID    string
	// Payload is the event message.
	Payload proto.Message
}

// NewRecord derives a Record from an event message. ceTime and receivedAt are the
// fallbacks for occurred_at when the message has no time of its own. The error wraps
// ErrInvalidRecord when the message can never be stored (unknown type, unspecified kind,
// invalid timestamp, oversize id).
func NewRecord(topic, ceType, traceID string, ceTime, receivedAt time.Time, msg proto.Message) (Record, error) {
	r := Record{Topic: topic, CEType: ceType, TraceID: traceID, Payload: msg}
	var occurred *timestamppb.Timestamp
	switch m := msg.(type) {
	case *eventsv1.TaskEvent:
		if m.GetKind() == eventsv1.TaskEventKind_TASK_EVENT_KIND_UNSPECIFIED {
			return Record{}, fmt.Errorf("%w: task event %s has no kind", ErrInvalidRecord, m.GetEventId())
		}
		r.EventID, r.ActorID = m.GetEventId(), m.GetActorId()
		r.UserID, r.TaskID = m.GetTask().GetUserId(), m.GetTask().GetId()
		r.Kind = "task." + enumSuffix(m.GetKind().String(), "TASK_EVENT_KIND_")
		occurred = m.GetOccurredAt()
	case *eventsv1.ReminderEvent:
		r.EventID, r.UserID, r.TaskID = m.GetEventId(), m.GetUserId(), m.GetTaskId()
		r.Kind = "reminder.due"
		occurred = m.GetRemindAt()
	case *eventsv1.TaskUpdate:
		r.EventID, r.UserID = m.GetEventId(), m.GetUserId()
		switch u := m.GetUpdate().(type) {
		case *eventsv1.TaskUpdate_TaskChange:
			r.Kind, r.TaskID = "update.task", u.TaskChange.GetTask().GetId()
		case *eventsv1.TaskUpdate_Notification:
			r.Kind, r.TaskID = "update.notification", u.Notification.GetTaskId()
		default:
			return Record{}, fmt.Errorf("%w: task update %s carries no update", ErrInvalidRecord, m.GetEventId())
		}
		occurred = m.GetOccurredAt()
	default:
		return Record{}, fmt.Errorf("%w: unsupported message type %T", ErrInvalidRecord, msg)
	}
	if r.EventID == "" {
		return Record{}, fmt.Errorf("%w: no event_id", ErrInvalidRecord)
	}
	for name, v := range map[string]string{"event_id": r.EventID, "user_id": r.UserID, "task_id": r.TaskID, "actor_id": r.ActorID} {
		if len(v) > maxIDLen {
			return Record{}, fmt.Errorf("%w: %s of event %.64s is longer than %d bytes", ErrInvalidRecord, name, r.EventID, maxIDLen)
		}
	}
	switch {
	case occurred != nil:
		if err := occurred.CheckValid(); err != nil {
			return Record{}, fmt.Errorf("%w: event %s: occurred_at: %w", ErrInvalidRecord, r.EventID, err)
		}
		r.OccurredAt = occurred.AsTime()
	case !ceTime.IsZero():
		r.OccurredAt = ceTime
	default:
		r.OccurredAt = receivedAt
	}
	r.OccurredAt = r.OccurredAt.UTC().Truncate(time.Microsecond)
	return r, nil
}

// enumSuffix turns TASK_EVENT_KIND_COMPLETED into "completed".
func enumSuffix(name, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(name, prefix))
}
