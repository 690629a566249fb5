package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/taskflow/taskflow-events/internal/daprconn"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
)

func TestReadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want Config
	}{
		{"defaults", nil, Config{Topic: "task-events", DeadLetterTopic: "task-events-recurring-dlq", EventTimeout: 30 * time.Second,
			TaskAPIAppID: "task-api", TaskAPICreateMethod: "api/tasks", BulkMaxMessages: 100, BulkMaxAwait: 500 * time.Millisecond,
			TaskAPIConcurrency: 32, Dapr: daprconn.Config{Target: "127.0.0.1:50001"}}},
		{"overrides", map[string]string{"TASK_API_APP_ID": "tasks", "TASK_API_CREATE_METHOD": "/v2/tasks", "DAPR_GRPC_PORT": "50011",
			"BULK_MAX_MESSAGES": "1", "BULK_MAX_AWAIT": "5ms", "TASK_API_CONCURRENCY": "4"},
			Config{Topic: "task-events", DeadLetterTopic: "task-events-recurring-dlq", EventTimeout: 30 * time.Second,
				TaskAPIAppID: "tasks", TaskAPICreateMethod: "v2/tasks", BulkMaxMessages: 1, BulkMaxAwait: 5 * time.Millisecond,
				TaskAPIConcurrency: 4, Dapr: daprconn.Config{Target: "127.0.0.1:50011"}}},
		{"https endpoint", map[string]string{"DAPR_GRPC_ENDPOINT": "https://dapr.example.com"},
			Config{Topic: "task-events", DeadLetterTopic: "task-events-recurring-dlq", EventTimeout: 30 * time.Second,
				TaskAPIAppID: "task-api", TaskAPICreateMethod: "api/tasks", BulkMaxMessages: 100, BulkMaxAwait: 500 * time.Millisecond,
				TaskAPIConcurrency: 32, Dapr: daprconn.Config{Target: "dapr.example.com:443", TLS: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readConfig(func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatalf("readConfig error: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreTypes(grpcapp.Config{})); diff != "" {
				t.Errorf("readConfig mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadConfigReportsAllErrors(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DAPR_GRPC_PORT": "0", "EVENT_TIMEOUT": "soon", "LOG_LEVEL": "loud", "DAPR_GRPC_ENDPOINT": "ftp://x",
		"BULK_MAX_MESSAGES": "0", "BULK_MAX_AWAIT": "0s", "TASK_API_CONCURRENCY": "0"}
	_, err := readConfig(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("readConfig error = nil, want errors")
	}
	for _, name := range []string{"DAPR_GRPC_PORT", "EVENT_TIMEOUT", "LOG_LEVEL", "DAPR_GRPC_ENDPOINT", "BULK_MAX_MESSAGES", "BULK_MAX_AWAIT", "TASK_API_CONCURRENCY"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("readConfig error %q does not mention %s", err, name)
		}
	}
}
