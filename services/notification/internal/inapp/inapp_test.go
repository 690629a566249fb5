package inapp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/services/notification/internal/inapp"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

// The wire contract the WebSocket service consumes; spelled out here, not taken from the
// package, so a change to it fails this test.
const (
	pubsub   = "taskflow-pubsub"
	topic    = "task-updates"
	ceType   = "taskflow.update.notification.v1"
	wireType = "application/octet-stream"
)

// published is one event as the go-sdk would send it to daprd.
type published struct {
	Topic, ContentType string
	Metadata           map[string]string
	Update             *eventsv1.TaskUpdate
}

// fakeClient implements daprpub.Client, recording what reaches the sidecar.
type fakeClient struct {
	t         *testing.T
	err       error                                  // PublishEvent's answer
	bulk      func([]any) dapr.PublishEventsResponse // nil: every event published
	pubsubs   []string
	published []published
}

func (f *fakeClient) PublishEvent(_ context.Context, pubsubName, topicName string, data any, opts ...dapr.PublishEventOption) error {
	req := &runtimev1.PublishEventRequest{}
	for _, o := range opts {
		o(req)
	}
	f.pubsubs = append(f.pubsubs, pubsubName)
	f.published = append(f.published, published{
		Topic: topicName, ContentType: req.GetDataContentType(), Metadata: req.GetMetadata(), Update: f.decode(data.([]byte)),
	})
	return f.err
}

func (f *fakeClient) PublishEvents(_ context.Context, pubsubName, topicName string, events []any, _ ...dapr.PublishEventsOption) dapr.PublishEventsResponse {
	for _, ev := range events {
		e := ev.(dapr.PublishEventsEvent)
		f.pubsubs = append(f.pubsubs, pubsubName)
		f.published = append(f.published, published{
			Topic: topicName, ContentType: e.ContentType, Metadata: e.Metadata, Update: f.decode(e.Data),
		})
	}
	if f.bulk == nil {
		return dapr.PublishEventsResponse{FailedEvents: []any{}}
	}
	return f.bulk(events)
}

func (f *fakeClient) decode(data []byte) *eventsv1.TaskUpdate {
	u := &eventsv1.TaskUpdate{}
	if err := proto.Unmarshal(data, u); err != nil {
		f.t.Errorf("payload is not a binary protobuf TaskUpdate: %v", err)
	}
	return u
}

var created = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)

func notification(id, user string) *notify.Notification {
	return &notify.Notification{
		ID:        "n-" + id,
		UpdateID:  "u-" + id,
		Reminder:  &eventsv1.ReminderEvent{EventId: "r-" + id, TaskId: "task-" + id, UserId: user},
		Title:     "Due soon: " + id,
		Body:      "Task " + id + " is due at 08:00",
		CreatedAt: created,
	}
}

// want is what the WebSocket service must receive for notification(id, user).
func want(id, user string) published {
	ts := timestamppb.New(created)
	return published{
		Topic: topic, ContentType: wireType,
		Metadata: map[string]string{"cloudevent.type": ceType, "cloudevent.id": "u-" + id, "partitionKey": user},
		Update: &eventsv1.TaskUpdate{
			EventId: "u-" + id, UserId: user, OccurredAt: ts,
			Update: &eventsv1.TaskUpdate_Notification{Notification: &eventsv1.Notification{
				Id: "n-" + id, Title: "Due soon: " + id, Body: "Task " + id + " is due at 08:00", TaskId: "task-" + id, CreatedAt: ts,
			}},
		},
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	if diff := cmp.Diff(want("1", "user-1").Update, inapp.Update(notification("1", "user-1")), protocmp.Transform()); diff != "" {
		t.Errorf("Update() (-want +got):\n%s", diff)
	}
}

func TestSend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		sidecar   error
		wantErr   bool
		published []published
	}{
		{name: "published", published: []published{want("1", "user-1")}},
		{name: "sidecar error is transient", sidecar: errors.New("connection refused"), wantErr: true, published: []published{want("1", "user-1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc := &fakeClient{t: t, err: tt.sidecar}
			s := inapp.NewSender(fc, pubsub)
			err := s.Send(context.Background(), notification("1", "user-1"))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send() = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && (notify.IsPermanent(err) || !errors.Is(err, tt.sidecar)) {
				t.Errorf("Send() = %v, want a transient error wrapping %v", err, tt.sidecar)
			}
			if diff := cmp.Diff(tt.published, fc.published, protocmp.Transform()); diff != "" {
				t.Errorf("published (-want +got):\n%s", diff)
			}
			for _, ps := range fc.pubsubs {
				if ps != pubsub {
					t.Errorf("published to component %q, want %q", ps, pubsub)
				}
			}
		})
	}
}

