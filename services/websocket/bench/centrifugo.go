package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protojson"
)

const centrifugoAPIKey = "bench-api-key"

// centrifugo is Centrifugo with its own HS256 JWT auth, every user subscribed server-side to
// its personal channel personal:#<user> (history 100 / 5m and recovery, like the service's
// resume buffer), published to over its HTTP API, read with its JSON protocol.
type centrifugo struct {
	o      options
	cmd    *exec.Cmd
	tokens []string
	client *http.Client
	dialer websocket.Dialer
}

func startCentrifugo(ctx context.Context, o options, dir string) (*centrifugo, error) {
	host, p, _ := strings.Cut(o.centrifugoAddr, ":")
	port, err := strconv.Atoi(p)
	if err != nil {
		return nil, fmt.Errorf("bad -centrifugo-addr %q", o.centrifugoAddr)
	}
	cfg := map[string]any{
		"log":         map[string]any{"level": "warn"},
		"http_server": map[string]any{"address": host, "port": port},
		"http_api":    map[string]any{"key": centrifugoAPIKey},
		"client": map[string]any{
			"token": map[string]any{"hmac_secret_key": secret},
			"subscribe_to_user_personal_channel": map[string]any{
				"enabled": true, "personal_channel_namespace": "personal",
			},
		},
		"channel": map[string]any{"namespaces": []any{map[string]any{
			"name": "personal", "history_size": 100, "history_ttl": "300s", "force_recovery": true,
		}}},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "centrifugo.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, o.centrifugo, "--config", path)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start centrifugo: %w", err)
	}
	c := &centrifugo{o: o, cmd: cmd, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		dialer: websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 256, HandshakeTimeout: 30 * time.Second}}
	if err := waitHTTP(ctx, http.MethodPost, "http://"+o.centrifugoAddr+"/api/info", http.Header{"X-API-Key": {centrifugoAPIKey}}, http.StatusOK); err != nil {
		c.stop()
		return nil, err
	}
	for u := range o.users {
		t, err := hs256("user-" + strconv.Itoa(u))
		if err != nil {
			c.stop()
			return nil, err
		}
		c.tokens = append(c.tokens, t)
	}
	return c, nil
}

func (c *centrifugo) pid() int { return c.cmd.Process.Pid }

func (c *centrifugo) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	_ = c.cmd.Wait()
}

// dial connects and authenticates; it returns once the connect reply (with the personal
// channel subscription) has arrived.
func (c *centrifugo) dial(ctx context.Context, u int) (*websocket.Conn, error) {
	conn, _, err := c.dialer.DialContext(ctx, "ws://"+c.o.centrifugoAddr+"/connection/websocket", nil)
	if err != nil {
		return nil, err
	}
	cmd := `{"id":1,"connect":{"token":"` + c.tokens[u] + `"}}`
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, []byte(cmd)); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, data, err := conn.ReadMessage()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read connect reply: %w", err)
	}
	channel := []byte(`"personal:#user-` + strconv.Itoa(u) + `"`)
	if !bytes.HasPrefix(data, []byte(`{"id":1,"connect":`)) || !bytes.Contains(data, channel) {
		conn.Close()
		return nil, fmt.Errorf("connect reply without the personal channel: %.300s", data)
	}
	_ = conn.SetReadDeadline(time.Time{})
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, nil
}

// publish posts update n (as the same protojson the service sends) to the user's channel.
func (c *centrifugo) publish(ctx context.Context, n, u int) error {
	data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(update(n, u))
	if err != nil {
		return err
	}
	body := `{"channel":"personal:#user-` + strconv.Itoa(u) + `","data":` + string(data) + `}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.o.centrifugoAddr+"/api/publish", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", centrifugoAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || bytes.Contains(reply, []byte(`"error"`)) {
		return fmt.Errorf("centrifugo publish b-%d: HTTP %d: %.200s", n, resp.StatusCode, reply)
	}
	return nil
}
