package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
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
	// DaprTarget is the gRPC target of the sidecar, from DAPR_GRPC_ENDPOINT
	// (e.g. "localhost:50001", "https://dapr.example:443") or else 127.0.0.1:DAPR_GRPC_PORT ("50001").
	DaprTarget string
	// DaprTLS is set when DAPR_GRPC_ENDPOINT uses https.
	DaprTLS bool
	// DaprAPIToken is sent to the sidecar when set (DAPR_API_TOKEN).
	DaprAPIToken string
}

// CompletedType is the CloudEvent type of completion events; the subscription's routing
// rule delivers only these.
const CompletedType = "taskflow.task.completed.v1"

func readConfig(getenv func(string) string) (Config, error) {
	r := envconfig.New(getenv)
	c := Config{
		App:                 grpcapp.ReadConfig(r),
		Topic:               r.String("TOPIC", "task-events"),
		DeadLetterTopic:     r.String("DEAD_LETTER_TOPIC", "task-events-recurring-dlq"),
		EventTimeout:        r.Duration("EVENT_TIMEOUT", 30*time.Second),
		TaskAPIAppID:        r.String("TASK_API_APP_ID", "task-api"),
		TaskAPICreateMethod: strings.TrimPrefix(r.String("TASK_API_CREATE_METHOD", "api/tasks"), "/"),
		DaprAPIToken:        r.String("DAPR_API_TOKEN", ""),
	}
	if c.EventTimeout == 0 {
		r.Fail("EVENT_TIMEOUT must be positive")
	}
	port := r.Int("DAPR_GRPC_PORT", 50001, 1, 65535)
	c.DaprTarget = net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	if ep := r.String("DAPR_GRPC_ENDPOINT", ""); ep != "" {
		target, tls, err := parseEndpoint(ep)
		if err != nil {
			r.Fail("DAPR_GRPC_ENDPOINT=%q: %v", ep, err)
		}
		c.DaprTarget, c.DaprTLS = target, tls
	}
	return c, r.Err()
}

// parseEndpoint accepts host:port, http://host:port and https://host[:port].
func parseEndpoint(ep string) (target string, tls bool, err error) {
	if !strings.Contains(ep, "://") {
		if _, _, err := net.SplitHostPort(ep); err != nil {
			return "", false, fmt.Errorf("want host:port or an http(s) URL: %w", err)
		}
		return ep, false, nil
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false, fmt.Errorf("want host:port or an http(s) URL")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port), u.Scheme == "https", nil
}
