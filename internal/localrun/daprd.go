package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// PubsubName is the pub/sub component every service uses.
const PubsubName = "taskflow-pubsub"

// Daprd describes one self-hosted sidecar.
type Daprd struct {
	Bin   string
	AppID string
	// AppPort is the app's port on 127.0.0.1; 0 runs daprd without an app (a publisher).
	AppPort int
	// AppProtocol is "grpc" (default) or "http".
	AppProtocol string
	// AppHealthCheck turns on daprd's app health probe (every second).
	AppHealthCheck                                    bool
	ResourcesDir                                      string
	HTTPPort, GRPCPort, InternalGRPCPort, MetricsPort int
	LogLevel                                          string
	// AppToken, when set, is the APP_API_TOKEN daprd sends as dapr-api-token metadata with
	// topic events and service invocation (1.16+; not on ListTopicSubscriptions nor its app
	// health probe: TestDaprdRuntimeBehaviour).
	AppToken string
	// ProfilePort, when not 0, turns on daprd's profiling endpoint (--enable-profiling) there.
	ProfilePort int
}

// Command returns the daprd command line.
func (d Daprd) Command() *exec.Cmd {
	logLevel := d.LogLevel
	if logLevel == "" {
		logLevel = "info"
	}
	args := []string{
		"--app-id", d.AppID,
		"--dapr-http-port", strconv.Itoa(d.HTTPPort),
		"--dapr-grpc-port", strconv.Itoa(d.GRPCPort),
		"--dapr-internal-grpc-port", strconv.Itoa(d.InternalGRPCPort),
		"--metrics-port", strconv.Itoa(d.MetricsPort),
		"--dapr-listen-addresses", "127.0.0.1",
		"--resources-path", d.ResourcesDir,
		"--log-level", logLevel,
		"--dapr-graceful-shutdown-seconds", "2",
		"--placement-host-address", "",
	}
	if d.AppPort != 0 {
		proto := d.AppProtocol
		if proto == "" {
			proto = "grpc"
		}
		args = append(args, "--app-port", strconv.Itoa(d.AppPort), "--app-protocol", proto, "--app-channel-address", "127.0.0.1")
		if d.AppHealthCheck {
			args = append(args, "--enable-app-health-check", "--app-health-probe-interval", "1",
				"--app-health-threshold", "1", "--app-health-probe-timeout", "500")
		}
	}
	if d.ProfilePort != 0 {
		args = append(args, "--enable-profiling", "--profile-port", strconv.Itoa(d.ProfilePort))
	}
	cmd := exec.Command(d.Bin, args...)
	if d.AppToken != "" {
		cmd.Env = append(os.Environ(), "APP_API_TOKEN="+d.AppToken)
	}
	return cmd
}

// HTTPAddr is the sidecar's HTTP API base URL.
func (d Daprd) HTTPAddr() string { return "http://127.0.0.1:" + strconv.Itoa(d.HTTPPort) }

// WaitReady polls daprd's health endpoint until it answers 204 (with an app: until it has
// connected to the app), the process exits, or ctx ends.
func (d Daprd) WaitReady(ctx context.Context, p *Process) error {
	url := d.HTTPAddr() + "/v1.0/healthz"
	if d.AppPort == 0 {
		url += "/outbound"
	}
	for {
		if p.Exited() {
			return fmt.Errorf("daprd %s exited during start:\n%s", d.AppID, p.Tail(30))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("daprd %s not ready: %w\n%s", d.AppID, ctx.Err(), p.Tail(30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Subscribed reports whether daprd lists a subscription to topic in its metadata.
func (d Daprd) Subscribed(ctx context.Context, topic string) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.HTTPAddr()+"/v1.0/metadata", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var md struct {
		Subscriptions []struct {
			Topic string `json:"topic"`
		} `json:"subscriptions"`
	}
	if json.NewDecoder(resp.Body).Decode(&md) != nil {
		return false
	}
	for _, s := range md.Subscriptions {
		if s.Topic == topic {
			return true
		}
	}
	return false
}

// PubsubComponent returns the pubsub.kafka component YAML for a broker list and consumer
// group ("{appID}" gives every app its own group).
func PubsubComponent(brokers, consumerGroup string) string {
	return NamedPubsubComponent(PubsubName, brokers, consumerGroup)
}

// AuditPubsubEnv names the audit service's pub/sub Component of each topic it consumes
// (its AUDIT_PUBSUB_* variables): one Component per topic, so that each topic has its own
// Kafka consumer and bulk callbacks of different topics run concurrently (pubsub.kafka
// runs one bulk callback at a time per Component). dev/resources/pubsub-audit.yaml and the
// chart define the same Components.
func AuditPubsubEnv() map[string]string {
	return map[string]string{
		"AUDIT_PUBSUB_TASK_EVENTS":  PubsubName + "-audit-task-events",
		"AUDIT_PUBSUB_REMINDERS":    PubsubName + "-audit-reminders",
		"AUDIT_PUBSUB_TASK_UPDATES": PubsubName + "-audit-task-updates",
	}
}

// NamedPubsubComponent is PubsubComponent under another Component name.
func NamedPubsubComponent(name, brokers, consumerGroup string) string {
	return fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: %s
spec:
  type: pubsub.kafka
  version: v1
  metadata:
    - name: brokers
      value: "%s"
    - name: consumerGroup
      value: "%s"
    - name: clientID
      value: "%s"
    - name: authType
      value: "none"
    - name: disableTls
      value: "true"
    - name: initialOffset
      value: "oldest"
    - name: backOffDuration
      value: "100ms"
`, name, brokers, consumerGroup, consumerGroup)
}

// ResiliencyPolicy returns a Resiliency YAML retrying the pub/sub inbound of PubsubName
// and the other components retries times, every interval, before the event goes to the
// dead-letter topic.
func ResiliencyPolicy(retries int, interval time.Duration, components ...string) string {
	var targets strings.Builder
	for _, c := range append([]string{PubsubName}, components...) {
		fmt.Fprintf(&targets, "      %s:\n        inbound:\n          retry: pubsubInbound\n", c)
	}
	return fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: taskflow-resiliency
spec:
  policies:
    retries:
      pubsubInbound:
        policy: constant
        duration: %s
        maxRetries: %d
  targets:
    components:
%s`, interval, retries, targets.String())
}
