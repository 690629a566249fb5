package daprsub_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/taskflow/taskflow-events/internal/testenv"
)

// probeCall is one call daprd made to the probe app, as it arrived.
type probeCall struct {
	method, token, topic, path, id, contentType string
	data                                        []byte
}

// probe is a bare AppCallback server (no daprsub): it records exactly what daprd sends,
// so the tests below show the runtime's own behaviour, not our workarounds.
type probe struct {
	runtimev1.UnimplementedAppCallbackServer
	runtimev1.UnimplementedAppCallbackAlphaServer
	runtimev1.UnimplementedAppCallbackHealthCheckServer

	subs  []*runtimev1.TopicSubscription
	retry map[string]bool // topics answered RETRY

	mu    sync.Mutex
	calls []probeCall
}

func token(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("dapr-api-token"); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (p *probe) record(c probeCall) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, c)
}

func (p *probe) find(f func(probeCall) bool) []probeCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []probeCall
	for _, c := range p.calls {
		if f(c) {
			out = append(out, c)
		}
	}
	return out
}

func (p *probe) byID(id string) []probeCall {
	return p.find(func(c probeCall) bool { return c.id == id })
}

func (p *probe) ListTopicSubscriptions(ctx context.Context, _ *emptypb.Empty) (*runtimev1.ListTopicSubscriptionsResponse, error) {
	p.record(probeCall{method: "ListTopicSubscriptions", token: token(ctx)})
	return &runtimev1.ListTopicSubscriptionsResponse{Subscriptions: p.subs}, nil
}

func (p *probe) OnTopicEvent(ctx context.Context, req *runtimev1.TopicEventRequest) (*runtimev1.TopicEventResponse, error) {
	p.record(probeCall{method: "OnTopicEvent", token: token(ctx), topic: req.GetTopic(), path: req.GetPath(),
		id: req.GetId(), contentType: req.GetDataContentType(), data: req.GetData()})
	if p.retry[req.GetTopic()] {
		return &runtimev1.TopicEventResponse{Status: runtimev1.TopicEventResponse_RETRY}, nil
	}
	return &runtimev1.TopicEventResponse{Status: runtimev1.TopicEventResponse_SUCCESS}, nil
}

func (p *probe) bulk(ctx context.Context, method string, req *runtimev1.TopicEventBulkRequest) (*runtimev1.TopicEventBulkResponse, error) {
	out := &runtimev1.TopicEventBulkResponse{}
	for _, e := range req.GetEntries() {
		c := probeCall{method: method, token: token(ctx), topic: req.GetTopic(), path: req.GetPath(), contentType: e.GetContentType()}
		if ce := e.GetCloudEvent(); ce != nil {
			c.id, c.data = ce.GetId(), ce.GetData()
			if ce.GetDataContentType() != "" {
				c.contentType = ce.GetDataContentType()
			}
		} else {
			// rawPayload: the record as published, the CloudEvent envelope included.
			c.data = e.GetBytes()
			var env struct {
				ID         string `json:"id"`
				DataBase64 string `json:"data_base64"`
			}
			if json.Unmarshal(c.data, &env) == nil {
				c.id = env.ID
				if b, err := base64.StdEncoding.DecodeString(env.DataBase64); err == nil {
					c.data = b
				}
			}
		}
		p.record(c)
		out.Statuses = append(out.Statuses, &runtimev1.TopicEventBulkResponseEntry{EntryId: e.GetEntryId(), Status: runtimev1.TopicEventResponse_SUCCESS})
	}
	return out, nil
}

func (p *probe) OnBulkTopicEvent(ctx context.Context, req *runtimev1.TopicEventBulkRequest) (*runtimev1.TopicEventBulkResponse, error) {
	return p.bulk(ctx, "OnBulkTopicEvent", req)
}

func (p *probe) OnBulkTopicEventAlpha1(ctx context.Context, req *runtimev1.TopicEventBulkRequest) (*runtimev1.TopicEventBulkResponse, error) {
	return p.bulk(ctx, "OnBulkTopicEventAlpha1", req)
}

