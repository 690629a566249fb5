package daprsub

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// harness serves a Server over bufconn and returns a real gRPC client for it.
type harness struct {
	srv    *Server
	client runtimev1.AppCallbackClient
	alpha  runtimev1.AppCallbackAlphaClient
	health runtimev1.AppCallbackHealthCheckClient
}

func newHarness(t *testing.T, register func(s *Server)) *harness {
	t.Helper()
	s := NewServer(slog.New(slog.DiscardHandler), Options{})
	register(s)
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer()
	s.Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &harness{srv: s, client: runtimev1.NewAppCallbackClient(conn),
		alpha: runtimev1.NewAppCallbackAlphaClient(conn), health: runtimev1.NewAppCallbackHealthCheckClient(conn)}
}

func taskEvent(id string) *eventsv1.TaskEvent {
	return &eventsv1.TaskEvent{EventId: id, Kind: eventsv1.TaskEventKind_TASK_EVENT_KIND_CREATED,
		Task: &eventsv1.Task{Id: "t1", UserId: "u1", Title: "Water the plants"}}
}

func mustBinary(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJSON(t testing.TB, m proto.Message) []byte {
	b, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOnTopicEventStatusRules(t *testing.T) {
	t.Parallel()
	// Unknown field 99 (varint 1) appended to a valid binary event: a newer producer.
	withUnknown := append(mustBinary(t, taskEvent("e1")), 0x98, 0x06, 0x01)
	tests := []struct {
		name        string
		contentType string
		data        []byte
		handlerErr  error
		panics      bool
		want        runtimev1.TopicEventResponse_TopicEventResponseStatus
		wantCalled  bool
	}{
		{name: "binary ok", contentType: "application/octet-stream", data: mustBinary(t, taskEvent("e1")), want: runtimev1.TopicEventResponse_SUCCESS, wantCalled: true},
		{name: "json ok", contentType: "application/json", data: mustJSON(t, taskEvent("e1")), want: runtimev1.TopicEventResponse_SUCCESS, wantCalled: true},
		{name: "json with charset", contentType: "application/json; charset=utf-8", data: mustJSON(t, taskEvent("e1")), want: runtimev1.TopicEventResponse_SUCCESS, wantCalled: true},
		{name: "cloudevents+json type", contentType: "application/vnd.taskflow+json", data: mustJSON(t, taskEvent("e1")), want: runtimev1.TopicEventResponse_SUCCESS, wantCalled: true},
		{name: "json unknown field ignored", contentType: "application/json", data: []byte(`{"event_id":"e1","new_field_from_v2":{"x":1}}`), want: runtimev1.TopicEventResponse_SUCCESS, wantCalled: true},
		{name: "binary unknown field kept", contentType: "application/octet-stream", data: withUnknown, want: runtimev1.TopicEventResponse_SUCCESS, wantCalled: true},
		{name: "empty body", contentType: "application/octet-stream", data: nil, want: runtimev1.TopicEventResponse_DROP},
		{name: "garbage binary", contentType: "application/octet-stream", data: []byte{0xff, 0xff, 0xff}, want: runtimev1.TopicEventResponse_DROP},
		{name: "garbage json", contentType: "application/json", data: []byte(`{"event_id":`), want: runtimev1.TopicEventResponse_DROP},
		{name: "json wrong type", contentType: "application/json", data: []byte(`{"event_id":42}`), want: runtimev1.TopicEventResponse_DROP},
		{name: "protobuf content type", contentType: "application/protobuf", data: mustBinary(t, taskEvent("e1")), want: runtimev1.TopicEventResponse_DROP},
		{name: "text", contentType: "text/plain", data: []byte("hello"), want: runtimev1.TopicEventResponse_DROP},
		{name: "no content type", contentType: "", data: mustBinary(t, taskEvent("e1")), want: runtimev1.TopicEventResponse_DROP},
		{name: "missing event_id", contentType: "application/octet-stream", data: mustBinary(t, taskEvent("")), want: runtimev1.TopicEventResponse_DROP},
		{name: "handler transient error", contentType: "application/octet-stream", data: mustBinary(t, taskEvent("e1")), handlerErr: errors.New("db down"), want: runtimev1.TopicEventResponse_RETRY, wantCalled: true},
		{name: "handler permanent error", contentType: "application/octet-stream", data: mustBinary(t, taskEvent("e1")), handlerErr: Permanent(errors.New("bad rrule")), want: runtimev1.TopicEventResponse_DROP, wantCalled: true},
		{name: "handler wrapped permanent", contentType: "application/octet-stream", data: mustBinary(t, taskEvent("e1")), handlerErr: errors.Join(errors.New("ctx"), Permanent(errors.New("bad"))), want: runtimev1.TopicEventResponse_DROP, wantCalled: true},
		{name: "handler panic", contentType: "application/octet-stream", data: mustBinary(t, taskEvent("e1")), panics: true, want: runtimev1.TopicEventResponse_RETRY, wantCalled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			called := false
			h := newHarness(t, func(s *Server) {
				Handle(s, Subscription{PubsubName: "ps", Topic: "task-events"}, func(_ context.Context, _ Meta, ev *eventsv1.TaskEvent) error {
					called = true
					if ev.GetEventId() != "e1" {
						t.Errorf("handler got event_id %q, want e1", ev.GetEventId())
					}
					if tt.panics {
						panic("boom")
					}
					return tt.handlerErr
				})
			})
			resp, err := h.client.OnTopicEvent(context.Background(), &runtimev1.TopicEventRequest{
				PubsubName: "ps", Topic: "task-events", DataContentType: tt.contentType, Data: tt.data, Id: "ce-1",
			})
			if err != nil {
				t.Fatalf("OnTopicEvent() error = %v, want nil (status carries the outcome)", err)
			}
			if resp.GetStatus() != tt.want {
				t.Errorf("OnTopicEvent() status = %v, want %v", resp.GetStatus(), tt.want)
			}
			if called != tt.wantCalled {
				t.Errorf("handler called = %v, want %v", called, tt.wantCalled)
			}
		})
	}
}

func TestOnTopicEventUnknownTopicDrops(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(*Server) {})
	resp, err := h.client.OnTopicEvent(context.Background(), &runtimev1.TopicEventRequest{PubsubName: "ps", Topic: "nope",
		DataContentType: "application/octet-stream", Data: mustBinary(t, taskEvent("e1"))})
	if err != nil || resp.GetStatus() != runtimev1.TopicEventResponse_DROP {
		t.Errorf("OnTopicEvent(unknown topic) = %v, %v; want DROP, nil", resp.GetStatus(), err)
	}
}

