package gateway

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
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
