// Package inapp delivers notifications in-app: a TaskUpdate carrying a Notification is
// published on the task-updates topic, keyed by user, for the WebSocket service to push.
package inapp

import (
	"context"
	"fmt"
	"strconv"

	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/protobuf/proto"
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

// Client is the part of the go-sdk client the sender uses.
type Client interface {
	daprpub.Client
	PublishEvents(ctx context.Context, pubsubName, topicName string, events []any, opts ...dapr.PublishEventsOption) dapr.PublishEventsResponse
}

// Sender publishes in-app notifications.
type Sender struct {
	client Client
	pubsub string
	pub    *daprpub.Publisher
}

var (
	_ notify.Sender      = (*Sender)(nil)
	_ notify.BatchSender = (*Sender)(nil)
)

// NewSender returns a Sender publishing through client to the pubsub component.
func NewSender(client Client, pubsubName string) *Sender {
	return &Sender{client: client, pubsub: pubsubName, pub: daprpub.New(client, pubsubName)}
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

// SendBatch implements notify.BatchSender with one bulk publish (daprd's
// BulkPublishEventAlpha1), each entry in the same wire format as daprpub.Publish.
func (s *Sender) SendBatch(ctx context.Context, ns []*notify.Notification) []error {
	errs := make([]error, len(ns))
	events := make([]any, len(ns))
	for i, n := range ns {
		u := Update(n)
		data, err := proto.Marshal(u)
		if err != nil {
			errs[i] = notify.Permanent(fmt.Errorf("marshal TaskUpdate: %w", err))
			continue
		}
		events[i] = dapr.PublishEventsEvent{
			EntryID: strconv.Itoa(i), Data: data, ContentType: daprpub.ContentType,
			Metadata: map[string]string{"cloudevent.type": CloudEventType, "cloudevent.id": u.GetEventId(), "partitionKey": u.GetUserId()},
		}
	}
	valid := events[:0:0]
	for _, e := range events {
		if e != nil {
			valid = append(valid, e)
		}
	}
	resp := s.client.PublishEvents(ctx, s.pubsub, Topic, valid)
	if resp.Error == nil {
		return errs
	}
	failed := fmt.Errorf("bulk publish in-app notifications: %w", resp.Error)
	if len(resp.FailedEvents) == 0 {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = failed
			}
		}
		return errs
	}
	for _, fe := range resp.FailedEvents {
		if e, ok := fe.(dapr.PublishEventsEvent); ok {
			if i, err := strconv.Atoi(e.EntryID); err == nil && i < len(errs) {
				errs[i] = failed
			}
		}
	}
	return errs
}
