package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
)

// startAlone runs the service without daprd; updates are delivered with callback, over
// gRPC OnTopicEvent as daprd would.
func startAlone(t *testing.T, env map[string]string) *node {
	t.Helper()
	n := &node{
		httpAddr: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)),
		metrics:  "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)),
	}
	e := map[string]string{
		"HTTP_ADDR": n.httpAddr, "METRICS_ADDR": n.metrics, "LOG_LEVEL": "debug",
		"JWT_HS256_SECRET": testSecret, "JWT_AUDIENCE": testAudience, "JWT_ISSUER": testIssuer,
	}
	for k, v := range env {
		e[k] = v
	}
	n.svc = testenv.RunService(t, run, e)
	return n
}

func (n *node) callback(t *testing.T, u *eventsv1.TaskUpdate) {
	t.Helper()
	data, err := proto.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := runtimev1.NewAppCallbackClient(n.svc.Conn(t)).OnTopicEvent(context.Background(), &runtimev1.TopicEventRequest{
		Id: u.GetEventId(), Source: "test", Type: "taskflow.update.notification.v1", SpecVersion: "1.0",
		DataContentType: "application/octet-stream", Data: data, Topic: "task-updates", PubsubName: testenv.PubsubName,
	})
	if err != nil || resp.GetStatus() != runtimev1.TopicEventResponse_SUCCESS {
		t.Fatalf("OnTopicEvent %s = %v, %v; want SUCCESS", u.GetEventId(), resp.GetStatus(), err)
	}
}

func TestQueryTokenOptIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    int
		wantLog string
	}{
		{"off by default", nil, http.StatusUnauthorized, `"msg":"ws_query_token_refused"`},
		{"WS_QUERY_TOKEN=false", map[string]string{"WS_QUERY_TOKEN": "false"}, http.StatusUnauthorized, `"msg":"ws_query_token_refused"`},
		{"WS_QUERY_TOKEN=true", map[string]string{"WS_QUERY_TOKEN": "true"}, http.StatusSwitchingProtocols, `"msg":"ws_query_token_enabled"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := startAlone(t, tt.env)
			tok := token(t, "quinn", time.Hour, nil)
			conn, resp, err := websocket.DefaultDialer.Dial(n.wsURL(query("access_token", tok)), nil)
			if resp == nil || resp.StatusCode != tt.want {
				t.Fatalf("dial with ?access_token= = %v, want HTTP %d", err, tt.want)
			}
			if conn != nil {
				defer conn.Close()
				c := &client{t: t, conn: conn}
				if f := c.next(5 * time.Second); f.Type != "welcome" {
					t.Errorf("first frame = %+v, want welcome", f)
				}
			}
			// The header form works either way.
			if f := dial(t, n.wsURL(""), tok).next(5 * time.Second); f.Type != "welcome" {
				t.Errorf("first frame with the Authorization header = %+v, want welcome", f)
			}
			logs := n.svc.Logs()
			if !strings.Contains(logs, tt.wantLog) {
				t.Errorf("service log has no %s line", tt.wantLog)
			}
			if strings.Contains(logs, tok) {
				t.Errorf("service log contains the token")
			}
		})
	}
}

// Ten users get ten 4 KB updates each, delivered through the gRPC callback. The per-user
// budget holds about four of a user's updates, the process budget about eleven of all:
// memory stays under HISTORY_TOTAL_BYTES, the oldest go first, and a resume into an evicted
// gap gets resync.
func TestHistoryBudgets(t *testing.T) {
	t.Parallel()
	const userBudget, totalBudget = 40000, 100000
	n := startAlone(t, map[string]string{
		"HISTORY_USER_BYTES": strconv.Itoa(userBudget), "HISTORY_TOTAL_BYTES": strconv.Itoa(totalBudget),
	})
	users := make([]string, 10)
	var live *client // user9's, open throughout
	for i := range users {
		users[i] = fmt.Sprintf("user%d", i)
		live = dial(t, n.wsURL(""), token(t, users[i], time.Hour, nil))
		if f := live.next(5 * time.Second); f.Type != "welcome" || f.Seq != 0 {
			t.Fatalf("first frame of %s = %+v, want welcome at seq 0 (no update yet)", users[i], f)
		}
	}
	epoch := ""
	for _, user := range users {
		for i := 1; i <= 10; i++ {
			n.callback(t, notification(user, fmt.Sprintf("evt-%s-%02d", user, i), 4000))
		}
		if held := n.metric(t, "taskflow_ws_history_bytes"); held > totalBudget {
			t.Errorf("after the updates of %s: taskflow_ws_history_bytes = %v, want at most HISTORY_TOTAL_BYTES %d", user, held, totalBudget)
		}
	}
	for _, reason := range []string{"user_bytes", "total_bytes"} {
		if got := n.metric(t, `taskflow_ws_history_evicted_total{reason="`+reason+`"}`); got == 0 {
			t.Errorf("taskflow_ws_history_evicted_total{reason=%q} = 0, want evictions", reason)
		}
	}
	if held := n.metric(t, "taskflow_ws_history_bytes"); held < totalBudget/2 {
		t.Errorf("taskflow_ws_history_bytes = %v, want the newest updates kept (close to %d)", held, totalBudget)
	}

	resume := func(t *testing.T, user string, since uint64, frames int) []string {
		t.Helper()
		q := query("since", fmt.Sprint(since), "epoch", epoch)
		c := dial(t, n.wsURL(q), token(t, user, time.Hour, nil))
		var got []frame
		for range frames {
			got = append(got, c.next(5*time.Second))
		}
		c.quiet(200*time.Millisecond, user)
		out := []string{got[0].Type + ":" + fmt.Sprint(got[0].Seq)}
		return append(out, ids(got[1:])...)
	}
	// Delivered without broker coordinates (no daprd), updates are numbered by the process:
	// user0 got 1..10, user9 91..100, all in the epoch of that numbering.
	if f := live.next(5 * time.Second); f.Seq != 91 || f.Data.EventID != "evt-user9-01" {
		t.Fatalf("first update of user9 = %s, want 91:evt-user9-01", ids([]frame{f}))
	} else {
		epoch = f.Epoch
	}
	tests := []struct {
		name   string
		user   string
		since  uint64
		frames int
		want   []string
	}{
		{"oldest user: history gone to the process budget", "user0", 8, 1, []string{"resync:100"}},
		{"newest user: gap beyond its own budget", "user9", 90, 1, []string{"resync:100"}},
		{"newest user: recent gap kept", "user9", 98, 3, []string{"welcome:98", "99:evt-user9-09", "100:evt-user9-10"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, resume(t, tt.user, tt.since, tt.frames)); diff != "" {
				t.Errorf("resume of %s since %d (-want +got):\n%s", tt.user, tt.since, diff)
			}
		})
	}
}
