// Package inapp delivers notifications in-app: a TaskUpdate carrying a Notification is
// published on the task-updates topic, keyed by user, for the WebSocket service to push.
package inapp

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/daprpub"
	"github.com/taskflow/taskflow-events/internal/wire"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

// Topic and CloudEventType of in-app notifications.
const (
	Topic          = wire.TopicTaskUpdates
	CloudEventType = wire.TypeUpdateNotification
)

// Sender publishes in-app notifications.
type Sender struct {
	pub *daprpub.Publisher
}

var (
	_ notify.Sender      = (*Sender)(nil)
	_ notify.BatchSender = (*Sender)(nil)
)

// NewSender returns a Sender publishing through client to the pubsub component.
func NewSender(client daprpub.Client, pubsubName string) *Sender {
	return &Sender{pub: daprpub.New(client, pubsubName)}
}

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

// SendBatch implements notify.BatchSender with one bulk publish (daprpub.PublishBatch). A
// notification that cannot be encoded fails permanently, one not published transiently.
func (s *Sender) SendBatch(ctx context.Context, ns []*notify.Notification) []error {
	items := make([]daprpub.BatchItem, len(ns))
	for i, n := range ns {
		items[i] = daprpub.BatchItem{Key: n.Reminder.GetUserId(), Msg: Update(n)}
	}
	errs := make([]error, len(ns))
	err := s.pub.PublishBatch(ctx, Topic, CloudEventType, items)
	if err == nil {
		return errs
	}
	var be *daprpub.BatchError
	if !errors.As(err, &be) {
		for i := range errs {
			errs[i] = fmt.Errorf("bulk publish in-app notifications: %w", err)
		}
		return errs
	}
	for i, ierr := range be.Failed {
		errs[i] = fmt.Errorf("bulk publish in-app notification: %w", ierr)
		if errors.Is(ierr, daprpub.ErrMarshal) {
			errs[i] = notify.Permanent(errs[i])
		}
	}
	return errs
}