func TestMetaFromDelivery(t *testing.T) {
	t.Parallel()
	var got Meta
	h := newHarness(t, func(s *Server) {
		Handle(s, Subscription{PubsubName: "ps", Topic: "task-events"}, func(_ context.Context, m Meta, _ *eventsv1.TaskEvent) error {
			got = m
			return nil
		})
	})
	ext, _ := structpb.NewStruct(map[string]any{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"time":        "2026-03-01T10:00:00Z",
	})
	ctx := metadata.AppendToOutgoingContext(context.Background(), "__key", "task-7", "__partition", "3", "__offset", "42")
	_, err := h.client.OnTopicEvent(ctx, &runtimev1.TopicEventRequest{PubsubName: "ps", Topic: "task-events", Id: "ce-9",
		Type: "taskflow.task.created.v1", Source: "task-api", DataContentType: "application/octet-stream",
		Data: mustBinary(t, taskEvent("e1")), Extensions: ext, Path: "/"})
	if err != nil {
		t.Fatal(err)
	}
	want := Meta{ID: "ce-9", Type: "taskflow.task.created.v1", Source: "task-api", ContentType: "application/octet-stream",
		Time: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), PubsubName: "ps", Topic: "task-events", Path: "/",
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Key: "task-7", Partition: 3, Offset: 42}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Meta mismatch (-want +got):\n%s", diff)
	}
}

