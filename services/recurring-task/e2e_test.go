package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/services/recurring-task/internal/nexttask"
)

// taskAPIDouble is a Task API test double: POST /api/tasks creates a task once per
// Idempotency-Key (201, then 409). Titles script failures: "fail-500-twice" answers 500
// to the first two attempts, "reject-400" always answers 400.
type taskAPIDouble struct {
	mu       sync.Mutex
	attempts map[string]int // by idempotency key
	created  map[string]*eventsv1.Task
	bodies   map[string][]string
}

func startTaskAPIDouble(t *testing.T) (*taskAPIDouble, int) {
	t.Helper()
	d := &taskAPIDouble{attempts: map[string]int{}, created: map[string]*eventsv1.Task{}, bodies: map[string][]string{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen for task API double: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(d.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Close() })
	return d, lis.Addr().(*net.TCPAddr).Port
}

func (d *taskAPIDouble) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/tasks" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	key := r.Header.Get("Idempotency-Key")
	task := &eventsv1.Task{}
	if err := protojson.Unmarshal(body, task); err != nil || key == "" || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.attempts[key]++
	d.bodies[key] = append(d.bodies[key], string(body))
	switch {
	case task.GetTitle() == "reject-400":
		http.Error(w, "title not allowed", http.StatusBadRequest)
	case task.GetTitle() == "fail-500-twice" && d.attempts[key] <= 2:
		http.Error(w, "database unavailable", http.StatusInternalServerError)
	case d.created[key] != nil:
		http.Error(w, "already exists", http.StatusConflict)
	default:
		d.created[key] = task
		w.WriteHeader(http.StatusCreated)
	}
}

func (d *taskAPIDouble) stats(key string) (attempts int, created *eventsv1.Task, nCreated int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attempts[key], d.created[key], len(d.created)
}

