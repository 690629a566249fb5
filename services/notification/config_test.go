package main

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/taskflow/taskflow-events/internal/daprconn"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

// Master keys of the webhook rows.
var (
	newMaster = []byte("new-master-key-0123456789abcdef!")
	oldMaster = []byte("old-master-key-0123456789abcdef!")
)

// env returns a getenv over the required variables plus extra.
func env(extra map[string]string) func(string) string {
	m := map[string]string{"DATABASE_URL": "postgres://localhost/notification"}
	for k, v := range extra {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

func TestReadConfig(t *testing.T) {
	t.Parallel()
	defaults := Config{
		DatabaseURL: "postgres://localhost/notification", DBMaxConns: 16, DBStartupTimeout: 60 * time.Second,
		Dapr:        daprconn.Config{Target: "127.0.0.1:50001"},
		MaxLateness: 6 * time.Hour, Retry: notify.DefaultBackoff, SchedulerInterval: time.Second, SchedulerBatch: 100,
		HandlerTimeout: 30 * time.Second, BulkMaxMessages: 100, BackgroundBatches: 8,
		BulkMaxAwait: 100 * time.Millisecond, WebhookTimeout: 10 * time.Second,
	}
	with := func(f func(*Config)) Config { c := defaults; f(&c); return c }
	tests := []struct {
		name string
		env  map[string]string
		want Config
	}{
		{"defaults", nil, defaults},
		{"dapr port and token", map[string]string{"DAPR_GRPC_PORT": "50011", "DAPR_API_TOKEN": "s3cret"},
			with(func(c *Config) { c.Dapr = daprconn.Config{Target: "127.0.0.1:50011", APIToken: "s3cret"} })},
		{"dapr https endpoint", map[string]string{"DAPR_GRPC_ENDPOINT": "https://dapr.example.com"},
			with(func(c *Config) { c.Dapr = daprconn.Config{Target: "dapr.example.com:443", TLS: true} })},
		{"lateness check off", map[string]string{"NOTIFY_MAX_LATENESS": "0"},
			with(func(c *Config) { c.MaxLateness = 0 })},
		{"retry schedule", map[string]string{"NOTIFY_RETRY_INITIAL": "1s", "NOTIFY_RETRY_MULTIPLIER": "2",
			"NOTIFY_RETRY_MAX_INTERVAL": "10s", "NOTIFY_RETRY_FOR": "1m", "NOTIFY_SCHEDULER_INTERVAL": "100ms"},
			with(func(c *Config) {
				c.Retry = notify.Backoff{Initial: time.Second, Multiplier: 2, Max: 10 * time.Second, Jitter: 0.2, RetryFor: time.Minute}
				c.SchedulerInterval = 100 * time.Millisecond
			})},
		{"retry forever", map[string]string{"NOTIFY_RETRY_FOR": "0"},
			with(func(c *Config) { c.Retry.RetryFor = 0 })},
		{"shortest bulk wait", map[string]string{"BULK_MAX_AWAIT": "1ms"},
			with(func(c *Config) { c.BulkMaxAwait = time.Millisecond })},
		{"first attempt before the answer", map[string]string{"NOTIFY_BACKGROUND_BATCHES": "0"},
			with(func(c *Config) { c.BackgroundBatches = 0 })},
		{"webhook master key", map[string]string{"WEBHOOK_SECRET": "whsec_" + base64.StdEncoding.EncodeToString(newMaster)},
			with(func(c *Config) { c.WebhookKey = newMaster })},
		{"webhook key rotation", map[string]string{"WEBHOOK_SECRET": "whsec_" + base64.StdEncoding.EncodeToString(newMaster),
			"WEBHOOK_SECRET_PREVIOUS": string(oldMaster)},
			with(func(c *Config) { c.WebhookKey, c.WebhookPreviousKey = newMaster, oldMaster })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readConfig(env(tt.env))
			if err != nil {
				t.Fatalf("readConfig error: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreTypes(grpcapp.Config{})); diff != "" {
				t.Errorf("readConfig mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadConfigRejects(t *testing.T) {
	t.Parallel()
	smtp := map[string]string{"SMTP_ADDR": "smtp.example.com:587", "SMTP_FROM": "reminders@example.com"}
	tests := []struct {
		name string
		env  map[string]string
		want string // the variable the error must name
	}{
		// daprsub would replace 0 by 30s.
		{"handler timeout 0", map[string]string{"HANDLER_TIMEOUT": "0"}, "HANDLER_TIMEOUT"},
		{"handler timeout 0s", map[string]string{"HANDLER_TIMEOUT": "0s"}, "HANDLER_TIMEOUT"},
		// http.Client would never time out.
		{"webhook timeout 0", map[string]string{"WEBHOOK_TIMEOUT": "0"}, "WEBHOOK_TIMEOUT"},
		// email.NewSender would replace 0 by 15s.
		{"smtp timeout 0", map[string]string{"SMTP_TIMEOUT": "0", "SMTP_ADDR": smtp["SMTP_ADDR"], "SMTP_FROM": smtp["SMTP_FROM"]}, "SMTP_TIMEOUT"},
		// daprd would wait its default (1s, 10s with Kafka) instead of not waiting.
		{"bulk await 0", map[string]string{"BULK_MAX_AWAIT": "0"}, "BULK_MAX_AWAIT"},
		{"bulk await under 1ms", map[string]string{"BULK_MAX_AWAIT": "500us"}, "BULK_MAX_AWAIT"},
		{"dapr port", map[string]string{"DAPR_GRPC_PORT": "dapr"}, "DAPR_GRPC_PORT"},
		// The first retry would come after the window closed: the channel fails at once.
		{"retry window shorter than the first wait", map[string]string{"NOTIFY_RETRY_FOR": "10s"}, "NOTIFY_RETRY_FOR"},
		{"retry initial 0", map[string]string{"NOTIFY_RETRY_INITIAL": "0"}, "NOTIFY_RETRY_INITIAL"},
		{"retry cap under the first wait", map[string]string{"NOTIFY_RETRY_MAX_INTERVAL": "10s"}, "NOTIFY_RETRY_MAX_INTERVAL"},
		{"retry multiplier 0", map[string]string{"NOTIFY_RETRY_MULTIPLIER": "0"}, "NOTIFY_RETRY_MULTIPLIER"},
		{"scheduler interval 0", map[string]string{"NOTIFY_SCHEDULER_INTERVAL": "0"}, "NOTIFY_SCHEDULER_INTERVAL"},
		{"dapr endpoint", map[string]string{"DAPR_GRPC_ENDPOINT": "ftp://x"}, "DAPR_GRPC_ENDPOINT"},
		{"short webhook secret", map[string]string{"WEBHOOK_SECRET": "short"}, "WEBHOOK_SECRET"},
		{"short previous webhook secret", map[string]string{"WEBHOOK_SECRET": string(newMaster), "WEBHOOK_SECRET_PREVIOUS": "whsec_c2hvcnQ="},
			"WEBHOOK_SECRET_PREVIOUS"},
		// A rotation without the new key would sign nothing while the API hands out secrets.
		{"previous webhook secret alone", map[string]string{"WEBHOOK_SECRET_PREVIOUS": string(oldMaster)}, "WEBHOOK_SECRET_PREVIOUS"},
		{"previous webhook secret unchanged", map[string]string{"WEBHOOK_SECRET": string(oldMaster), "WEBHOOK_SECRET_PREVIOUS": string(oldMaster)},
			"WEBHOOK_SECRET_PREVIOUS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := readConfig(env(tt.env))
			if err == nil {
				t.Fatalf("readConfig(%v) error = nil, want an error about %s", tt.env, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("readConfig(%v) error = %q, want it to mention %s", tt.env, err, tt.want)
			}
			for k, v := range tt.env {
				if strings.Contains(k, "SECRET") && strings.Contains(err.Error(), v) {
					t.Errorf("readConfig error %q contains the value of %s", err, k)
				}
			}
		})
	}
}

func TestReadConfigReportsAllErrors(t *testing.T) {
	t.Parallel()
	getenv := env(map[string]string{"HANDLER_TIMEOUT": "0", "WEBHOOK_TIMEOUT": "0", "BULK_MAX_AWAIT": "0",
		"DAPR_GRPC_PORT": "0", "SMTP_ADDR": "smtp.example.com:587", "SMTP_FROM": "reminders@example.com", "SMTP_TIMEOUT": "0"})
	_, err := readConfig(getenv)
	if err == nil {
		t.Fatal("readConfig error = nil, want errors")
	}
	for _, name := range []string{"HANDLER_TIMEOUT", "WEBHOOK_TIMEOUT", "BULK_MAX_AWAIT", "DAPR_GRPC_PORT", "SMTP_TIMEOUT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("readConfig error %q does not mention %s", err, name)
		}
	}
}