func TestBulkPerEntryStatuses(t *testing.T) {
	t.Parallel()
	var batchSizes []int
	h := newHarness(t, func(s *Server) {
		HandleBatch(s, Subscription{PubsubName: "ps", Topic: "audit", Bulk: &Bulk{MaxMessages: 10, MaxAwait: time.Second}},
			func(_ context.Context, evs []Event[*eventsv1.TaskEvent]) []error {
				batchSizes = append(batchSizes, len(evs))
				errs := make([]error, len(evs))
				for i, e := range evs {
					switch e.Msg.GetEventId() {
					case "retry":
						errs[i] = errors.New("transient")
					case "reject":
						errs[i] = Permanent(errors.New("rejected"))
					}
				}
				return errs
			})
	})
	// Entry 1 is the raw CloudEvent record the runtime asks daprd for (rawPayload), with a
	// binary payload in data_base64; entry 2 a JSON CloudEvent record; the rest plain bytes.
	ceBinary := []byte(`{"specversion":"1.0","id":"ok-ce","type":"taskflow.task.created.v1","source":"x","datacontenttype":"application/octet-stream","data_base64":"` +
		b64(mustBinary(t, taskEvent("ok-ce"))) + `","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`)
	ceJSON := []byte(`{"specversion":"1.0","id":"ok-json","type":"t","source":"x","datacontenttype":"application/json","data":` + string(mustJSON(t, taskEvent("ok-json"))) + `}`)
	entries := []*runtimev1.TopicEventBulkRequestEntry{
		{EntryId: "1", ContentType: "application/cloudevents+json", Event: &runtimev1.TopicEventBulkRequestEntry_Bytes{Bytes: ceBinary}},
		{EntryId: "2", ContentType: "application/cloudevents+json", Event: &runtimev1.TopicEventBulkRequestEntry_Bytes{Bytes: ceJSON}},
		{EntryId: "3", ContentType: "application/octet-stream", Event: &runtimev1.TopicEventBulkRequestEntry_Bytes{Bytes: mustBinary(t, taskEvent("retry"))}},
		{EntryId: "4", ContentType: "application/octet-stream", Event: &runtimev1.TopicEventBulkRequestEntry_Bytes{Bytes: mustBinary(t, taskEvent("reject"))}},
		{EntryId: "5", ContentType: "application/octet-stream", Event: &runtimev1.TopicEventBulkRequestEntry_Bytes{Bytes: []byte{0xff}}},
		{EntryId: "6", ContentType: "application/cloudevents+json", Event: &runtimev1.TopicEventBulkRequestEntry_Bytes{Bytes: []byte(`{"specversion":`)}},
		{EntryId: "7", ContentType: "application/json", Event: &runtimev1.TopicEventBulkRequestEntry_CloudEvent{CloudEvent: &runtimev1.TopicEventCERequest{
			Id: "ok-structured", DataContentType: "application/json", Data: mustJSON(t, taskEvent("ok-structured"))}}},
	}
	// daprd 1.17+ calls the stable OnBulkTopicEvent; 1.16 the alpha method. Both
	// must answer the same.
	calls := []struct {
		name string
		call func(context.Context, *runtimev1.TopicEventBulkRequest, ...grpc.CallOption) (*runtimev1.TopicEventBulkResponse, error)
	}{
		{"OnBulkTopicEvent", h.client.OnBulkTopicEvent},
		{"OnBulkTopicEventAlpha1", h.alpha.OnBulkTopicEventAlpha1}, //nolint:staticcheck // daprd up to 1.17 still calls the Alpha1 method: both must work
	}
	for _, c := range calls {
		batchSizes = nil
		resp, err := c.call(context.Background(), &runtimev1.TopicEventBulkRequest{PubsubName: "ps", Topic: "audit", Entries: entries})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := []*runtimev1.TopicEventBulkResponseEntry{
			{EntryId: "1", Status: runtimev1.TopicEventResponse_SUCCESS},
			{EntryId: "2", Status: runtimev1.TopicEventResponse_SUCCESS},
			{EntryId: "3", Status: runtimev1.TopicEventResponse_RETRY},
			{EntryId: "4", Status: runtimev1.TopicEventResponse_DROP},
			{EntryId: "5", Status: runtimev1.TopicEventResponse_DROP},
			{EntryId: "6", Status: runtimev1.TopicEventResponse_DROP},
			{EntryId: "7", Status: runtimev1.TopicEventResponse_SUCCESS},
		}
		if diff := cmp.Diff(want, resp.GetStatuses(), protocmp.Transform()); diff != "" {
			t.Errorf("%s: bulk statuses (-want +got):\n%s", c.name, diff)
		}
		if diff := cmp.Diff([]int{5}, batchSizes); diff != "" {
			t.Errorf("%s: batch sizes (-want +got):\n%s", c.name, diff)
		}
	}
}

