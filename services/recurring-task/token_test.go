package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	recurrencev1 "github.com/taskflow/taskflow-events/gen/taskflow/recurrence/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/services/recurring-task/internal/nexttask"
)

// TestAppToken: with APP_API_TOKEN set, a completion through daprd (which sends the token)
// creates the next task, while a direct callback or Preview call without the token, or with
// a wrong one, is refused and creates nothing.
func TestAppToken(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: needs daprd and the broker")
	}
	const token = "recurring-e2e-app-token"
	broker := testenv.StartBroker(t, "task-events")
	api, apiPort := startTaskAPIDouble(t)
	taskAPIAppID := testenv.UniqueAppID("task-api")
	testenv.StartDaprd(t, testenv.DaprdConfig{AppID: taskAPIAppID, AppPort: apiPort, AppProtocol: "http", Retries: -1})
	daprGRPC := testenv.FreePort(t)
	svc := testenv.RunService(t, run, map[string]string{
		"DAPR_GRPC_PORT": strconv.Itoa(daprGRPC), "EVENT_TIMEOUT": "5s", "TASK_API_APP_ID": taskAPIAppID, "APP_API_TOKEN": token,
	})
	sidecar := testenv.StartDaprd(t, testenv.DaprdConfig{
		AppID: "recurring-task-service", AppPort: svc.GRPCPort, Broker: broker, GRPCPort: daprGRPC, AppToken: token,
	})
	sidecar.WaitSubscribed(t, "task-events")

	delivered := completedEvent("ev-tok", "task-tok", "Through daprd", "FREQ=DAILY")
	sidecar.Publish(t, "task-events", "taskflow.task.completed.v1", delivered.Task.Id, delivered)
	testenv.WaitFor(t, 30*time.Second, "the next task of the delivered completion", func() bool {
		_, created, _ := api.stats(nexttask.OccurrenceID("series-task-tok", 1))
		return created != nil
	})

	injected := completedEvent("ev-injected", "task-injected", "Injected", "FREQ=DAILY")
	data, err := proto.Marshal(injected)
	if err != nil {
		t.Fatal(err)
	}
	conn := svc.Conn(t)
	callback := runtimev1.NewAppCallbackClient(conn)
	preview := recurrencev1.NewRecurrenceServiceClient(conn)
	for _, tc := range []struct{ name, token string }{{"no token", ""}, {"wrong token", "guess"}} {
		ctx := context.Background()
		if tc.token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "dapr-api-token", tc.token)
		}
		calls := map[string]error{}
		_, calls["OnTopicEvent"] = callback.OnTopicEvent(ctx, &runtimev1.TopicEventRequest{Id: "ev-injected", Type: "taskflow.task.completed.v1",
			SpecVersion: "1.0", DataContentType: "application/octet-stream", Data: data, Topic: "task-events", PubsubName: testenv.PubsubName})
		_, calls["Preview"] = preview.Preview(ctx, &recurrencev1.PreviewRequest{Rrule: "FREQ=DAILY", Dtstart: ts("2026-01-01T09:00:00Z")})
		for method, err := range calls {
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("%s with %s = %v, want Unauthenticated", method, tc.name, err)
			}
		}
	}
	time.Sleep(2 * time.Second) // an effect of the injection would have reached the Task API by now
	if n, created, _ := api.stats(nexttask.OccurrenceID("series-task-injected", 1)); n != 0 || created != nil {
		t.Errorf("the injected completion made %d create calls, want none", n)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "dapr-api-token", token)
	if resp, err := preview.Preview(ctx, &recurrencev1.PreviewRequest{Rrule: "FREQ=DAILY", Dtstart: ts("2026-01-01T09:00:00Z"), Count: 2}); err != nil || len(resp.GetOccurrences()) != 2 {
		t.Errorf("Preview with the token = %v, %v, want 2 occurrences", resp, err)
	}
	if strings.Contains(svc.Logs(), token) {
		t.Errorf("the service log contains the app token")
	}
}
