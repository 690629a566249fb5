package daprpub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

func update(id, user string) *eventsv1.TaskUpdate {
	return &eventsv1.TaskUpdate{EventId: id, UserId: user,
		Update: &eventsv1.TaskUpdate_Notification{Notification: &eventsv1.Notification{Id: "n-" + id, Title: "Due soon"}}}
}

func TestPublishBatchWireFormat(t *testing.T) {
	t.Parallel()
	fc := &fakeClient{}
	p := New(fc, "taskflow-pubsub")
	items := []BatchItem{{Key: "user-1", Msg: update("evt-1", "user-1")}, {Key: "user-2", Msg: update("evt-2", "user-2")}}
	if err := p.PublishBatch(context.Background(), "task-updates", "taskflow.update.notification.v1", items); err != nil {
		t.Fatalf("PublishBatch() = %v", err)
	}
	if fc.calls != 1 || fc.pubsub != "taskflow-pubsub" || fc.topic != "task-updates" {
		t.Errorf("%d bulk publishes to %s/%s, want 1 to taskflow-pubsub/task-updates", fc.calls, fc.pubsub, fc.topic)
	}
	if len(fc.events) != len(items) {
		t.Fatalf("bulk entries = %d, want %d", len(fc.events), len(items))
	}
	for i, e := range fc.events {
		ev, ok := e.(dapr.PublishEventsEvent)
		if !ok {
			t.Fatalf("entry %d is a %T, want dapr.PublishEventsEvent (per-entry content type and metadata)", i, e)
		}
		if ev.EntryID != fmt.Sprint(i) {
			t.Errorf("entry %d id = %q, want %q", i, ev.EntryID, fmt.Sprint(i))
		}
		if ev.ContentType != "application/octet-stream" {
			t.Errorf("entry %d content type = %q, want application/octet-stream", i, ev.ContentType)
		}
		msg := items[i].Msg
		wantMD := map[string]string{"cloudevent.type": "taskflow.update.notification.v1", "cloudevent.id": msg.GetEventId(), "partitionKey": items[i].Key}
		if diff := cmp.Diff(wantMD, ev.Metadata); diff != "" {
			t.Errorf("entry %d metadata (-want +got):\n%s", i, diff)
		}
		got := &eventsv1.TaskUpdate{}
		if err := proto.Unmarshal(ev.Data, got); err != nil {
			t.Fatalf("entry %d payload is not binary protobuf: %v", i, err)
		}
		if diff := cmp.Diff(msg, got, protocmp.Transform()); diff != "" {
			t.Errorf("entry %d payload (-want +got):\n%s", i, diff)
		}
	}
}

func TestPublishBatchEmpty(t *testing.T) {
	t.Parallel()
	fc := &fakeClient{}
	if err := New(fc, "ps").PublishBatch(context.Background(), "t", "x.v1", nil); err != nil || fc.calls != 0 {
		t.Errorf("PublishBatch(nil) = %v after %d bulk publishes, want nil after 0", err, fc.calls)
	}
}

