// Package inapp delivers notifications in-app: a TaskUpdate carrying a Notification is
// published on the task-updates topic, keyed by user, for the WebSocket service to push.
package inapp

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/daprpub"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

// Topic and CloudEventType of in-app notifications.
const (
	Topic          = "task-updates"
	CloudEventType = "taskflow.update.notification.v1"
)

// Publisher publishes one event on a topic.
type Publisher interface {
	Publish(ctx context.Context, topic, ceType, key string, msg daprpub.Event) error
}

// Sender publishes in-app notifications.
type Sender struct {
	pub Publisher
}

var _ notify.Sender = (*Sender)(nil)

// NewSender returns a Sender over pub.
func NewSender(pub Publisher) *Sender { return &Sender{pub: pub} }

// Check implements notify.Sender: every reminder can be delivered in-app.
func (s *Sender) Check(*eventsv1.ReminderEvent) error { return nil }

// Update returns the TaskUpdate of n. Its event_id and the notification id are derived
// from the reminder's event_id, so a re-publish after a crash is deduplicable downstream.
func Update(n *notify.Notification) *eventsv1.TaskUpdate {
	created := timestamppb.New(n.CreatedAt)
	return &eventsv1.TaskUpdate{
		EventId:    n.UpdateID,
		UserId:     n.Reminder.GetUserId(),
		OccurredAt: created,
		Update: &eventsv1.TaskUpdate_Notification{Notification: &eventsv1.Notification{
			Id: n.ID, Title: n.Title, Body: n.Body, TaskId: n.Reminder.GetTaskId(), CreatedAt: created,
		}},
	}
}

// Send implements notify.Sender; a failed publish is transient.
func (s *Sender) Send(ctx context.Context, n *notify.Notification) error {
	if err := s.pub.Publish(ctx, Topic, CloudEventType, n.Reminder.GetUserId(), Update(n)); err != nil {
		return fmt.Errorf("publish in-app notification: %w", err)
	}
	return nil
}
