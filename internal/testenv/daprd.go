package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/taskflow/taskflow-events/internal/localrun"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// PubsubName is the pub/sub component every service and test uses.
const PubsubName = localrun.PubsubName

// DaprdConfig describes one sidecar.
type DaprdConfig struct {
	AppID string
	// AppPort is the app's port on 127.0.0.1; 0 runs daprd without an app (a publisher).
	AppPort int
	// AppProtocol is "grpc" (default) or "http".
	AppProtocol string
	// Broker is the Kafka broker of the pubsub.kafka component; nil means no pub/sub.
	Broker *Broker
	// ConsumerGroup defaults to AppID.
	ConsumerGroup string
	// AppHealthCheck turns on daprd's app health probe (every second): while the app
	// reports unhealthy, daprd stops delivering events to it.
	AppHealthCheck bool
	// Retries is how often the inbound resiliency policy retries a RETRY answer before the
	// event goes to the dead-letter topic (default 50), RetryInterval the constant wait
	// between tries (default 100ms). Retries < 0 disables the policy.
	Retries       int
	RetryInterval time.Duration
	// AppToken is daprd's APP_API_TOKEN: sent as dapr-api-token on calls to the app.
	AppToken string
	// ExtraPubsubs are more pubsub.kafka Components on Broker, by name, each with its own
	// consumer group (ConsumerGroup-name) and the same inbound retries, e.g. the audit
	// service's one per topic.
	ExtraPubsubs []string
	// ExtraResources are more resource YAML documents, by file name.
	ExtraResources map[string]string
	// Ports: zero picks free ones. Set them to restart a sidecar on the same ports.
	HTTPPort, GRPCPort, InternalGRPCPort, MetricsPort int
}

// Daprd is a running sidecar.
type Daprd struct {
	Config       DaprdConfig
	ResourcesDir string
	Proc         *Process
	t            testing.TB
}

// HTTPAddr is the sidecar's HTTP API address (http://127.0.0.1:port).
func (d *Daprd) HTTPAddr() string { return "http://127.0.0.1:" + strconv.Itoa(d.Config.HTTPPort) }

// GRPCAddr is the sidecar's gRPC API address (127.0.0.1:port).
func (d *Daprd) GRPCAddr() string { return "127.0.0.1:" + strconv.Itoa(d.Config.GRPCPort) }

// PubsubComponent returns the pubsub.kafka component YAML for a broker address and group.
func PubsubComponent(brokers, consumerGroup string) string {
	return localrun.PubsubComponent(brokers, consumerGroup)
}

// ResiliencyPolicy returns a Resiliency YAML retrying the pub/sub inbound retries times,
// every interval, before the event goes to the dead-letter topic.
func ResiliencyPolicy(retries int, interval time.Duration) string {
	return localrun.ResiliencyPolicy(retries, interval)
}

