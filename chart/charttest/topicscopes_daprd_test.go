package charttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/testenv"
)

// TestTopicScopesThroughDaprd loads the rendered Component's topic scopes into real daprd
// sidecars (testenv: .cache/bin/daprd or TASKFLOW_DAPRD, an embedded Kafka broker): the Task
// API publishes task-events, an app that is not listed is refused, and an event the audit
// subscriber DROPs reaches task-events-audit-dlq. The control shows why the dead-letter
// topics are in the subscribers' publishing scopes: daprd publishes the dead letter as the
// subscriber, through the same check, and without the entry the event never gets there.
func TestTopicScopesThroughDaprd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daprd sidecars; skipped with -short")
	}
	r := decodeAll(t, render(t, renderCases[0]))
	comp := r.component(testenv.PubsubName)
	if comp == nil {
		t.Fatalf("no Component %s", testenv.PubsubName)
	}
	scoping := map[string]string{}
	for _, name := range []string{"publishingScopes", "subscriptionScopes", "protectedTopics"} {
		m, ok := comp.meta(name)
		if !ok {
			t.Fatalf("Component %s has no %s", comp.Metadata.Name, name)
		}
		scoping[name] = m.Value
	}

	t.Run("rendered scopes", func(t *testing.T) {
		broker, _, publisher := startAuditSubscriber(t, scoping)
		intruder := scopedDaprd(t, broker, scoping, "intruder", 0)
		err := intruder.TryPublishRaw("task-events", "application/json", []byte(`{}`), testenv.Meta("taskflow.task.completed.v1", "evt-x", "k"))
		if err == nil || !strings.Contains(err.Error(), "not allowed for app id intruder") {
			t.Errorf("publish to task-events by app intruder: %v, want refused (protectedTopics)", err)
		}
		publisher.PublishRaw(t, "task-events", "application/octet-stream", []byte("\xff\xffnot a protobuf"),
			testenv.Meta("taskflow.task.completed.v1", "evt-bad", "k"))
		if recs := broker.Consume(t, "task-events-audit-dlq", 1, 20*time.Second); len(recs) != 1 {
			t.Errorf("task-events-audit-dlq has %d records after a DROP, want 1", len(recs))
		}
	})

	t.Run("control: dead-letter topic outside the subscriber's publishing scope", func(t *testing.T) {
		without := map[string]string{}
		for k, v := range scoping {
			without[k] = v
		}
		without["publishingScopes"] = strings.Replace(scoping["publishingScopes"], ",task-events-audit-dlq", "", 1)
		if without["publishingScopes"] == scoping["publishingScopes"] {
			t.Fatalf("publishingScopes %q: no task-events-audit-dlq to remove", scoping["publishingScopes"])
		}
		broker, subscriber, publisher := startAuditSubscriber(t, without)
		publisher.PublishRaw(t, "task-events", "application/octet-stream", []byte("\xff\xffnot a protobuf"),
			testenv.Meta("taskflow.task.completed.v1", "evt-bad", "k"))
		testenv.WaitFor(t, 20*time.Second, "daprd refusing the dead-letter publish", func() bool {
			return strings.Contains(subscriber.Proc.Log(), "topic task-events-audit-dlq is not allowed for app id audit-service")
		})
		if recs := broker.Consume(t, "task-events-audit-dlq", 1, 2*time.Second); len(recs) != 0 {
			t.Errorf("task-events-audit-dlq has %d records without the scope, want 0", len(recs))
		}
	})
}

// startAuditSubscriber starts a broker, an app as audit-service that DROPs every task event
// (dead-letter topic task-events-audit-dlq) behind its daprd, and a daprd as task-api, all
// with the Component's scoping metadata.
func startAuditSubscriber(t *testing.T, scoping map[string]string) (*testenv.Broker, *testenv.Daprd, *testenv.Daprd) {
	t.Helper()
	broker := testenv.StartBroker(t, "task-events", "task-events-audit-dlq")
	svc := testenv.RunService(t, dropEverything, nil)
	subscriber := scopedDaprd(t, broker, scoping, "audit-service", svc.GRPCPort)
	subscriber.WaitSubscribed(t, "task-events")
	return broker, subscriber, scopedDaprd(t, broker, scoping, "task-api", 0)
}

// scopedDaprd starts daprd as appID with testenv's pubsub.kafka Component plus scoping.
func scopedDaprd(t *testing.T, broker *testenv.Broker, scoping map[string]string, appID string, appPort int) *testenv.Daprd {
	t.Helper()
	var b strings.Builder
	b.WriteString(testenv.PubsubComponent(broker.Addr, appID))
	for _, name := range []string{"publishingScopes", "subscriptionScopes", "protectedTopics"} {
		fmt.Fprintf(&b, "    - name: %s\n      value: %q\n", name, scoping[name])
	}
	return testenv.StartDaprd(t, testenv.DaprdConfig{AppID: appID, AppPort: appPort, Broker: broker, Retries: 3,
		ExtraResources: map[string]string{"pubsub.yaml": b.String()}})
}

// dropEverything is a service subscribing task-events that DROPs every event.
func dropEverything(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	app := grpcapp.New(grpcapp.ReadConfig(envconfig.New(getenv)), slog.New(slog.NewJSONHandler(stdout, nil)))
	daprsub.Handle(app.Events, daprsub.Subscription{
		PubsubName: testenv.PubsubName, Topic: "task-events", DeadLetterTopic: "task-events-audit-dlq",
	}, func(context.Context, daprsub.Meta, *eventsv1.TaskEvent) error {
		return daprsub.Permanent(errors.New("dropped by the test"))
	})
	return app.Run(ctx)
}
