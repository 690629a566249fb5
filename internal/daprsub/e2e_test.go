package daprsub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/testenv"
)

// recorder is the e2e test app's state: what its handlers saw.
type recorder struct {
	mu       sync.Mutex
	events   map[string]*eventsv1.TaskEvent
	metas    map[string]daprsub.Meta
	attempts map[string]int
	bulk     map[string]int // event_id -> batch size it arrived in
	healthy  bool
}

func (r *recorder) get(id string) (*eventsv1.TaskEvent, daprsub.Meta, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[id], r.metas[id], r.attempts[id]
}

// testApp wires a grpcapp with two subscriptions: task-events (one event at a time; an
// event titled "flaky" fails twice before it succeeds) and bulk-events (bulk; a title
// starting with "drop" is rejected permanently).
func testApp(rec *recorder) testenv.RunFunc {
	return func(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
		cfg := grpcapp.ReadConfig(envconfig.New(getenv))
		logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: slog.LevelDebug}))
		app := grpcapp.New(cfg, logger)
		app.Health.Register("fake-dependency", func(context.Context) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if !rec.healthy {
				return errors.New("dependency down")
			}
			return nil
		})
		daprsub.Handle(app.Events, daprsub.Subscription{
			PubsubName: testenv.PubsubName, Topic: "task-events", DeadLetterTopic: "task-events-dlq",
		}, func(ctx context.Context, m daprsub.Meta, ev *eventsv1.TaskEvent) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.attempts[ev.GetEventId()]++
			if ev.GetTask().GetTitle() == "flaky" && rec.attempts[ev.GetEventId()] <= 2 {
				return errors.New("transient failure")
			}
			rec.events[ev.GetEventId()] = ev
			rec.metas[ev.GetEventId()] = m
			return nil
		})
		daprsub.HandleBatch(app.Events, daprsub.Subscription{
			PubsubName: testenv.PubsubName, Topic: "bulk-events", DeadLetterTopic: "bulk-events-dlq",
			Bulk: &daprsub.Bulk{MaxMessages: 100, MaxAwait: 200 * time.Millisecond},
		}, func(ctx context.Context, evs []daprsub.Event[*eventsv1.TaskEvent]) []error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			errs := make([]error, len(evs))
			for i, e := range evs {
				if strings.HasPrefix(e.Msg.GetTask().GetTitle(), "drop") {
					errs[i] = daprsub.Permanent(fmt.Errorf("title %q is not allowed", e.Msg.GetTask().GetTitle()))
					continue
				}
				rec.events[e.Msg.GetEventId()] = e.Msg
				rec.bulk[e.Msg.GetEventId()] = len(evs)
			}
			return errs
		})
		return app.Run(ctx)
	}
}

func sampleTask(eventID, title string) *eventsv1.TaskEvent {
	return &eventsv1.TaskEvent{
		EventId:    eventID,
		Kind:       eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED,
		OccurredAt: timestamppb.New(time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)),
		ActorId:    "user-1",
		Task: &eventsv1.Task{
			Id: "task-" + eventID, UserId: "user-1", Title: title, Tags: []string{"home", "plants"},
			Priority: eventsv1.TaskPriority_TASK_PRIORITY_HIGH, TimeZone: "Europe/Berlin",
			DueAt:      timestamppb.New(time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)),
			Recurrence: &eventsv1.Recurrence{Rrule: "FREQ=WEEKLY;BYDAY=MO,TH", SeriesId: "s-1", OccurrenceIndex: 4},
		},
	}
}

