package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/services/websocket/internal/auth"
	"github.com/taskflow/taskflow-events/services/websocket/internal/hub"
)

// goodToken is the one token tokenVerifier accepts; its user is the part after "good-".
const goodToken = "good-alice-0123456789abcdef"

type tokenVerifier struct{}

func (tokenVerifier) Verify(tok string) (auth.Claims, error) {
	user, ok := strings.CutPrefix(tok, "good-")
	if !ok {
		return auth.Claims{}, auth.ErrInvalidToken
	}
	user, _, _ = strings.Cut(user, "-")
	return auth.Claims{UserID: user, Expiry: time.Now().Add(time.Hour)}, nil
}

// server is a Gateway on a real HTTP server with its hub and its log.
type server struct {
	url  string
	hub  *hub.Hub
	logs *testenv.SyncBuffer
}

func startServer(t *testing.T, cfg Config, hcfg hub.Config) *server {
	t.Helper()
	s := &server{hub: hub.New(hcfg, "epoch1", time.Now, nil), logs: &testenv.SyncBuffer{}}
	gw := New(cfg, s.hub, tokenVerifier{}, slog.New(slog.NewJSONHandler(s.logs, nil)), time.Now)
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		s.hub.Shutdown(hub.CloseGoingAway, "")
		gw.Wait()
		srv.Close()
	})
	s.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return s
}