func ts(s string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

func completedEvent(eventID, taskID, title, rrule string) *eventsv1.TaskEvent {
	return &eventsv1.TaskEvent{
		EventId: eventID, Kind: eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED,
		OccurredAt: ts("2024-03-08T15:00:00Z"), ActorId: "user-1",
		Task: &eventsv1.Task{
			Id: taskID, UserId: "user-1", Title: title, Status: eventsv1.TaskStatus_TASK_STATUS_COMPLETED,
			Priority: eventsv1.TaskPriority_TASK_PRIORITY_MEDIUM, Tags: []string{"e2e"}, TimeZone: "America/New_York",
			DueAt: ts("2024-03-08T14:00:00Z"), RemindAt: ts("2024-03-08T13:45:00Z"), CompletedAt: ts("2024-03-08T15:00:00Z"),
			Recurrence: &eventsv1.Recurrence{Rrule: rrule, SeriesId: "series-" + taskID, Dtstart: ts("2024-03-08T14:00:00Z")},
		},
	}
}

// TestEndToEnd publishes completion events through a real daprd into the embedded broker;
// the service creates next occurrences through a second daprd in front of a Task API double.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: needs daprd and the broker")
	}
	const dlq = "task-events-recurring-dlq"
	broker := testenv.StartBroker(t, "task-events")

	api, apiPort := startTaskAPIDouble(t)
	taskAPIAppID := testenv.UniqueAppID("task-api")
	testenv.StartDaprd(t, testenv.DaprdConfig{AppID: taskAPIAppID, AppPort: apiPort, AppProtocol: "http", Retries: -1})

	daprGRPC := testenv.FreePort(t)
	svc := testenv.RunService(t, run, map[string]string{
		"DAPR_GRPC_PORT": strconv.Itoa(daprGRPC), "LOG_LEVEL": "debug", "EVENT_TIMEOUT": "5s", "TASK_API_APP_ID": taskAPIAppID,
	})
	sidecar := testenv.StartDaprd(t, testenv.DaprdConfig{
		AppID: "recurring-task-service", AppPort: svc.GRPCPort, Broker: broker, GRPCPort: daprGRPC,
		Retries: 20, RetryInterval: 200 * time.Millisecond,
	})
	sidecar.WaitSubscribed(t, "task-events")

	const completedType = "taskflow.task.completed.v1"
	once := completedEvent("ev-once", "task-once", "Water plants", "FREQ=WEEKLY;BYDAY=MO,FR")
	flaky := completedEvent("ev-flaky", "task-flaky", "fail-500-twice", "FREQ=DAILY")
	rejected := completedEvent("ev-rejected", "task-rejected", "reject-400", "FREQ=DAILY")
	badRule := completedEvent("ev-bad-rule", "task-bad-rule", "Bad rule", "FREQ=SOMETIMES")
	updated := completedEvent("ev-updated", "task-updated", "Not completed", "FREQ=DAILY")
	updated.Kind = eventsv1.TaskEventKind_TASK_EVENT_KIND_UPDATED

	// The same completion three times (a producer retrying), once as JSON.
	sidecar.Publish(t, "task-events", completedType, once.Task.Id, once)
	sidecar.PublishJSON(t, "task-events", completedType, once.Task.Id, once)
	sidecar.Publish(t, "task-events", completedType, once.Task.Id, once)
	sidecar.Publish(t, "task-events", completedType, flaky.Task.Id, flaky)
	sidecar.Publish(t, "task-events", completedType, rejected.Task.Id, rejected)
	sidecar.Publish(t, "task-events", completedType, badRule.Task.Id, badRule)
	// Not a completion: acked without a call and without a dead-letter copy.
	sidecar.Publish(t, "task-events", "taskflow.task.updated.v1", updated.Task.Id, updated)

	onceKey := nexttask.OccurrenceID("series-task-once", 1)
	flakyKey := nexttask.OccurrenceID("series-task-flaky", 1)
	rejectedKey := nexttask.OccurrenceID("series-task-rejected", 1)

	t.Run("same completion three times creates one task", func(t *testing.T) {
		testenv.WaitFor(t, 60*time.Second, "three create calls for the repeated completion", func() bool {
			n, _, _ := api.stats(onceKey)
			return n >= 3
		})
		n, created, _ := api.stats(onceKey)
		want := &eventsv1.Task{
			Id: onceKey, UserId: "user-1", Title: "Water plants", Status: eventsv1.TaskStatus_TASK_STATUS_OPEN,
			Priority: eventsv1.TaskPriority_TASK_PRIORITY_MEDIUM, Tags: []string{"e2e"}, TimeZone: "America/New_York",
			// Friday 2024-03-08 09:00 EST completed; next is Monday 09:00 EDT (after the DST change).
			DueAt: ts("2024-03-11T13:00:00Z"), RemindAt: ts("2024-03-11T12:45:00Z"),
			Recurrence: &eventsv1.Recurrence{Rrule: "FREQ=WEEKLY;BYDAY=MO,FR", SeriesId: "series-task-once",
				OccurrenceIndex: 1, Dtstart: ts("2024-03-08T14:00:00Z")},
		}
		if n != 3 {
			t.Errorf("create calls for %s = %d, want 3 (one per delivery, all with the same key)", onceKey, n)
		}
		if diff := cmp.Diff(want, created, protocmp.Transform()); diff != "" {
			t.Errorf("created task mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("500 is retried until created", func(t *testing.T) {
		testenv.WaitFor(t, 60*time.Second, "the flaky create to succeed", func() bool {
			_, created, _ := api.stats(flakyKey)
			return created != nil
		})
		if n, _, _ := api.stats(flakyKey); n != 3 {
			t.Errorf("create calls for %s = %d, want 3 (two 500s, then 201)", flakyKey, n)
		}
	})

	t.Run("400 and a bad rule land on the dead-letter topic", func(t *testing.T) {
		testenv.WaitFor(t, 60*time.Second, "the updated event to be acked", func() bool {
			return strings.Contains(svc.Logs(), `"msg":"event_ignored"`) && strings.Contains(svc.Logs(), `"event_id":"ev-updated"`)
		})
		testenv.WaitFor(t, 60*time.Second, "both dropped events", func() bool {
			return strings.Count(svc.Logs(), `"msg":"event_dropped"`) >= 2
		})
		recs := broker.Consume(t, dlq, 3, 5*time.Second)
		var ids []string
		for _, r := range recs {
			var ce struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(r.Value, &ce); err != nil {
				t.Fatalf("decode dead-letter record %q: %v", r.Value, err)
			}
			ids = append(ids, ce.ID)
		}
		if diff := cmp.Diff([]string{"ev-bad-rule", "ev-rejected"}, ids, cmpSortStrings); diff != "" {
			t.Errorf("dead-letter event ids mismatch (-want +got):\n%s", diff)
		}
		if n, created, _ := api.stats(rejectedKey); n != 1 || created != nil {
			t.Errorf("rejected create: %d calls, created %v; want 1 call, nothing created", n, created)
		}
	})

	t.Run("nothing else was created", func(t *testing.T) {
		if _, _, total := api.stats(""); total != 2 {
			t.Errorf("tasks created = %d, want 2", total)
		}
	})
}

var cmpSortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})
