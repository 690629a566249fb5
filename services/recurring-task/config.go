package main

import (
	"strings"
	"time"

	"github.com/taskflow/taskflow-events/internal/daprconn"
	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// Config is the recurring-task service's configuration, read from the environment once.
type Config struct {
	App grpcapp.Config
	// Topic carries task events (TOPIC, "task-events").
	Topic string
	// DeadLetterTopic receives dropped events (DEAD_LETTER_TOPIC, "task-events-recurring-dlq").
	DeadLetterTopic string
	// EventTimeout bounds the handling of one event (EVENT_TIMEOUT, "30s").
	EventTimeout time.Duration
	// TaskAPIAppID is the Dapr app-id of the Task API (TASK_API_APP_ID, "task-api").
	TaskAPIAppID string
	// TaskAPICreateMethod is the method path POSTed to (TASK_API_CREATE_METHOD, "api/tasks").
	TaskAPICreateMethod string
	// BulkMaxMessages is the most task events daprd delivers in one bulk request
	// (BULK_MAX_MESSAGES, 100); 1 turns bulk delivery off (one event per call, routed by
	// daprd's rule).
	BulkMaxMessages int
	// BulkMaxAwait is how long daprd waits to fill a bulk request (BULK_MAX_AWAIT, 500ms).
	BulkMaxAwait time.Duration
	// TaskAPIConcurrency is the most Task API creates in flight for one bulk request
	// (TASK_API_CONCURRENCY, 32).
	TaskAPIConcurrency int
	// Dapr says how to reach the sidecar (DAPR_GRPC_ENDPOINT, DAPR_GRPC_PORT, DAPR_API_TOKEN).
	Dapr daprconn.Config
}

// CompletedType is the CloudEvent type of completion events, the only ones the service
// acts on.
const CompletedType = wire.TypeTaskCompleted

func readConfig(getenv func(string) string) (Config, error) {
	r := envconfig.New(getenv)
	c := Config{
		App:                 grpcapp.ReadConfig(r),
		Topic:               r.String("TOPIC", wire.TopicTaskEvents),
		DeadLetterTopic:     r.String("DEAD_LETTER_TOPIC", wire.DeadLetterTaskEventsRecurring),
		EventTimeout:        r.Duration("EVENT_TIMEOUT", 30*time.Second),
		TaskAPIAppID:        r.String("TASK_API_APP_ID", "task-api"),
		TaskAPICreateMethod: strings.TrimPrefix(r.String("TASK_API_CREATE_METHOD", "api/tasks"), "/"),
		BulkMaxMessages:     r.Int("BULK_MAX_MESSAGES", wire.RecurringBulkMaxMessages, 1, 1000),
		BulkMaxAwait:        r.Duration("BULK_MAX_AWAIT", wire.RecurringBulkMaxAwait),
		TaskAPIConcurrency:  r.Int("TASK_API_CONCURRENCY", 32, 1, 1000),
		Dapr:                daprconn.ReadConfig(r),
	}
	if c.EventTimeout == 0 {
		r.Fail("EVENT_TIMEOUT must be positive")
	}
	// daprd receives maxAwaitDurationMs in whole milliseconds and treats 0 as unset (it then
	// waits its default: 1s, 10s with pubsub.kafka), the opposite of "do not wait".
	if c.BulkMaxAwait < time.Millisecond {
		r.Fail("BULK_MAX_AWAIT=%s: want at least 1ms (daprd treats 0 as its default wait of 1s, 10s with Kafka)", c.BulkMaxAwait)
	}
	return c, r.Err()
}