// StartDaprd starts a sidecar and waits until its API is ready (and, with an app, until
// it has connected to the app). Start the app first: daprd waits for its port.
func StartDaprd(t testing.TB, cfg DaprdConfig) *Daprd {
	t.Helper()
	SkipShort(t, "daprd")
	if cfg.AppProtocol == "" {
		cfg.AppProtocol = "grpc"
	}
	if cfg.ConsumerGroup == "" {
		cfg.ConsumerGroup = cfg.AppID
	}
	if cfg.Retries == 0 {
		cfg.Retries = 50
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 100 * time.Millisecond
	}
	for _, p := range []*int{&cfg.HTTPPort, &cfg.GRPCPort, &cfg.InternalGRPCPort, &cfg.MetricsPort} {
		if *p == 0 {
			*p = FreePort(t)
		}
	}
	dir, err := os.MkdirTemp("", "testenv-dapr-"+cfg.AppID+"-")
	if err != nil {
		t.Fatalf("testenv: resources dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	files := map[string]string{}
	if cfg.Broker != nil {
		files["pubsub.yaml"] = PubsubComponent(cfg.Broker.Addr, cfg.ConsumerGroup)
		for _, name := range cfg.ExtraPubsubs {
			files["pubsub-"+name+".yaml"] = localrun.NamedPubsubComponent(name, cfg.Broker.Addr, cfg.ConsumerGroup+"-"+name)
		}
	}
	if cfg.Retries > 0 {
		files["resiliency.yaml"] = localrun.ResiliencyPolicy(cfg.Retries, cfg.RetryInterval, cfg.ExtraPubsubs...)
	}
	for name, body := range cfg.ExtraResources {
		files[name] = body
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatalf("testenv: write %s: %v", name, err)
		}
	}
	d := &Daprd{Config: cfg, ResourcesDir: dir, t: t}
	d.start(t)
	return d
}

func (d *Daprd) spec(t testing.TB) localrun.Daprd {
	cfg := d.Config
	return localrun.Daprd{
		Bin: Bin(t, "daprd"), AppID: cfg.AppID, AppPort: cfg.AppPort, AppProtocol: cfg.AppProtocol,
		AppHealthCheck: cfg.AppHealthCheck, ResourcesDir: d.ResourcesDir, AppToken: cfg.AppToken,
		HTTPPort: cfg.HTTPPort, GRPCPort: cfg.GRPCPort, InternalGRPCPort: cfg.InternalGRPCPort, MetricsPort: cfg.MetricsPort,
	}
}

func (d *Daprd) start(t testing.TB) {
	t.Helper()
	spec := d.spec(t)
	d.Proc = StartProcess(t, "daprd-"+d.Config.AppID, spec.Command())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := spec.WaitReady(ctx, d.Proc); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// WaitSubscribed waits until daprd reports a subscription to topic in its metadata.
func (d *Daprd) WaitSubscribed(t testing.TB, topic string) {
	t.Helper()
	spec := d.spec(t)
	WaitFor(t, 30*time.Second, "daprd "+d.Config.AppID+" to subscribe to "+topic, func() bool {
		return spec.Subscribed(context.Background(), topic)
	})
}

// Kill kills the sidecar with SIGKILL.
func (d *Daprd) Kill() { d.Proc.Kill() }

// Restart starts the sidecar again on the same ports and resources (after Kill or Stop).
func (d *Daprd) Restart(t testing.TB) {
	t.Helper()
	d.Proc.Stop(5 * time.Second)
	d.start(t)
}

// Client returns a go-sdk client connected to the sidecar, closed with the test.
func (d *Daprd) Client(t testing.TB) dapr.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dapr.NewClientWithAddressContext(ctx, d.GRPCAddr())
	if err != nil {
		t.Fatalf("testenv: dapr client for %s: %v", d.Config.AppID, err)
	}
	t.Cleanup(c.Close)
	return c
}

// PublishRaw publishes data with a content type and publish metadata through the sidecar's
// HTTP API and fails the test when daprd refuses it.
func (d *Daprd) PublishRaw(t testing.TB, topic, contentType string, data []byte, md map[string]string) {
	t.Helper()
	if err := d.TryPublishRaw(topic, contentType, data, md); err != nil {
		t.Fatal(err)
	}
}

// TryPublishRaw is PublishRaw returning the error (for tests that publish while a sidecar restarts).
func (d *Daprd) TryPublishRaw(topic, contentType string, data []byte, md map[string]string) error {
	var q []string
	traceparent := ""
	for k, v := range md {
		if k == "traceparent" {
			traceparent = v // sent as the W3C header, as an instrumented producer does
			continue
		}
		q = append(q, "metadata."+k+"="+v)
	}
	url := d.HTTPAddr() + "/v1.0/publish/" + PubsubName + "/" + topic
	if len(q) > 0 {
		url += "?" + strings.Join(q, "&")
	}
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(data)))
	if err != nil {
		return fmt.Errorf("testenv: publish to %s: %w", topic, err)
	}
	req.Header.Set("Content-Type", contentType)
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("testenv: publish to %s: %w", topic, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var body [512]byte
		n, _ := resp.Body.Read(body[:])
		return fmt.Errorf("testenv: publish to %s: HTTP %d: %s", topic, resp.StatusCode, body[:n])
	}
	return nil
}

// Meta builds the publish metadata our producers set (wire.Metadata).
func Meta(ceType, eventID, key string) map[string]string { return wire.Metadata(ceType, eventID, key) }

// Publish publishes msg as binary protobuf (application/octet-stream).
func (d *Daprd) Publish(t testing.TB, topic, ceType, key string, msg wire.Event) {
	t.Helper()
	data, err := proto.Marshal(msg)
	if err != nil {
		t.Fatalf("testenv: marshal: %v", err)
	}
	d.PublishRaw(t, topic, wire.ContentType, data, Meta(ceType, msg.GetEventId(), key))
}

// PublishJSON publishes msg as protojson (application/json), as a Python producer would.
func (d *Daprd) PublishJSON(t testing.TB, topic, ceType, key string, msg wire.Event) {
	t.Helper()
	data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(msg)
	if err != nil {
		t.Fatalf("testenv: marshal JSON: %v", err)
	}
	d.PublishRaw(t, topic, "application/json", data, Meta(ceType, msg.GetEventId(), key))
}