func TestListTopicSubscriptions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(s *Server) {
		Handle(s, Subscription{PubsubName: "ps", Topic: "task-events", DeadLetterTopic: "task-events-dlq",
			Rules: []Rule{{Match: `event.type == "taskflow.task.completed.v1"`, Path: "completed"}}},
			func(context.Context, Meta, *eventsv1.TaskEvent) error { return nil })
		HandleBatch(s, Subscription{PubsubName: "ps", Topic: "reminders", Bulk: &Bulk{MaxMessages: 500, MaxAwait: 50 * time.Millisecond}},
			func(context.Context, []Event[*eventsv1.ReminderEvent]) []error { return nil })
	})
	resp, err := h.client.ListTopicSubscriptions(context.Background(), &emptypb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	want := []*runtimev1.TopicSubscription{
		{PubsubName: "ps", Topic: "task-events", DeadLetterTopic: "task-events-dlq", Routes: &runtimev1.TopicRoutes{
			Rules: []*runtimev1.TopicRule{{Match: `event.type == "taskflow.task.completed.v1"`, Path: "completed"}}}},
		{PubsubName: "ps", Topic: "reminders", BulkSubscribe: &runtimev1.BulkSubscribeConfig{Enabled: true, MaxMessagesCount: 500, MaxAwaitDurationMs: 50},
			Metadata: map[string]string{"rawPayload": "true", "maxBulkSubCount": "500", "maxBulkSubAwaitDurationMs": "50"}},
	}
	if diff := cmp.Diff(want, resp.GetSubscriptions(), protocmp.Transform()); diff != "" {
		t.Errorf("subscriptions (-want +got):\n%s", diff)
	}
}

func TestHealthCheckAndUnimplemented(t *testing.T) {
	t.Parallel()
	healthy := true
	s := NewServer(slog.New(slog.DiscardHandler), Options{Health: func(context.Context) error {
		if healthy {
			return nil
		}
		return errors.New("postgres down")
	}})
	if _, err := s.HealthCheck(context.Background(), &emptypb.Empty{}); err != nil {
		t.Errorf("HealthCheck() healthy = %v, want nil", err)
	}
	healthy = false
	if _, err := s.HealthCheck(context.Background(), &emptypb.Empty{}); status.Code(err) != codes.Unavailable {
		t.Errorf("HealthCheck() unhealthy = %v, want Unavailable", err)
	}
	bindings, err := s.ListInputBindings(context.Background(), &emptypb.Empty{})
	if err != nil || len(bindings.GetBindings()) != 0 {
		t.Errorf("ListInputBindings() = %v, %v; want none", bindings, err)
	}
}

// HandleEach runs the events of one bulk request concurrently, never more than n at a
// time, and answers each event's own status; a panic costs only its own event.
func TestHandleEachConcurrentPerEventStatuses(t *testing.T) {
	t.Parallel()
	const n = 3
	var mu sync.Mutex
	inFlight, most := 0, 0
	release := make(chan struct{})
	h := newHarness(t, func(s *Server) {
		HandleEach(s, Subscription{PubsubName: "ps", Topic: "task-events", Bulk: &Bulk{MaxMessages: 100, MaxAwait: time.Millisecond}}, n,
			func(_ context.Context, _ Meta, ev *eventsv1.TaskEvent) error {
				mu.Lock()
				inFlight++
				most = max(most, inFlight)
				full := inFlight == n
				mu.Unlock()
				if full {
					// The first time n run at once, let everyone go on.
					select {
					case <-release:
					default:
						close(release)
					}
				}
				<-release
				mu.Lock()
				inFlight--
				mu.Unlock()
				switch ev.GetEventId() {
				case "retry":
					return errors.New("transient")
				case "reject":
					return Permanent(errors.New("rejected"))
				case "panic":
					panic("boom")
				}
				return nil
			})
	})
	ids := []string{"ok-1", "retry", "ok-2", "reject", "panic", "ok-3", "ok-4", "ok-5"}
	var entries []*runtimev1.TopicEventBulkRequestEntry
	for i, id := range ids {
		entries = append(entries, &runtimev1.TopicEventBulkRequestEntry{EntryId: strconv.Itoa(i), ContentType: "application/octet-stream",
			Event: &runtimev1.TopicEventBulkRequestEntry_Bytes{Bytes: mustBinary(t, taskEvent(id))}})
	}
	resp, err := h.client.OnBulkTopicEvent(context.Background(), &runtimev1.TopicEventBulkRequest{PubsubName: "ps", Topic: "task-events", Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]runtimev1.TopicEventResponse_TopicEventResponseStatus{
		"retry": runtimev1.TopicEventResponse_RETRY, "reject": runtimev1.TopicEventResponse_DROP, "panic": runtimev1.TopicEventResponse_RETRY,
	}
	for i, st := range resp.GetStatuses() {
		if st.GetEntryId() != strconv.Itoa(i) || st.GetStatus() != want[ids[i]] {
			t.Errorf("entry %d (%s): got %s %s, want %s", i, ids[i], st.GetEntryId(), st.GetStatus(), want[ids[i]])
		}
	}
	if len(resp.GetStatuses()) != len(ids) {
		t.Errorf("%d statuses for %d entries", len(resp.GetStatuses()), len(ids))
	}
	if most != n {
		t.Errorf("at most %d events were handled at once, want exactly %d (the limit, reached)", most, n)
	}
}