func (p *probe) HealthCheck(ctx context.Context, _ *emptypb.Empty) (*runtimev1.HealthCheckResponse, error) {
	p.record(probeCall{method: "HealthCheck", token: token(ctx)})
	return &runtimev1.HealthCheckResponse{}, nil
}

// daprdVersion is what the daprd under test reports, e.g. "1.17.5" (versions 1.1x compare
// as strings).
func daprdVersion(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(testenv.Bin(t, "daprd"), "--version").Output()
	if err != nil {
		t.Fatalf("daprd --version: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// serveProbe runs p on a free port and returns the port.
func serveProbe(t *testing.T, p *probe) int {
	t.Helper()
	lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	runtimev1.RegisterAppCallbackServer(g, p)
	runtimev1.RegisterAppCallbackAlphaServer(g, p)
	runtimev1.RegisterAppCallbackHealthCheckServer(g, p)
	go g.Serve(lis) //nolint:errcheck // ends with Stop
	t.Cleanup(g.Stop)
	return lis.Addr().(*net.TCPAddr).Port
}

func bulkSub(topic string, md map[string]string) *runtimev1.TopicSubscription {
	return &runtimev1.TopicSubscription{PubsubName: testenv.PubsubName, Topic: topic, DeadLetterTopic: topic + "-dlq", Metadata: md,
		BulkSubscribe: &runtimev1.BulkSubscribeConfig{Enabled: true, MaxMessagesCount: 10, MaxAwaitDurationMs: 100}}
}

// TestDaprdRuntimeBehaviour pins down, against the daprd the suite runs (README
// "Supported Dapr"), each runtime behaviour our callback runtime works around or relies
// on. A test here failing on a new daprd means a workaround can go (or a new one is
// needed): see the comment of each subtest for the code that depends on it.
func TestDaprdRuntimeBehaviour(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs daprd")
	}
	topics := []string{"rq-single", "rq-bulk", "rq-bulkraw", "rq-rules", "rq-rules-default", "rq-retry", "rq-retry-nopolicy"}
	var all []string
	for _, tp := range topics {
		all = append(all, tp, tp+"-dlq")
	}
	broker := testenv.StartBroker(t, all...)
	const appToken = "probe-app-token"
	route := func(topic string, routes *runtimev1.TopicRoutes) *runtimev1.TopicSubscription {
		return &runtimev1.TopicSubscription{PubsubName: testenv.PubsubName, Topic: topic, DeadLetterTopic: topic + "-dlq", Routes: routes}
	}
	rules := []*runtimev1.TopicRule{{Match: `event.type == "keep"`, Path: "/keep"}}
	withPolicy := &probe{retry: map[string]bool{"rq-retry": true}, subs: []*runtimev1.TopicSubscription{
		route("rq-single", nil),
		bulkSub("rq-bulk", nil),
		bulkSub("rq-bulkraw", map[string]string{"rawPayload": "true"}),
		route("rq-rules", &runtimev1.TopicRoutes{Rules: rules}),
		route("rq-rules-default", &runtimev1.TopicRoutes{Rules: rules, Default: "/other"}),
		route("rq-retry", nil),
	}}
	noPolicy := &probe{retry: map[string]bool{"rq-retry-nopolicy": true}, subs: []*runtimev1.TopicSubscription{route("rq-retry-nopolicy", nil)}}
	d := testenv.StartDaprd(t, testenv.DaprdConfig{AppID: testenv.UniqueAppID("probe"), AppPort: serveProbe(t, withPolicy),
		Broker: broker, AppToken: appToken, AppHealthCheck: true, Retries: 3, RetryInterval: 50 * time.Millisecond})
	dn := testenv.StartDaprd(t, testenv.DaprdConfig{AppID: testenv.UniqueAppID("probe-nopolicy"), AppPort: serveProbe(t, noPolicy),
		Broker: broker, Retries: -1})
	for _, tp := range topics[:6] {
		d.WaitSubscribed(t, tp)
	}
	dn.WaitSubscribed(t, "rq-retry-nopolicy")
	payload := []byte("\x0a\x05evt-1\x10\x03binary \x00\xff payload")
	wait := func(t *testing.T, p *probe, id string) []probeCall {
		t.Helper()
		testenv.WaitFor(t, 20*time.Second, "daprd to deliver "+id, func() bool { return len(p.byID(id)) > 0 })
		return p.byID(id)
	}

	// Decode (decode.go) accepts application/octet-stream as binary protobuf and refuses
	// application/protobuf and application/x-protobuf: daprd hands those over empty.
	t.Run("single delivery keeps binary payloads only as application/octet-stream", func(t *testing.T) {
		d.PublishRaw(t, "rq-single", "application/octet-stream", payload, testenv.Meta("t", "ct-octet", ""))
		c := wait(t, withPolicy, "ct-octet")[0]
		if !bytes.Equal(c.data, payload) || c.contentType != "application/octet-stream" {
			t.Errorf("application/octet-stream: OnTopicEvent data = %q (%s), want the published %q", c.data, c.contentType, payload)
		}
		for i, ct := range []string{"application/protobuf", "application/x-protobuf"} {
			id := fmt.Sprintf("ct-%d", i)
			d.PublishRaw(t, "rq-single", ct, payload, testenv.Meta("t", id, ""))
			if c := wait(t, withPolicy, id)[0]; len(c.data) != 0 {
				t.Errorf("%s: OnTopicEvent data = %q: daprd now keeps this content type, Decode could accept it", ct, c.data)
			}
		}
	})

	// Still needed: daprsub sets rawPayload on every bulk subscription (subscription.go)
	// and unwraps the envelope itself (cloudevent.go), because daprd's bulk gRPC delivery
	// (pkg/runtime/pubsub FetchEntry) drops data_base64 of binary events.
	t.Run("bulk delivery without rawPayload loses binary payloads", func(t *testing.T) {
		d.PublishRaw(t, "rq-bulk", "application/octet-stream", payload, testenv.Meta("t", "bulk-bin", ""))
		c := wait(t, withPolicy, "bulk-bin")[0]
		if bytes.Equal(c.data, payload) {
			t.Errorf("bulk delivery kept the binary payload: the rawPayload workaround in subscription.go can go")
		}
		t.Logf("bulk delivery of a binary event without rawPayload: %d bytes arrived (published %d)", len(c.data), len(payload))
	})
	t.Run("bulk delivery with rawPayload keeps binary payloads", func(t *testing.T) {
		d.PublishRaw(t, "rq-bulkraw", "application/octet-stream", payload, testenv.Meta("t", "bulkraw-bin", ""))
		c := wait(t, withPolicy, "bulkraw-bin")[0]
		if !bytes.Equal(c.data, payload) {
			t.Errorf("raw bulk entry's data_base64 = %q, want the published %q", c.data, payload)
		}
	})

	// daprsub.Server serves both bulk methods: daprd 1.17+ calls the stable OnBulkTopicEvent
	// (and falls back to the alpha method only when it is Unimplemented); 1.16 calls only
	// OnBulkTopicEventAlpha1.
	t.Run("bulk arrives on the stable method from 1.17, on the alpha method before", func(t *testing.T) {
		want, other := "OnBulkTopicEvent", "OnBulkTopicEventAlpha1"
		if v := daprdVersion(t); v < "1.17" {
			want, other = other, want
		}
		got := withPolicy.find(func(c probeCall) bool { return c.method == want })
		wrong := withPolicy.find(func(c probeCall) bool { return c.method == other })
		if len(got) == 0 || len(wrong) > 0 {
			t.Errorf("daprd %s: %d bulk entries on %s, %d on %s; want all on %s", daprdVersion(t), len(got), want, len(wrong), other, want)
		}
	})

	// Still needed: recurring-task sets a default route next to its rule (run.go); without
	// one daprd dead-letters every event that matches no rule.
	t.Run("an event matching no rule is dead-lettered unless there is a default route", func(t *testing.T) {
		d.PublishRaw(t, "rq-rules", "application/octet-stream", payload, testenv.Meta("other", "rules-other", ""))
		d.PublishRaw(t, "rq-rules", "application/octet-stream", payload, testenv.Meta("keep", "rules-keep", ""))
		d.PublishRaw(t, "rq-rules-default", "application/octet-stream", payload, testenv.Meta("other", "rules-default-other", ""))
		if c := wait(t, withPolicy, "rules-keep")[0]; c.path != "/keep" {
			t.Errorf("matching event arrived on path %q, want /keep", c.path)
		}
		if c := wait(t, withPolicy, "rules-default-other")[0]; c.path != "/other" {
			t.Errorf("unmatched event with a default route arrived on path %q, want /other", c.path)
		}
		recs := broker.Consume(t, "rq-rules-dlq", 1, 20*time.Second)
		if len(recs) != 1 || !bytes.Contains(recs[0].Value, []byte(`"rules-other"`)) {
			t.Errorf("rq-rules-dlq holds %d records, want the unmatched event rules-other: the default route workaround can go", len(recs))
		}
		if n := len(withPolicy.byID("rules-other")); n != 0 {
			t.Errorf("unmatched event without a default route reached the app %d times", n)
		}
		if recs := broker.Consume(t, "rq-rules-default-dlq", 1, 2*time.Second); len(recs) != 0 {
			t.Errorf("rq-rules-default-dlq holds %d records, want none: the default route takes unmatched events", len(recs))
		}
	})

	// The chart and dev stack ship a resiliency policy (dev/resources/resiliency.yaml,
	// chart values resiliency): without one a single RETRY dead-letters the event.
	t.Run("RETRY is retried by the resiliency policy, then dead-lettered; without a policy at once", func(t *testing.T) {
		d.PublishRaw(t, "rq-retry", "application/octet-stream", payload, testenv.Meta("t", "retry-policy", ""))
		d.PublishRaw(t, "rq-retry-nopolicy", "application/octet-stream", payload, testenv.Meta("t", "retry-nopolicy", ""))
		if recs := broker.Consume(t, "rq-retry-dlq", 1, 20*time.Second); len(recs) != 1 {
			t.Fatalf("rq-retry-dlq holds %d records, want the event once its retries ran out", len(recs))
		}
		if recs := broker.Consume(t, "rq-retry-nopolicy-dlq", 1, 20*time.Second); len(recs) != 1 {
			t.Fatalf("rq-retry-nopolicy-dlq holds %d records, want the event after its first RETRY", len(recs))
		}
		if n := len(withPolicy.byID("retry-policy")); n != 4 {
			t.Errorf("with maxRetries 3 the app saw the event %d times, want 4", n)
		}
		if n := len(noPolicy.byID("retry-nopolicy")); n != 1 {
			t.Errorf("without a policy the app saw the event %d times, want 1", n)
		}
	})

	// grpcapp requires APP_API_TOKEN on the callbacks that deliver events (apitoken.go):
	// daprd sends it there. It does not send it on ListTopicSubscriptions or its app
	// health probe, so those two (read-only: no effect) stay open.
	t.Run("daprd sends the app token with every event, not on list or health", func(t *testing.T) {
		seen := map[string]int{}
		for _, c := range withPolicy.find(func(probeCall) bool { return true }) {
			seen[c.method]++
			switch c.method {
			case "OnTopicEvent", "OnBulkTopicEvent", "OnBulkTopicEventAlpha1":
				if c.token != appToken {
					t.Errorf("%s arrived with dapr-api-token %q, want the app token", c.method, c.token)
				}
			default:
				if c.token != "" {
					t.Errorf("%s arrived with the app token: grpcapp can require it there too (apitoken.go)", c.method)
				}
			}
		}
		for _, m := range []string{"ListTopicSubscriptions", "OnTopicEvent", "HealthCheck"} {
			if seen[m] == 0 {
				t.Errorf("daprd never called %s (calls seen: %v)", m, seen)
			}
		}
		if seen["OnBulkTopicEvent"]+seen["OnBulkTopicEventAlpha1"] == 0 {
			t.Errorf("daprd never called a bulk method (calls seen: %v)", seen)
		}
	})
}