// dialFrames connects, reads n frames and returns them as "type:seq:event_id".
func dialFrames(t *testing.T, rawURL string, hdr http.Header, subprotocols []string, n int) []string {
	t.Helper()
	d := websocket.Dialer{Subprotocols: subprotocols}
	conn, resp, err := d.Dial(rawURL, hdr)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", rawURL, err, status)
	}
	defer conn.Close()
	var out []string
	for range n {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("read frame %d: %v (got %v so far)", len(out)+1, err, out)
		}
		var f struct {
			Seq  uint64 `json:"seq"`
			Type string `json:"type"`
			Data struct {
				EventID string `json:"event_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %s is not JSON: %v", data, err)
		}
		out = append(out, fmt.Sprintf("%s:%d:%s", f.Type, f.Seq, f.Data.EventID))
	}
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, data, err := conn.ReadMessage(); err == nil {
		t.Errorf("frame after the %d expected: %s", n, data)
	}
	return out
}

func TestQueryToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		enabled     bool
		query       string // access_token value; empty: none
		header      string // Authorization token; empty: none
		subprotocol string // token in the bearer pair; empty: none
		want        int
	}{
		{name: "query refused by default", query: goodToken, want: http.StatusUnauthorized},
		{name: "query accepted when enabled", enabled: true, query: goodToken, want: http.StatusSwitchingProtocols},
		{name: "bad query token when enabled", enabled: true, query: "forged", want: http.StatusUnauthorized},
		{name: "header without query opt-in", header: goodToken, want: http.StatusSwitchingProtocols},
		{name: "subprotocol without query opt-in", subprotocol: goodToken, want: http.StatusSwitchingProtocols},
		{name: "header wins over a refused query", header: goodToken, query: goodToken, want: http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, Config{QueryToken: tt.enabled}, hub.Config{})
			u := s.url
			if tt.query != "" {
				u += "?" + url.Values{"access_token": {tt.query}}.Encode()
			}
			hdr := http.Header{}
			if tt.header != "" {
				hdr.Set("Authorization", "Bearer "+tt.header)
			}
			d := websocket.Dialer{}
			if tt.subprotocol != "" {
				d.Subprotocols = []string{"bearer", tt.subprotocol}
			}
			conn, resp, err := d.Dial(u, hdr)
			if resp == nil {
				t.Fatalf("dial: %v, want HTTP %d", err, tt.want)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("dial: HTTP %d (%v), want %d", resp.StatusCode, err, tt.want)
			}
			if conn != nil {
				defer conn.Close()
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, data, err := conn.ReadMessage(); err != nil || !strings.Contains(string(data), `"type":"welcome"`) {
					t.Errorf("first frame = %s, %v; want welcome", data, err)
				}
			}
		})
	}
}

func TestRefusedQueryTokenSaysWhyAndIsNotLogged(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{}, hub.Config{})
	_, resp, err := websocket.DefaultDialer.Dial(s.url+"?access_token="+goodToken, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial with a query token = %v, want HTTP 401", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "Authorization header") {
		t.Errorf("401 body = %q, want it to name the Authorization header", body)
	}
	if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, "invalid_request") {
		t.Errorf("WWW-Authenticate = %q, want a Bearer invalid_request challenge", got)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, `"msg":"ws_query_token_refused"`) {
		t.Errorf("log has no ws_query_token_refused line:\n%s", logs)
	}
	if strings.Contains(logs, goodToken) || strings.Contains(logs, "access_token") {
		t.Errorf("log contains the token or the URL:\n%s", logs)
	}
	if s.hub.Conns() != 0 {
		t.Errorf("hub has %d connections after a refused query token, want 0", s.hub.Conns())
	}
}

func notificationUpdate(user, id string) *eventsv1.TaskUpdate {
	return &eventsv1.TaskUpdate{EventId: id, UserId: user, Update: &eventsv1.TaskUpdate_Notification{
		Notification: &eventsv1.Notification{Id: "n-" + id, Title: "due", Body: strings.Repeat("x", 1000)}}}
}

// updateBytes is the history size of one notificationUpdate of a one-letter user with a
// two-character id.
func updateBytes(t *testing.T) int64 {
	t.Helper()
	h := hub.New(hub.Config{}, "epoch1", time.Now, nil)
	if err := h.Publish(context.Background(), notificationUpdate("a", "a1")); err != nil {
		t.Fatal(err)
	}
	return h.HistoryBytes()
}

// Real clients resuming after the byte budgets dropped part of their gap get resync;
// those whose gap is still kept get exactly the missed updates.
func TestResumeAfterBudgetEviction(t *testing.T) {
	t.Parallel()
	size := updateBytes(t)
	s := startServer(t, Config{}, hub.Config{HistoryUserBytes: 3*size + size/2, HistoryTotalBytes: 5*size + size/2})
	hdr := func(user string) http.Header { return http.Header{"Authorization": {"Bearer good-" + user}} }
	// Both users connect first and keep their welcome position (before any update).
	welcome := map[string]url.Values{}
	for _, user := range []string{"a", "b"} {
		f := dialFrame(t, s.url, hdr(user))
		welcome[user] = url.Values{"since": {fmt.Sprint(f.Seq)}, "epoch": {f.Epoch}}
	}
	// a: 4 updates on partition 0, the user budget keeps a2..a4. Then b: 3 updates on
	// partition 1; the process budget (5) drops the oldest of the process, a2, so a keeps
	// a3, a4 and b all three.
	for _, r := range []struct {
		id string
		at hub.Offset
	}{{"a1", at(0, 0)}, {"a2", at(0, 1)}, {"a3", at(0, 2)}, {"a4", at(0, 3)},
		{"b1", at(1, 0)}, {"b2", at(1, 1)}, {"b3", at(1, 2)}} {
		if err := s.hub.PublishAt(context.Background(), notificationUpdate(r.id[:1], r.id), r.at); err != nil {
			t.Fatal(err)
		}
	}
	if got, limit := s.hub.HistoryBytes(), 5*size+size/2; got > limit {
		t.Errorf("HistoryBytes() = %d, want at most HistoryTotalBytes %d", got, limit)
	}
	a0 := strings.Replace(welcome["a"].Get("epoch"), ".vepoch1", ".", 1) + "0" // partition 0's epoch
	tests := []struct {
		name  string
		user  string
		since url.Values
		want  []string
	}{
		{"a: gap evicted by the user budget", "a", welcome["a"], []string{"resync:3:"}},
		{"a: gap evicted by the process budget", "a", url.Values{"since": {"0"}, "epoch": {a0}}, []string{"resync:3:"}},
		{"a: gap kept", "a", url.Values{"since": {"1"}, "epoch": {a0}}, []string{"welcome:1:", "notification:2:a3", "notification:3:a4"}},
		{"b: whole gap kept", "b", welcome["b"], []string{"welcome:0:", "notification:0:b1", "notification:1:b2", "notification:2:b3"}},
		{"malformed: resync, not an error", "a", url.Values{"since": {"x"}, "epoch": {"?"}}, []string{"resync:3:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, dialFrames(t, s.url+"?"+tt.since.Encode(), hdr(tt.user), nil, len(tt.want))); diff != "" {
				t.Errorf("resume of %s since %v (-want +got):\n%s", tt.user, tt.since, diff)
			}
		})
	}
}

func at(p int32, off int64) hub.Offset { return hub.Offset{Partition: p, Offset: off} }

// dialFrame connects and returns the first frame's seq and epoch.
func dialFrame(t *testing.T, rawURL string, hdr http.Header) (f struct {
	Seq   uint64 `json:"seq"`
	Epoch string `json:"epoch"`
}) {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(rawURL, hdr)
	if err != nil {
		t.Fatalf("dial %s: %v", rawURL, err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := conn.ReadJSON(&f); err != nil {
		t.Fatalf("read first frame: %v", err)
	}
	return f
}
