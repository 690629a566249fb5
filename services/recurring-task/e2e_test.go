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
// It runs the default bulk subscription (the service tells completions from other task
// events itself, creates in parallel) and one event per call (daprd routes by type).
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: needs daprd and the broker")
	}
	t.Run("bulk", func(t *testing.T) { endToEnd(t, "100") })
	t.Run("one per call", func(t *testing.T) { endToEnd(t, "1") })
}

func endToEnd(t *testing.T, bulkMaxMessages string) {
	const dlq = "task-events-recurring-dlq"
	broker := testenv.StartBroker(t, "task-events")

	api, apiPort := startTaskAPIDouble(t)
	taskAPIAppID := testenv.UniqueAppID("task-api")
	testenv.StartDaprd(t, testenv.DaprdConfig{AppID: taskAPIAppID, AppPort: apiPort, AppProtocol: "http", Retries: -1})

	daprGRPC := testenv.FreePort(t)
	svc := testenv.RunService(t, run, map[string]string{
		"DAPR_GRPC_PORT": strconv.Itoa(daprGRPC), "LOG_LEVEL": "debug", "EVENT_TIMEOUT": "5s", "TASK_API_APP_ID": taskAPIAppID,
		"BULK_MAX_MESSAGES": bulkMaxMessages,
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
	// Completed in March 2024, processed now: one series skips to now, one keeps the schedule.
	const dailyAt9 = "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"
	skip := completedEvent("ev-skip", "task-skip", "Catch up", dailyAt9)
	skip.Task.Recurrence.CatchUp = eventsv1.RecurrenceCatchUp_RECURRENCE_CATCH_UP_SKIP_TO_NOW
	keep := completedEvent("ev-keep", "task-keep", "Keep schedule", dailyAt9)
	// A completion whose kind disagrees with its type, and one a Python producer spelled
	// "kind": "completed" (read as no kind).
	mismatch := completedEvent("ev-mismatch", "task-mismatch", "Mismatch", "FREQ=DAILY")
	mismatch.Kind = eventsv1.TaskEventKind_TASK_EVENT_KIND_CREATED
	lowerKind := lowerCaseKindJSON(t, completedEvent("ev-lower-kind", "task-lower-kind", "Lower kind", "FREQ=DAILY"))
	began := time.Now()

	// The same completion three times (a producer retrying), once as JSON.
	sidecar.Publish(t, "task-events", completedType, once.Task.Id, once)
	sidecar.PublishJSON(t, "task-events", completedType, once.Task.Id, once)
	sidecar.Publish(t, "task-events", completedType, once.Task.Id, once)
	sidecar.Publish(t, "task-events", completedType, flaky.Task.Id, flaky)
	sidecar.Publish(t, "task-events", completedType, rejected.Task.Id, rejected)
	sidecar.Publish(t, "task-events", completedType, badRule.Task.Id, badRule)
	// Not a completion: acked without a call and without a dead-letter copy.
	sidecar.Publish(t, "task-events", "taskflow.task.updated.v1", updated.Task.Id, updated)
	sidecar.Publish(t, "task-events", completedType, skip.Task.Id, skip)
	sidecar.Publish(t, "task-events", completedType, keep.Task.Id, keep)
	sidecar.Publish(t, "task-events", completedType, mismatch.Task.Id, mismatch)
	sidecar.PublishRaw(t, "task-events", "application/json", lowerKind,
		testenv.Meta(completedType, "ev-lower-kind", "task-lower-kind"))

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

	t.Run("catch_up skips to now, the default keeps the schedule", func(t *testing.T) {
		ny, err := time.LoadLocation("America/New_York")
		if err != nil {
			t.Fatalf("load zone: %v", err)
		}
		skipKey, keepKey := nexttask.OccurrenceID("series-task-skip", 1), nexttask.OccurrenceID("series-task-keep", 1)
		testenv.WaitFor(t, 60*time.Second, "both catch-up series to create their next task", func() bool {
			_, s, _ := api.stats(skipKey)
			_, k, _ := api.stats(keepKey)
			return s != nil && k != nil
		})
		_, skipped, _ := api.stats(skipKey)
		due := skipped.GetDueAt().AsTime()
		if local := due.In(ny); !due.After(began) || due.After(time.Now().Add(25*time.Hour)) || local.Hour() != 9 || local.Minute() != 0 {
			t.Errorf("SKIP_TO_NOW next due = %s, want the first 09:00 New York after %s", local.Format(time.RFC3339), began.Format(time.RFC3339))
		}
		_, kept, _ := api.stats(keepKey)
		if got, want := kept.GetDueAt().AsTime().In(ny).Format(time.RFC3339), "2024-03-09T09:00:00-05:00"; got != want {
			t.Errorf("default catch_up next due = %s, want %s (the schedule, though past)", got, want)
		}
	})

	t.Run("400 and a bad rule land on the dead-letter topic", func(t *testing.T) {
		testenv.WaitFor(t, 60*time.Second, "the updated event to be acked", func() bool {
			return strings.Contains(svc.Logs(), `"msg":"event_ignored"`) && strings.Contains(svc.Logs(), `"event_id":"ev-updated"`)
		})
		testenv.WaitFor(t, 60*time.Second, "all four dropped events", func() bool {
			return strings.Count(svc.Logs(), `"msg":"event_dropped"`) >= 4
		})
		for _, reason := range []string{"task event ev-lower-kind has no kind", `task event ev-mismatch has CloudEvent type \"taskflow.task.completed.v1\" but kind TASK_EVENT_KIND_CREATED`} {
			if !strings.Contains(svc.Logs(), reason) {
				t.Errorf("service log does not give the drop reason %q", reason)
			}
		}
		recs := broker.Consume(t, dlq, 5, 5*time.Second)
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
		if diff := cmp.Diff([]string{"ev-bad-rule", "ev-lower-kind", "ev-mismatch", "ev-rejected"}, ids, cmpSortStrings); diff != "" {
			t.Errorf("dead-letter event ids mismatch (-want +got):\n%s", diff)
		}
		if n, created, _ := api.stats(rejectedKey); n != 1 || created != nil {
			t.Errorf("rejected create: %d calls, created %v; want 1 call, nothing created", n, created)
		}
	})

	t.Run("nothing else was created", func(t *testing.T) {
		if _, _, total := api.stats(""); total != 4 {
			t.Errorf("tasks created = %d, want 4", total)
		}
	})
}

// lowerCaseKindJSON is ev as a Python producer might send it: protojson, but with
// "kind": "completed" instead of the enum name.
func lowerCaseKindJSON(t *testing.T, ev *eventsv1.TaskEvent) []byte {
	t.Helper()
	data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(ev)
	if err != nil {
		t.Fatalf("marshal JSON: %v", err)
	}
	out := strings.Replace(string(data), `"TASK_EVENT_KIND_COMPLETED"`, `"completed"`, 1)
	if out == string(data) {
		t.Fatalf("no kind to replace in %s", data)
	}
	return []byte(out)
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