func TestPublishBatchFailures(t *testing.T) {
	t.Parallel()
	unavailable := status.Error(codes.Unavailable, "sidecar unavailable")
	// The go-sdk v1.11 wraps the gRPC error when the call failed and returns every event;
	// for entries daprd listed as failed it returns those events and wraps a nil error.
	callFailed := func(events []any) dapr.PublishEventsResponse {
		return dapr.PublishEventsResponse{Error: fmt.Errorf("error publishing events unto t topic: %w", unavailable), FailedEvents: events}
	}
	entryFailed := func(entries ...int) func([]any) dapr.PublishEventsResponse {
		return func(events []any) dapr.PublishEventsResponse {
			var fe []any
			for _, i := range entries {
				fe = append(fe, events[i])
			}
			return dapr.PublishEventsResponse{Error: fmt.Errorf("error publishing events unto t topic: %w", error(nil)), FailedEvents: fe}
		}
	}
	unknownEntry := func([]any) dapr.PublishEventsResponse {
		// What the go-sdk returns for an entry id it did not send.
		return dapr.PublishEventsResponse{Error: fmt.Errorf("error publishing events unto t topic: %w", error(nil)), FailedEvents: []any{"other", nil}}
	}
	bad := update("evt-bad", "\xff") // invalid UTF-8 in a proto3 string: proto.Marshal fails

	tests := []struct {
		name       string
		items      []*eventsv1.TaskUpdate
		bulk       func([]any) dapr.PublishEventsResponse
		wantSent   int
		wantFailed []int
		wantIs     error
		wantInMsg  []string
	}{
		{
			name:  "call failed: every item",
			items: []*eventsv1.TaskUpdate{update("evt-0", "u0"), update("evt-1", "u1")}, bulk: callFailed,
			wantSent: 2, wantFailed: []int{0, 1}, wantIs: unavailable,
			wantInMsg: []string{`2 of 2 entries failed`, `0 (event_id "evt-0")`, `1 (event_id "evt-1")`, "sidecar unavailable"},
		},
		{
			name:  "entries listed as failed: only those",
			items: []*eventsv1.TaskUpdate{update("evt-0", "u0"), update("evt-1", "u1"), update("evt-2", "u2")}, bulk: entryFailed(1),
			wantSent: 3, wantFailed: []int{1}, wantIs: errEntryFailed,
			wantInMsg: []string{`1 of 3 entries failed: 1 (event_id "evt-1")`},
		},
		{
			name:  "unmatched failed entry: every item",
			items: []*eventsv1.TaskUpdate{update("evt-0", "u0"), update("evt-1", "u1")}, bulk: unknownEntry,
			wantSent: 2, wantFailed: []int{0, 1},
			wantInMsg: []string{`2 of 2 entries failed`},
		},
		{
			name:     "unmarshallable item is not sent, the others are",
			items:    []*eventsv1.TaskUpdate{update("evt-0", "u0"), bad, update("evt-2", "u2")},
			wantSent: 2, wantFailed: []int{1}, wantIs: ErrMarshal,
			wantInMsg: []string{`1 of 3 entries failed: 1 (event_id "evt-bad")`, "marshal taskflow.events.v1.TaskUpdate"},
		},
		{
			name:  "unmarshallable item and call failed",
			items: []*eventsv1.TaskUpdate{bad, update("evt-1", "u1")}, bulk: callFailed,
			wantSent: 1, wantFailed: []int{0, 1}, wantIs: ErrMarshal,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc := &fakeClient{bulk: tt.bulk}
			items := make([]BatchItem, len(tt.items))
			for i, m := range tt.items {
				items[i] = BatchItem{Key: m.GetUserId(), Msg: m}
			}
			err := New(fc, "ps").PublishBatch(context.Background(), "t", "x.v1", items)
			if len(fc.events) != tt.wantSent {
				t.Errorf("bulk entries sent = %d, want %d", len(fc.events), tt.wantSent)
			}
			var be *BatchError
			if !errors.As(err, &be) {
				t.Fatalf("PublishBatch() = %v, want a *BatchError", err)
			}
			var got []int
			for i := range items {
				if be.Failed[i] != nil {
					got = append(got, i)
				}
			}
			if diff := cmp.Diff(tt.wantFailed, got); diff != "" || len(be.Failed) != len(tt.wantFailed) {
				t.Errorf("failed items = %v (%d reasons), want %v", got, len(be.Failed), tt.wantFailed)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false, want true", err, tt.wantIs)
			}
			for _, s := range append(tt.wantInMsg, "publish x.v1 batch to t: ") {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("PublishBatch() = %q, want it to contain %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "%!") {
				t.Errorf("PublishBatch() = %q, want no formatting artefacts", err)
			}
		})
	}
}

// TestStableBulkMissing: daprd 1.16 answers the stable BulkPublishEvent through its gRPC
// proxy (Unknown, "failed to proxy request"); the go-sdk wraps that error. Only that answer
// (or Unimplemented) switches the publisher to the alpha method.
func TestStableBulkMissing(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("error publishing events onto task-updates topic: %w", err) }
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{wrap(status.Error(codes.Unknown, "failed to proxy request: required metadata dapr-callee-app-id or dapr-app-id not found")), true},
		{wrap(status.Error(codes.Unimplemented, "unknown method BulkPublishEvent")), true},
		{wrap(status.Error(codes.Unavailable, "connection refused")), false},
		{wrap(status.Error(codes.Unknown, "broker rejected the batch")), false},
		{errors.New("not a gRPC error"), false},
	} {
		if got := stableBulkMissing(tt.err); got != tt.want {
			t.Errorf("stableBulkMissing(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
