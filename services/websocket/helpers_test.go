package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
)

const (
	testSecret   = "test-secret-test-secret-test-secret!"
	testAudience = "taskflow-ws"
	testIssuer   = "taskflow-test"
)

// node is one replica: the service with its own daprd.
type node struct {
	svc      *testenv.Service
	daprd    *testenv.Daprd
	httpAddr string
	metrics  string
}

func startNode(t *testing.T, broker *testenv.Broker, consumerGroup string, env map[string]string) *node {
	t.Helper()
	return startNodeFrom(t, broker, consumerGroup, "oldest", env)
}

// startNodeFrom starts a replica whose consumer group, when new, starts at initialOffset
// ("oldest" or "newest", the chart's setting).
func startNodeFrom(t *testing.T, broker *testenv.Broker, consumerGroup, initialOffset string, env map[string]string) *node {
	t.Helper()
	n := &node{
		httpAddr: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)),
		metrics:  "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)),
	}
	e := map[string]string{
		"HTTP_ADDR": n.httpAddr, "METRICS_ADDR": n.metrics, "LOG_LEVEL": "debug",
		"JWT_HS256_SECRET": testSecret, "JWT_AUDIENCE": testAudience, "JWT_ISSUER": testIssuer,
		"WS_SEND_QUEUE": "16", "JWT_LEEWAY": "0s",
	}
	for k, v := range env {
		e[k] = v
	}
	n.svc = testenv.RunService(t, run, e)
	component := testenv.PubsubComponent(broker.Addr, consumerGroup)
	component = strings.Replace(component, `name: initialOffset
      value: "oldest"`, `name: initialOffset
      value: "`+initialOffset+`"`, 1)
	if !strings.Contains(component, `value: "`+initialOffset+`"`) {
		t.Fatalf("pubsub component has no initialOffset to set:\n%s", component)
	}
	n.daprd = testenv.StartDaprd(t, testenv.DaprdConfig{
		AppID: "websocket-service", AppPort: n.svc.GRPCPort, Broker: broker, ConsumerGroup: consumerGroup,
		ExtraResources: map[string]string{"pubsub.yaml": component},
	})
	n.daprd.WaitSubscribed(t, "task-updates")
	return n
}

func (n *node) wsURL(query string) string {
	u := "ws://" + n.httpAddr + "/ws"
	if query != "" {
		u += "?" + query
	}
	return u
}

// metric returns the value of a counter or gauge line (name with labels) from /metrics.
func (n *node) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + n.metrics + "/metrics")
	if err != nil {
		t.Fatalf("scrape metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func token(t *testing.T, user string, ttl time.Duration, edit func(jwt.MapClaims)) string {
	t.Helper()
	c := jwt.MapClaims{"sub": user, "aud": testAudience, "iss": testIssuer, "exp": time.Now().Add(ttl).Unix()}
	if edit != nil {
		edit(c)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type frame struct {
	Seq   uint64 `json:"seq"`
	Epoch string `json:"epoch"`
	Type  string `json:"type"`
	Data  struct {
		EventID      string          `json:"event_id"`
		UserID       string          `json:"user_id"`
		Notification json.RawMessage `json:"notification"`
	} `json:"data"`
}

// client is one real WebSocket connection.
type client struct {
	t    *testing.T
	conn *websocket.Conn
}

func dial(t *testing.T, rawURL, tok string) *client {
	t.Helper()
	h := http.Header{}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	conn, resp, err := websocket.DefaultDialer.Dial(rawURL, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", rawURL, err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn}
}

// next reads one frame or fails the test after timeout.
func (c *client) next(timeout time.Duration) frame {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	_, data, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		c.t.Fatalf("frame %s is not JSON: %v", data, err)
	}
	return f
}

// quiet fails the test when a frame arrives within d.
func (c *client) quiet(d time.Duration, who string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	if _, data, err := c.conn.ReadMessage(); err == nil {
		c.t.Errorf("%s received %s, want nothing", who, data)
	}
}

func notification(user, id string, bodySize int) *eventsv1.TaskUpdate {
	return &eventsv1.TaskUpdate{
		EventId: id, UserId: user, OccurredAt: timestamppb.Now(),
		Update: &eventsv1.TaskUpdate_Notification{Notification: &eventsv1.Notification{
			Id: "n-" + id, Title: "Task due", Body: strings.Repeat("x", bodySize), CreatedAt: timestamppb.Now()}},
	}
}

func publish(t *testing.T, d *testenv.Daprd, u *eventsv1.TaskUpdate) {
	t.Helper()
	d.Publish(t, "task-updates", "taskflow.update.notification.v1", u.GetUserId(), u)
}

func query(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

func ids(fs []frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = fmt.Sprintf("%d:%s", f.Seq, f.Data.EventID)
	}
	return out
}