func TestEndToEndThroughDaprd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs daprd")
	}
	broker := testenv.StartBroker(t, "task-events", "bulk-events")
	rec := &recorder{events: map[string]*eventsv1.TaskEvent{}, metas: map[string]daprsub.Meta{},
		attempts: map[string]int{}, bulk: map[string]int{}, healthy: true}
	svc := testenv.RunService(t, testApp(rec), nil)
	daprd := testenv.StartDaprd(t, testenv.DaprdConfig{AppID: "runtime-e2e", AppPort: svc.GRPCPort, Broker: broker})
	daprd.WaitSubscribed(t, "task-events")

	t.Run("binary and JSON arrive identical", func(t *testing.T) {
		bin, js := sampleTask("evt-bin", "water plants"), sampleTask("evt-json", "water plants")
		data, err := proto.Marshal(bin)
		if err != nil {
			t.Fatal(err)
		}
		md := testenv.Meta("taskflow.task.completed.v1", bin.GetEventId(), bin.GetTask().GetId())
		md["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		daprd.PublishRaw(t, "task-events", "application/octet-stream", data, md)
		daprd.PublishJSON(t, "task-events", "taskflow.task.completed.v1", js.GetTask().GetId(), js)
		testenv.WaitFor(t, 20*time.Second, "both events handled", func() bool {
			a, _, _ := rec.get("evt-bin")
			b, _, _ := rec.get("evt-json")
			return a != nil && b != nil
		})
		gotBin, meta, _ := rec.get("evt-bin")
		storedJSON, _, _ := rec.get("evt-json")
		gotJSON := proto.Clone(storedJSON).(*eventsv1.TaskEvent)
		gotJSON.EventId, gotJSON.Task.Id = gotBin.GetEventId(), gotBin.GetTask().GetId()
		if diff := cmp.Diff(gotBin, gotJSON, protocmp.Transform()); diff != "" {
			t.Errorf("JSON event differs from binary event (-binary +json):\n%s", diff)
		}
		if diff := cmp.Diff(sampleTask("evt-bin", "water plants"), gotBin, protocmp.Transform()); diff != "" {
			t.Errorf("binary event differs from what was published (-want +got):\n%s", diff)
		}
		if meta.Type != "taskflow.task.completed.v1" || meta.ID != "evt-bin" || meta.Key != "task-evt-bin" || meta.Partition < 0 || meta.Offset < 0 {
			t.Errorf("Meta = %+v, want type, CloudEvent id, Kafka key, partition and offset", meta)
		}
		if meta.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("Meta.TraceID = %q, want the publisher's trace id 4bf92f3577b34da6a3ce929d0e0e4736", meta.TraceID)
		}
	})

	t.Run("malformed event goes to the dead-letter topic", func(t *testing.T) {
		daprd.PublishRaw(t, "task-events", "application/octet-stream", []byte("\xff\xffnot a protobuf"),
			testenv.Meta("taskflow.task.completed.v1", "evt-bad", "k"))
		recs := broker.Consume(t, "task-events-dlq", 1, 20*time.Second)
		if len(recs) != 1 {
			t.Fatalf("dead-letter topic has %d records, want 1", len(recs))
		}
		var ce struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(recs[0].Value, &ce); err != nil {
			t.Fatalf("dead-letter record is not a CloudEvent: %v", err)
		}
		if ce.ID != "evt-bad" || ce.Type != "taskflow.task.completed.v1" {
			t.Errorf("dead-letter CloudEvent id/type = %q/%q, want evt-bad/taskflow.task.completed.v1", ce.ID, ce.Type)
		}
		if !strings.Contains(svc.Logs(), `"event_dropped"`) {
			t.Errorf("service log has no event_dropped line for the malformed event")
		}
	})

	t.Run("transient failures are redelivered until success", func(t *testing.T) {
		ev := sampleTask("evt-flaky", "flaky")
		daprd.Publish(t, "task-events", "taskflow.task.completed.v1", "k", ev)
		testenv.WaitFor(t, 20*time.Second, "flaky event handled", func() bool {
			got, _, _ := rec.get("evt-flaky")
			return got != nil
		})
		if _, _, attempts := rec.get("evt-flaky"); attempts != 3 {
			t.Errorf("handler attempts = %d, want 3 (two failures, then success)", attempts)
		}
	})

	t.Run("bulk delivery answers per entry", func(t *testing.T) {
		for i := range 20 {
			title := fmt.Sprintf("bulk %d", i)
			if i%5 == 0 {
				title = fmt.Sprintf("drop %d", i)
			}
			daprd.Publish(t, "bulk-events", "taskflow.task.created.v1", "same-key", sampleTask(fmt.Sprintf("bulk-%d", i), title))
		}
		testenv.WaitFor(t, 20*time.Second, "16 bulk events handled", func() bool {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			return len(rec.bulk) == 16
		})
		recs := broker.Consume(t, "bulk-events-dlq", 4, 20*time.Second)
		if len(recs) != 4 {
			t.Fatalf("bulk dead-letter topic has %d records, want the 4 rejected entries", len(recs))
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		batched := false
		for _, n := range rec.bulk {
			batched = batched || n > 1
		}
		if !batched {
			t.Errorf("every bulk event arrived alone, want batches of more than one")
		}
	})

	t.Run("health follows the registered dependency", func(t *testing.T) {
		svc.WaitHealth(t, healthpb.HealthCheckResponse_SERVING, 5*time.Second)
		rec.mu.Lock()
		rec.healthy = false
		rec.mu.Unlock()
		svc.WaitHealth(t, healthpb.HealthCheckResponse_NOT_SERVING, 5*time.Second)
		rec.mu.Lock()
		rec.healthy = true
		rec.mu.Unlock()
		svc.WaitHealth(t, healthpb.HealthCheckResponse_SERVING, 5*time.Second)
	})
}