func TestCheckAcceptsEveryReminder(t *testing.T) {
	t.Parallel()
	s := inapp.NewSender(&fakeClient{t: t}, pubsub)
	for _, r := range []*eventsv1.ReminderEvent{{}, {UserId: "user-1", TaskId: "task-1"}} {
		if err := s.Check(r); err != nil {
			t.Errorf("Check(%v) = %v, want nil", r, err)
		}
	}
}

// errOutcome is the kind of one SendBatch result.
type errOutcome int

const (
	sent errOutcome = iota
	transient
	permanent
)

func outcome(err error) errOutcome {
	switch {
	case err == nil:
		return sent
	case notify.IsPermanent(err):
		return permanent
	default:
		return transient
	}
}

func TestSendBatch(t *testing.T) {
	t.Parallel()
	// Invalid UTF-8 in a proto3 string field cannot be marshalled.
	unencodable := notification("2", "user-2")
	unencodable.Title = "bad \xff title"
	tests := []struct {
		name string
		ns   []*notify.Notification
		bulk func([]any) dapr.PublishEventsResponse
		want []errOutcome
		// published are the ids reaching the sidecar (want(id, user) each).
		published [][2]string
	}{
		{
			name:      "all published, keyed by user",
			ns:        []*notify.Notification{notification("1", "user-1"), notification("2", "user-2"), notification("3", "user-1")},
			want:      []errOutcome{sent, sent, sent},
			published: [][2]string{{"1", "user-1"}, {"2", "user-2"}, {"3", "user-1"}},
		},
		{
			name: "whole call failed: every one transient",
			ns:   []*notify.Notification{notification("1", "user-1"), notification("2", "user-2")},
			bulk: func(events []any) dapr.PublishEventsResponse {
				return dapr.PublishEventsResponse{Error: errors.New("sidecar unavailable"), FailedEvents: events}
			},
			want:      []errOutcome{transient, transient},
			published: [][2]string{{"1", "user-1"}, {"2", "user-2"}},
		},
		{
			name: "one entry failed: only it transient",
			ns:   []*notify.Notification{notification("1", "user-1"), notification("2", "user-2"), notification("3", "user-3")},
			bulk: func(events []any) dapr.PublishEventsResponse {
				return dapr.PublishEventsResponse{Error: errors.New("1 of 3 failed"), FailedEvents: events[1:2]}
			},
			want:      []errOutcome{sent, transient, sent},
			published: [][2]string{{"1", "user-1"}, {"2", "user-2"}, {"3", "user-3"}},
		},
		{
			name:      "unencodable: permanent and not sent",
			ns:        []*notify.Notification{notification("1", "user-1"), unencodable, notification("3", "user-3")},
			want:      []errOutcome{sent, permanent, sent},
			published: [][2]string{{"1", "user-1"}, {"3", "user-3"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc := &fakeClient{t: t, bulk: tt.bulk}
			errs := inapp.NewSender(fc, pubsub).SendBatch(context.Background(), tt.ns)
			if len(errs) != len(tt.ns) {
				t.Fatalf("SendBatch(%d notifications) = %d errors, want one per notification", len(tt.ns), len(errs))
			}
			var got []errOutcome
			for _, err := range errs {
				got = append(got, outcome(err))
				if err != nil && !strings.Contains(err.Error(), "bulk publish in-app notification") {
					t.Errorf("SendBatch error %q does not say what failed", err)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SendBatch outcomes (-want +got; 0 sent, 1 transient, 2 permanent):\n%s\nerrors: %v", diff, errs)
			}
			var wantPub []published
			for _, p := range tt.published {
				wantPub = append(wantPub, want(p[0], p[1]))
			}
			if diff := cmp.Diff(wantPub, fc.published, protocmp.Transform()); diff != "" {
				t.Errorf("published (-want +got):\n%s", diff)
			}
		})
	}
}
