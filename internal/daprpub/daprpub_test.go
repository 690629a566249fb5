package daprpub

import (
	"context"
	"errors"
	"testing"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// fakeClient records one PublishEvent call as the go-sdk would send it, or one
// PublishEvents call with the events as given.
type fakeClient struct {
	pubsub, topic string
	data          []byte
	contentType   string
	metadata      map[string]string
	err           error

	calls  int
	events []any
	bulk   func(events []any) dapr.PublishEventsResponse // nil: all published
}

func (f *fakeClient) PublishEvents(_ context.Context, pubsub, topic string, events []any, _ ...dapr.PublishEventsOption) dapr.PublishEventsResponse {
	f.calls++
	f.pubsub, f.topic, f.events = pubsub, topic, events
	if f.bulk == nil {
		return dapr.PublishEventsResponse{FailedEvents: []any{}}
	}
	return f.bulk(events)
}

func (f *fakeClient) PublishEvent(_ context.Context, pubsub, topic string, data interface{}, opts ...dapr.PublishEventOption) error {
	f.pubsub, f.topic, f.data = pubsub, topic, data.([]byte)
	req := &runtimev1.PublishEventRequest{}
	for _, o := range opts {
		o(req)
	}
	f.contentType, f.metadata = req.GetDataContentType(), req.GetMetadata()
	return f.err
}

func TestPublishWireFormat(t *testing.T) {
	t.Parallel()
	fc := &fakeClient{}
	p := New(fc, "taskflow-pubsub")
	msg := &eventsv1.TaskUpdate{EventId: "evt-1", UserId: "user-1",
		Update: &eventsv1.TaskUpdate_Notification{Notification: &eventsv1.Notification{Id: "n-1", Title: "Due soon"}}}
	if err := p.Publish(context.Background(), "task-updates", "taskflow.update.notification.v1", "user-1", msg); err != nil {
		t.Fatalf("Publish() = %v", err)
	}
	if fc.pubsub != "taskflow-pubsub" || fc.topic != "task-updates" {
		t.Errorf("published to %s/%s, want taskflow-pubsub/task-updates", fc.pubsub, fc.topic)
	}
	if fc.contentType != "application/octet-stream" {
		t.Errorf("content type = %q, want application/octet-stream", fc.contentType)
	}
	wantMD := map[string]string{"cloudevent.type": "taskflow.update.notification.v1", "cloudevent.id": "evt-1", "partitionKey": "user-1"}
	if diff := cmp.Diff(wantMD, fc.metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	got := &eventsv1.TaskUpdate{}
	if err := proto.Unmarshal(fc.data, got); err != nil {
		t.Fatalf("payload is not binary protobuf: %v", err)
	}
	if diff := cmp.Diff(msg, got, protocmp.Transform()); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

func TestPublishError(t *testing.T) {
	t.Parallel()
	p := New(&fakeClient{err: errors.New("sidecar unavailable")}, "ps")
	err := p.Publish(context.Background(), "t", "x.v1", "", &eventsv1.TaskUpdate{EventId: "e"})
	if err == nil || err.Error() != "publish x.v1 to t: sidecar unavailable" {
		t.Errorf("Publish() = %v, want wrapped sidecar error", err)
	}
}
