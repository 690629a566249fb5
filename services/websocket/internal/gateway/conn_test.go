package gateway

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/taskflow/taskflow-events/services/websocket/internal/auth"
	"github.com/taskflow/taskflow-events/services/websocket/internal/hub"
)

type fixedVerifier struct{}

func (fixedVerifier) Verify(string) (auth.Claims, error) {
	return auth.Claims{UserID: "u1", Expiry: time.Now().Add(time.Hour)}, nil
}

// A client that was told to close (here: for an unsupported frame) but keeps sending
// frames instead of answering the close must still be cut off after the close grace,
// not kept attached by every frame it sends.
func TestKickedClientCannotKeepConnectionOpen(t *testing.T) {
	h := hub.New(hub.Config{}, "epoch", time.Now, nil)
	gw := New(Config{PingInterval: 30 * time.Second}, h, fixedVerifier{}, slog.New(slog.DiscardHandler), time.Now)
	srv := httptest.NewServer(gw)
	defer srv.Close()
	defer func() { h.Shutdown(hub.CloseGoingAway, ""); gw.Wait() }()

	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), http.Header{"Authorization": {"Bearer x"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetCloseHandler(func(int, string) error { return nil }) // never answer the close
	if _, _, err := conn.ReadMessage(); err != nil {             // welcome
		t.Fatal(err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(4 * time.Second) // closeGrace is 1s
	for h.Conns() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("kicked client still attached after 4s (hub has %d connections), want it cut after the close grace", h.Conns())
		}
		_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
		time.Sleep(100 * time.Millisecond)
	}
}

// The server pings every PingInterval whether or not it has frames to send (a connection
// has no writer goroutine while it is idle: the pings come from a timer). A client that
// only reads answers them and stays connected; one that stops answering is cut off after
// PingInterval + PongTimeout.
func TestPingsKeepAnsweringClientAndDropSilentOne(t *testing.T) {
	h := hub.New(hub.Config{}, "epoch", time.Now, nil)
	gw := New(Config{PingInterval: 100 * time.Millisecond, PongTimeout: 400 * time.Millisecond}, h, fixedVerifier{}, slog.New(slog.DiscardHandler), time.Now)
	srv := httptest.NewServer(gw)
	defer srv.Close()
	defer func() { h.Shutdown(hub.CloseGoingAway, ""); gw.Wait() }()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	dial := func(answer bool) (*websocket.Conn, *atomic.Int64, chan error) {
		conn, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer x"}})
		if err != nil {
			t.Fatal(err)
		}
		pings := &atomic.Int64{}
		conn.SetPingHandler(func(data string) error {
			pings.Add(1)
			if !answer {
				return nil
			}
			return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		closed := make(chan error, 1)
		go func() {
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					closed <- err
					return
				}
			}
		}()
		return conn, pings, closed
	}
	good, goodPings, goodClosed := dial(true)
	defer good.Close()
	silent, silentPings, silentClosed := dial(false)
	defer silent.Close()

	select {
	case err := <-silentClosed:
		if n := silentPings.Load(); n < 2 {
			t.Errorf("silent client got %d pings before it was cut off, want at least 2 (every 100ms for 500ms)", n)
		}
		if ce := (*websocket.CloseError)(nil); !errors.As(err, &ce) || ce.Code != hub.CloseNoPong {
			t.Errorf("silent client cut off with %v, want a close frame with code %d (no pong)", err, hub.CloseNoPong)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a client that never answers pings is still connected after 3s, want it cut off after 500ms")
	}
	time.Sleep(time.Second) // ten more ping intervals
	select {
	case err := <-goodClosed:
		t.Fatalf("a client answering every ping was disconnected: %v", err)
	default:
	}
	if n := goodPings.Load(); n < 10 {
		t.Errorf("answering client got %d pings in ~1.5s, want one every 100ms (at least 10)", n)
	}
	if h.Conns() != 1 {
		t.Errorf("hub has %d connections, want 1 (the answering client)", h.Conns())
	}
}
