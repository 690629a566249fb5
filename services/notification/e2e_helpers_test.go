package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/services/notification/internal/webhook"
)

// receiver stands in for users' webhook endpoints, one path per user: each path verifies
// with the secret its user was given (trust; in the tests, as GetWebhookSecret returned
// it), never with another user's. A path listed in failFirst answers 503 that many times
// (after verifying) before it answers 200.
type receiver struct {
	srv *httptest.Server

	mu        sync.Mutex
	secrets   map[string][]byte // path -> key of the user whose endpoint it is
	anyUser   *webhook.Keyring  // when set, a path without a secret verifies with the payload's user's key
	calls     map[string]int    // path -> calls
	verified  map[string][]webhook.Payload
	badSig    map[string]int
	last      map[string]signedCall // path -> last call that verified
	failFirst map[string]int
}

// signedCall is what a receiver got: headers and body, to verify again.
type signedCall struct {
	header http.Header
	body   []byte
}

func startReceiver(t testing.TB) *receiver {
	r := &receiver{secrets: map[string][]byte{}, calls: map[string]int{}, verified: map[string][]webhook.Payload{},
		badSig: map[string]int{}, last: map[string]signedCall{}, failFirst: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// trust makes path the endpoint of the user whose secret ("whsec_…") is given.
func (r *receiver) trust(t testing.TB, path, secret string) {
	t.Helper()
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatalf("webhook secret for %s: %v", path, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets[path] = key
}

// trustEveryUser verifies paths without their own secret with the key keys derives for
// the payload's user_id: the benchmark's thousands of users share one path.
func (r *receiver) trustEveryUser(keys *webhook.Keyring) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.anyUser = keys
}

func (r *receiver) key(path string, body []byte) []byte {
	if k, ok := r.secrets[path]; ok || r.anyUser == nil {
		return k
	}
	var p webhook.Payload
	if json.Unmarshal(body, &p) != nil {
		return nil
	}
	secret, _, err := r.anyUser.UserSecrets(p.Data.UserID)
	if err != nil {
		return nil
	}
	k, _ := webhook.ParseSecret(secret)
	return k
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	path := req.URL.Path
	r.calls[path]++
	key := r.key(path, body)
	if key == nil {
		r.badSig[path]++
		http.Error(w, "no secret for this endpoint", http.StatusUnauthorized)
		return
	}
	if err := webhook.Verify(key, req.Header, body, time.Now(), 5*time.Minute); err != nil {
		r.badSig[path]++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.failFirst[path] > 0 {
		r.failFirst[path]--
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil || req.Header.Get(webhook.HeaderID) != p.Data.NotificationID {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	r.verified[path] = append(r.verified[path], p)
	r.last[path] = signedCall{header: req.Header.Clone(), body: body}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) URL(path string) string { return r.srv.URL + path }

// stats returns the calls to path, the payloads accepted there and the calls whose
// signature did not verify with the path's secret.
func (r *receiver) stats(path string) (calls int, verified []webhook.Payload, badSig int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[path], append([]webhook.Payload(nil), r.verified[path]...), r.badSig[path]
}

// lastCall returns the last call to path that verified.
func (r *receiver) lastCall(path string) signedCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[path]
}

// webhookSecret asks the service's API for a user's webhook secret, as the Task API does.
func webhookSecret(t testing.TB, client notificationv1.NotificationServiceClient, userID string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := client.GetWebhookSecret(ctx, &notificationv1.GetWebhookSecretRequest{UserId: userID})
	if err != nil {
		t.Fatalf("GetWebhookSecret(%s): %v", userID, err)
	}
	return resp.GetSecret()
}

// inAppUpdates reads task-updates from the start for a moment and returns the decoded
// TaskUpdates carrying the notification id.
func inAppUpdates(t testing.TB, broker *testenv.Broker, notificationID string) []*eventsv1.TaskUpdate {
	t.Helper()
	var out []*eventsv1.TaskUpdate
	for _, rec := range broker.Consume(t, "task-updates", 100000, 2*time.Second) {
		var ce struct {
			Type       string `json:"type"`
			DataBase64 []byte `json:"data_base64"`
		}
		if err := json.Unmarshal(rec.Value, &ce); err != nil {
			t.Fatalf("task-updates record is not a CloudEvent: %v", err)
		}
		u := &eventsv1.TaskUpdate{}
		if err := proto.Unmarshal(ce.DataBase64, u); err != nil {
			t.Fatalf("task-updates record data is not a TaskUpdate: %v", err)
		}
		if ce.Type != "taskflow.update.notification.v1" {
			t.Errorf("task-updates CloudEvent type = %q, want taskflow.update.notification.v1", ce.Type)
		}
		if u.GetNotification().GetId() == notificationID {
			if string(rec.Key) != u.GetUserId() {
				t.Errorf("task-updates record key = %q, want the user id %q", rec.Key, u.GetUserId())
			}
			out = append(out, u)
		}
	}
	return out
}

// deliveries lists the ledger of one event through the gRPC API, by channel.
func deliveries(t testing.TB, client notificationv1.NotificationServiceClient, eventID string) map[notificationv1.Channel]*notificationv1.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := client.ListDeliveries(ctx, &notificationv1.ListDeliveriesRequest{EventId: eventID})
	if err != nil {
		t.Fatalf("ListDeliveries(event %s): %v", eventID, err)
	}
	out := map[notificationv1.Channel]*notificationv1.Delivery{}
	for _, d := range resp.GetDeliveries() {
		out[d.GetChannel()] = d
	}
	return out
}

// allFinal reports whether the event's ledger has want channels, all in a final status.
func allFinal(t testing.TB, client notificationv1.NotificationServiceClient, eventID string, want int) bool {
	got := deliveries(t, client, eventID)
	if len(got) != want {
		return false
	}
	for _, d := range got {
		switch d.GetStatus() {
		case notificationv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED, notificationv1.DeliveryStatus_DELIVERY_STATUS_FAILED,
			notificationv1.DeliveryStatus_DELIVERY_STATUS_SKIPPED:
		default:
			return false
		}
	}
	return true
}

func describe(ds map[notificationv1.Channel]*notificationv1.Delivery) string {
	var b strings.Builder
	for c, d := range ds {
		fmt.Fprintf(&b, "%s=%s(attempts %d, %q) ", c, d.GetStatus(), d.GetAttempts(), d.GetLastError())
	}
	return b.String()
}

// stackOptions are what startStackWith changes from startStack's stack.
type stackOptions struct {
	// env is added to (or replaces) the service environment startStack uses.
	env map[string]string
	// daprdRetries and daprdRetryInterval are daprd's inbound resiliency budget before an
	// event goes to the dead-letter topic; zero keeps startStack's 300 × 100ms.
	daprdRetries       int
	daprdRetryInterval time.Duration
	// smtpAddr, when set, turns mailpit's SMTP address into the SMTP_ADDR the service gets
	// (a proxy in front of mailpit, say).
	smtpAddr func(mailpit string) string
}

// startStackWith starts the stack with daprd's retry budget (default 300 × 100ms) and the
// SMTP address chosen by the test; the dead-letter topic is created up front, so a consumer
// started before any event went there still sees what arrives.
func startStackWith(t testing.TB, o stackOptions) *stack {
	t.Helper()
	s := &stack{webhookK: testSecretKey}
	s.broker = testenv.StartBroker(t, Topic, "task-updates", DeadLetterTopic)
	s.pg = testenv.StartPostgres(t)
	s.mail = testenv.StartMailpit(t)
	s.hook = startReceiver(t)
	smtpAddr := s.mail.SMTPAddr
	if o.smtpAddr != nil {
		smtpAddr = o.smtpAddr(smtpAddr)
	}
	daprGRPC := testenv.FreePort(t)
	env := map[string]string{
		"DATABASE_URL":          s.pg.DSN,
		"DAPR_GRPC_PORT":        strconv.Itoa(daprGRPC),
		"PUBSUB_NAME":           testenv.PubsubName,
		"WEBHOOK_SECRET":        "whsec_" + base64.StdEncoding.EncodeToString(s.webhookK),
		"WEBHOOK_TIMEOUT":       "2s",
		"WEBHOOK_ALLOW_PRIVATE": "true", // the receiver is an httptest server on loopback
		"SMTP_ADDR":             smtpAddr,
		"SMTP_FROM":             "TaskFlow <reminders@taskflow.test>",
		"SMTP_TLS":              "none",
		"SMTP_TIMEOUT":          "2s",
		"LOG_LEVEL":             "debug",
		// The service's own retry schedule, shortened: 200ms, 400ms, 800ms, then every 1s.
		"NOTIFY_RETRY_INITIAL":      "200ms",
		"NOTIFY_RETRY_MULTIPLIER":   "2",
		"NOTIFY_RETRY_MAX_INTERVAL": "1s",
		"NOTIFY_RETRY_FOR":          "2m",
		"NOTIFY_SCHEDULER_INTERVAL": "100ms",
	}
	for k, v := range o.env {
		env[k] = v
	}
	s.env = env
	s.svc = testenv.RunService(t, run, env)
	retries, interval := o.daprdRetries, o.daprdRetryInterval
	if retries == 0 {
		retries = 300
	}
	if interval == 0 {
		interval = 100 * time.Millisecond
	}
	s.daprd = testenv.StartDaprd(t, testenv.DaprdConfig{
		AppID: AppID, AppPort: s.svc.GRPCPort, Broker: s.broker, GRPCPort: daprGRPC,
		AppHealthCheck: true, Retries: retries, RetryInterval: interval, AppToken: env["APP_API_TOKEN"],
	})
	s.daprd.WaitSubscribed(t, Topic)
	s.deliver = notificationv1.NewNotificationServiceClient(s.svc.Conn(t))
	return s
}

// metric returns the value of one sample (name with its labels, in the exposition's
// sorted label order) from a Prometheus endpoint at addr; 0 when the sample is absent
// (a counter never incremented).
func metric(t testing.TB, addr, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s/metrics: %v", addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s/metrics: %v", addr, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s = %q: %v", sample, v, err)
			}
			return f
		}
	}
	return 0
}
