package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
)

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs daprd")
	}
	broker := testenv.StartBroker(t, "task-updates", "task-updates-websocket-dlq")
	page, err := net.Listen("tcp", "127.0.0.1:0") // the browser test's page server
	if err != nil {
		t.Fatal(err)
	}
	pageOrigin := "http://" + page.Addr().String()
	n := startNode(t, broker, "websocket-pod-1", map[string]string{"ALLOWED_ORIGINS": pageOrigin})

	t.Run("update reaches both tabs of its user within 1s and nobody else", func(t *testing.T) {
		tab1 := dial(t, n.wsURL(""), token(t, "alice", time.Hour, nil))
		tab2 := dial(t, n.wsURL(""), token(t, "alice", time.Hour, nil))
		bob := dial(t, n.wsURL(""), token(t, "bob", time.Hour, nil))
		for _, c := range []*client{tab1, tab2, bob} {
			if f := c.next(5 * time.Second); f.Type != "welcome" || f.Epoch == "" {
				t.Fatalf("first frame = %+v, want a welcome frame with an epoch", f)
			}
		}
		start := time.Now()
		publish(t, n.daprd, notification("alice", "evt-route-1", 10))
		for i, c := range []*client{tab1, tab2} {
			f := c.next(time.Second)
			if f.Type != "notification" || f.Data.EventID != "evt-route-1" || f.Data.UserID != "alice" || f.Epoch == "" {
				t.Errorf("tab %d frame = %+v, want the notification evt-route-1 with a position", i+1, f)
			}
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("delivery to both tabs took %v, want under 1s", d)
		}
		bob.quiet(500*time.Millisecond, "bob")
	})

	t.Run("bad tokens get 401 and no upgrade", func(t *testing.T) {
		badSig, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": "alice", "aud": testAudience, "iss": testIssuer, "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString([]byte("some-other-secret-some-other-secret"))
		cases := map[string]string{
			"missing":        "",
			"expired":        token(t, "alice", -time.Minute, nil),
			"bad signature":  badSig,
			"wrong audience": token(t, "alice", time.Hour, func(c jwt.MapClaims) { c["aud"] = "billing" }),
			"wrong issuer":   token(t, "alice", time.Hour, func(c jwt.MapClaims) { c["iss"] = "evil" }),
		}
		for name, tok := range cases {
			h := http.Header{}
			if tok != "" {
				h.Set("Authorization", "Bearer "+tok)
			}
			conn, resp, err := websocket.DefaultDialer.Dial(n.wsURL(""), h)
			if err == nil {
				conn.Close()
				t.Errorf("%s token: upgraded, want HTTP 401", name)
				continue
			}
			if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s token: dial error %v, want HTTP 401", name, err)
			}
		}
		h := http.Header{"Authorization": {"Bearer " + token(t, "alice", time.Hour, nil)}, "Origin": {"http://evil.example"}}
		if _, resp, err := websocket.DefaultDialer.Dial(n.wsURL(""), h); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin not in ALLOWED_ORIGINS: dial error %v, want HTTP 403", err)
		}
	})

	t.Run("token in subprotocol, not in the query by default, protobuf frames on request", func(t *testing.T) {
		tok := token(t, "carol", time.Hour, nil)
		d := websocket.Dialer{Subprotocols: []string{"bearer", tok}}
		viaProto, resp, err := d.Dial(n.wsURL(""), nil)
		if err != nil {
			t.Fatalf("dial with bearer subprotocol: %v", err)
		}
		defer viaProto.Close()
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "bearer" {
			t.Errorf("selected subprotocol = %q, want bearer (never the token)", got)
		}
		if _, resp, err := websocket.DefaultDialer.Dial(n.wsURL(query("access_token", tok)), nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token only in the query without WS_QUERY_TOKEN: dial error %v, want HTTP 401", err)
		}
		bin := websocket.Dialer{Subprotocols: []string{"taskflow.v1+proto", "bearer", tok}}
		binConn, resp, err := bin.Dial(n.wsURL(""), nil)
		if err != nil {
			t.Fatalf("dial with protobuf subprotocol: %v", err)
		}
		defer binConn.Close()
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "taskflow.v1+proto" {
			t.Errorf("selected subprotocol = %q, want taskflow.v1+proto", got)
		}
		viaProtoJSON := &client{t: t, conn: viaProto} // "bearer" alone selects JSON frames
		_ = viaProtoJSON.next(5 * time.Second)        // welcome
		_ = binConn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, _ = binConn.ReadMessage() // welcome
		sent := notification("carol", "evt-proto-1", 10)
		publish(t, n.daprd, sent)
		if f := viaProtoJSON.next(5 * time.Second); f.Data.EventID != "evt-proto-1" {
			t.Errorf("subprotocol-token client frame = %+v, want evt-proto-1", f)
		}
		_ = binConn.SetReadDeadline(time.Now().Add(5 * time.Second))
		mt, data, err := binConn.ReadMessage()
		if err != nil || mt != websocket.BinaryMessage {
			t.Fatalf("protobuf client read = type %d, %v; want a binary frame", mt, err)
		}
		got := decodeProtoFrame(t, data)
		if diff := cmp.Diff(sent.GetEventId(), got.GetEventId()); diff != "" || !proto.Equal(sent.GetNotification(), got.GetNotification()) {
			t.Errorf("protobuf frame update = %v, want %v", got, sent)
		}
	})

	t.Run("reconnect with since gets exactly the 20 missed updates; stale epoch gets resync", func(t *testing.T) {
		tok := token(t, "dave", time.Hour, nil)
		watcher := dial(t, n.wsURL(""), tok) // stays connected to know when the updates were handled
		_ = watcher.next(5 * time.Second)
		c := dial(t, n.wsURL(""), tok)
		_ = c.next(5 * time.Second) // welcome
		publish(t, n.daprd, notification("dave", "evt-before", 10))
		last := c.next(5 * time.Second)
		_ = watcher.next(5 * time.Second)
		c.conn.Close()

		var want []string
		for i := range 20 {
			id := fmt.Sprintf("evt-missed-%02d", i)
			publish(t, n.daprd, notification("dave", id, 10))
			want = append(want, fmt.Sprintf("%d:%s", last.Seq+uint64(i)+1, id))
		}
		for range 20 {
			_ = watcher.next(10 * time.Second)
		}

		// The position of an update is its partition and offset; nobody else publishes
		// meanwhile, so dave's updates have consecutive offsets.
		back := dial(t, n.wsURL(query("since", fmt.Sprint(last.Seq), "epoch", last.Epoch)), tok)
		if f := back.next(5 * time.Second); f.Type != "welcome" || f.Seq != last.Seq {
			t.Fatalf("first frame after resume = %+v, want welcome at seq %d", f, last.Seq)
		}
		var got []frame
		for range 20 {
			got = append(got, back.next(5*time.Second))
		}
		if diff := cmp.Diff(want, ids(got)); diff != "" {
			t.Errorf("replayed frames (-want +got):\n%s", diff)
		}
		publish(t, n.daprd, notification("dave", "evt-live", 10))
		if f := back.next(5 * time.Second); f.Data.EventID != "evt-live" || f.Seq != last.Seq+21 {
			t.Errorf("first live frame after the replay = %s, want %d:evt-live", ids([]frame{f}), last.Seq+21)
		}

		stale := dial(t, n.wsURL(query("since", fmt.Sprint(last.Seq), "epoch", "0000000000000000")), tok)
		if f := stale.next(5 * time.Second); f.Type != "resync" || f.Seq != last.Seq+21 || f.Epoch != last.Epoch {
			t.Errorf("frame for a stale epoch = %+v, want one resync at seq %d in epoch %s", f, last.Seq+21, last.Epoch)
		}
		stale.quiet(300*time.Millisecond, "stale-epoch client")
	})

	t.Run("a client that stops reading is closed; the healthy tab keeps up", func(t *testing.T) {
		tok := token(t, "erin", time.Hour, nil)
		stuck := dialSmallBuffer(t, n.wsURL(""), tok) // never reads again
		healthy := dial(t, n.wsURL(""), tok)
		_ = healthy.next(5 * time.Second)
		const body = 32 << 10
		var worst time.Duration
		for i := 0; i < 300 && n.metric(t, "taskflow_ws_slow_disconnects_total") == 0; i++ {
			id := fmt.Sprintf("evt-flood-%03d", i)
			start := time.Now()
			publish(t, n.daprd, notification("erin", id, body))
			f := healthy.next(2 * time.Second)
			if f.Data.EventID != id {
				t.Fatalf("healthy tab frame %d = %s, want %s", i, f.Data.EventID, id)
			}
			worst = max(worst, time.Since(start))
		}
		if got := n.metric(t, "taskflow_ws_slow_disconnects_total"); got != 1 {
			t.Fatalf("slow disconnects = %v after 300 updates of %d KiB, want 1", got, body>>10)
		}
		if worst > time.Second {
			t.Errorf("slowest publish-to-frame on the healthy tab = %v, want under 1s", worst)
		}
		// The healthy tab is unaffected after the kick.
		for i := range 5 {
			id := fmt.Sprintf("evt-after-%d", i)
			start := time.Now()
			publish(t, n.daprd, notification("erin", id, 10))
			if f := healthy.next(time.Second); f.Data.EventID != id {
				t.Fatalf("healthy tab frame = %s, want %s", f.Data.EventID, id)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("publish-to-frame after the kick = %v, want under 1s", d)
			}
		}
		// The stuck client, once it reads, finds its connection closed (4008 or cut).
		_ = stuck.SetReadDeadline(time.Now().Add(15 * time.Second))
		var err error
		for err == nil {
			_, _, err = stuck.ReadMessage()
		}
		var ce *websocket.CloseError
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("stuck client still connected after 15s, want it closed")
		} else if errors.As(err, &ce) && ce.Code != 4008 && ce.Code != websocket.CloseAbnormalClosure {
			// 1006: the write to a client that does not read was cut, so no close frame fit.
			t.Errorf("stuck client close code = %d, want 4008 or 1006", ce.Code)
		}
		if !strings.Contains(n.svc.Logs(), "ws_slow_client_closed") {
			t.Errorf("service log has no ws_slow_client_closed line")
		}
	})

	t.Run("malformed and oversize client frames close only that client", func(t *testing.T) {
		tok := token(t, "frank", time.Hour, nil)
		bystander := dial(t, n.wsURL(""), tok)
		_ = bystander.next(5 * time.Second)
		for name, tc := range map[string]struct {
			mt   int
			data []byte
			code int
		}{
			"malformed": {websocket.TextMessage, []byte("{not json"), 1003},
			"oversize":  {websocket.TextMessage, []byte(`{"type":"ping","pad":"` + strings.Repeat("x", 8000) + `"}`), 1009},
		} {
			c := dial(t, n.wsURL(""), tok)
			_ = c.next(5 * time.Second)
			if err := c.conn.WriteMessage(tc.mt, tc.data); err != nil {
				t.Fatal(err)
			}
			_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _, err := c.conn.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != tc.code {
				t.Errorf("%s frame: read error %v, want close %d", name, err, tc.code)
			}
		}
		if err := bystander.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		if f := bystander.next(5 * time.Second); f.Type != "pong" {
			t.Errorf("bystander frame = %+v, want pong", f)
		}
	})

	t.Run("invalid update goes to the dead-letter topic", func(t *testing.T) {
		bad := &eventsv1.TaskUpdate{EventId: "evt-no-user", Update: &eventsv1.TaskUpdate_Notification{Notification: &eventsv1.Notification{}}}
		publish(t, n.daprd, bad)
		recs := broker.Consume(t, "task-updates-websocket-dlq", 1, 20*time.Second)
		if len(recs) != 1 || !strings.Contains(string(recs[0].Value), "evt-no-user") {
			t.Errorf("dead-letter topic has %d records, want the update without user_id", len(recs))
		}
	})

	t.Run("token expiry closes the connection with 4001", func(t *testing.T) {
		c := dial(t, n.wsURL(""), token(t, "gina", 1500*time.Millisecond, nil))
		_ = c.next(5 * time.Second)
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.conn.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 4001 {
			t.Errorf("read after token expiry: %v, want close 4001", err)
		}
	})

	t.Run("browser receives an update", func(t *testing.T) { testBrowser(t, n, page) })

	t.Run("shutdown closes clients with 1001", func(t *testing.T) {
		c := dial(t, n.wsURL(""), token(t, "hank", time.Hour, nil))
		_ = c.next(5 * time.Second)
		done := make(chan error, 1)
		go func() { done <- n.svc.Stop() }()
		_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := c.conn.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 1001 {
			t.Errorf("read during shutdown: %v, want close 1001", err)
		}
		if err := <-done; err != nil {
			t.Errorf("service stopped with %v", err)
		}
	})
}

func TestReplicasEachSeeEveryUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs daprd")
	}
	broker := testenv.StartBroker(t, "task-updates")
	r1 := startNode(t, broker, "websocket-pod-1", nil)
	r2 := startNode(t, broker, "websocket-pod-2", nil)
	a1 := dial(t, r1.wsURL(""), token(t, "alice", time.Hour, nil))
	a2 := dial(t, r2.wsURL(""), token(t, "alice", time.Hour, nil))
	b2 := dial(t, r2.wsURL(""), token(t, "bob", time.Hour, nil))
	for _, c := range []*client{a1, a2, b2} {
		_ = c.next(5 * time.Second)
	}
	var wantA, wantB []string
	for i := range 10 {
		user, want := "alice", &wantA
		if i%3 == 0 {
			user, want = "bob", &wantB
		}
		id := fmt.Sprintf("evt-rep-%d", i)
		*want = append(*want, id)
		// Alternate the sidecar used to publish; the key spreads users over partitions.
		d := r1.daprd
		if i%2 == 1 {
			d = r2.daprd
		}
		publish(t, d, notification(user, id, 10))
	}
	read := func(c *client, n int) []string {
		var out []string
		for range n {
			out = append(out, c.next(10*time.Second).Data.EventID)
		}
		return out
	}
	for name, tc := range map[string]struct {
		c    *client
		want []string
	}{"alice on replica 1": {a1, wantA}, "alice on replica 2": {a2, wantA}, "bob on replica 2": {b2, wantB}} {
		got := read(tc.c, len(tc.want))
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	b2.quiet(300*time.Millisecond, "bob on replica 2")
	_ = slices.Equal[[]string]
}

// dialSmallBuffer opens a connection with a tiny receive buffer so the server's writes
// block soon after the client stops reading.
func dialSmallBuffer(t *testing.T, rawURL, tok string) *websocket.Conn {
	t.Helper()
	nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	d := websocket.Dialer{NetDial: nd.Dial}
	conn, _, err := d.Dial(rawURL, http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