// TestAppTokenThroughDaprd: with APP_API_TOKEN set on the service and on its daprd, events
// flow through daprd; an OnTopicEvent sent straight to the service's port without the
// token, or with another one, is refused Unauthenticated and has no effect.
func TestAppTokenThroughDaprd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs daprd")
	}
	const appToken = "e2e-app-token"
	broker := testenv.StartBroker(t, "task-events", "bulk-events")
	rec := &recorder{events: map[string]*eventsv1.TaskEvent{}, metas: map[string]daprsub.Meta{},
		attempts: map[string]int{}, bulk: map[string]int{}, healthy: true}
	svc := testenv.RunService(t, testApp(rec), map[string]string{"APP_API_TOKEN": appToken})
	daprd := testenv.StartDaprd(t, testenv.DaprdConfig{AppID: testenv.UniqueAppID("token-e2e"), AppPort: svc.GRPCPort,
		Broker: broker, AppToken: appToken})
	daprd.WaitSubscribed(t, "task-events")
	daprd.WaitSubscribed(t, "bulk-events")

	daprd.Publish(t, "task-events", "taskflow.task.completed.v1", "k", sampleTask("tok-single", "through daprd"))
	daprd.Publish(t, "bulk-events", "taskflow.task.created.v1", "k", sampleTask("tok-bulk", "through daprd"))
	testenv.WaitFor(t, 20*time.Second, "events through daprd handled", func() bool {
		a, _, _ := rec.get("tok-single")
		b, _, _ := rec.get("tok-bulk")
		return a != nil && b != nil
	})

	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", svc.GRPCPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := runtimev1.NewAppCallbackClient(conn)
	data, err := proto.Marshal(sampleTask("tok-direct", "injected"))
	if err != nil {
		t.Fatal(err)
	}
	req := &runtimev1.TopicEventRequest{Id: "tok-direct", Type: "taskflow.task.completed.v1", SpecVersion: "1.0",
		DataContentType: "application/octet-stream", Data: data, Topic: "task-events", PubsubName: testenv.PubsubName}
	for _, tc := range []struct{ name, token string }{{"no token", ""}, {"wrong token", "guess"}} {
		ctx := context.Background()
		if tc.token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "dapr-api-token", tc.token)
		}
		_, err := client.OnTopicEvent(ctx, req)
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("direct OnTopicEvent with %s = %v, want Unauthenticated", tc.name, err)
		}
		_, err = client.OnBulkTopicEvent(ctx, &runtimev1.TopicEventBulkRequest{Id: "b", Topic: "bulk-events", PubsubName: testenv.PubsubName,
			Entries: []*runtimev1.TopicEventBulkRequestEntry{{EntryId: "1", ContentType: "application/octet-stream",
				Event: &runtimev1.TopicEventBulkRequestEntry_Bytes{Bytes: data}}}})
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("direct OnBulkTopicEvent with %s = %v, want Unauthenticated", tc.name, err)
		}
	}
	if ev, _, attempts := rec.get("tok-direct"); ev != nil || attempts != 0 {
		t.Errorf("an injected event without the app token reached the handler (%d attempts)", attempts)
	}
	if strings.Contains(svc.Logs(), appToken) {
		t.Errorf("the service log contains the app token")
	}
}
