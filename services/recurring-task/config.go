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
	// Dapr says how to reach the sidecar (DAPR_GRPC_ENDPOINT, DAPR_GRPC_PORT, DAPR_API_TOKEN).
	Dapr daprconn.Config
}

// CompletedType is the CloudEvent type of completion events; the subscription's routing
// rule delivers only these.
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
		Dapr:                daprconn.ReadConfig(r),
	}
	if c.EventTimeout == 0 {
		r.Fail("EVENT_TIMEOUT must be positive")
	}
	return c, r.Err()
}
