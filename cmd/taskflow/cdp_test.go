package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/taskflow/taskflow-events/internal/testenv"
)

// A minimal Chrome DevTools Protocol client over the browser's debugging WebSocket: enough
// to load a page, type into it, click, wait for what a user would see and take a
// screenshot. --dump-dom and --virtual-time-budget cannot wait for a server-sent-events
// stream, so the console's browser test drives a real headless Chromium this way.

const chromiumBin = "/usr/bin/chromium"

type cdpPage struct {
	conn     *websocket.Conn
	mu       sync.Mutex
	nextID   int
	pending  map[int]chan cdpMessage
	requests []string // every URL the page requested (Network.requestWillBeSent)
}

type cdpMessage struct {
	ID     int             `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startChromium starts headless Chromium with remote debugging and returns its first page,
// with the network domain on. Both are stopped at the test's end.
func startChromium(t *testing.T) *cdpPage {
	t.Helper()
	testenv.SkipShort(t, "chromium")
	if _, err := os.Stat(chromiumBin); err != nil {
		t.Fatalf("%s is missing: install the Debian package `chromium` (apt-get install -y chromium)", chromiumBin)
	}
	dir := t.TempDir()
	cmd := exec.Command(chromiumBin, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--disable-extensions", "--user-data-dir="+dir, "--window-size=1400,1800", "about:blank")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	var port string
	waitUntil(t, 30*time.Second, "chromium writes DevToolsActivePort", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "DevToolsActivePort"))
		if err == nil {
			port, _, _ = strings.Cut(string(b), "\n")
		}
		select {
		case <-exited:
			t.Fatalf("chromium exited:\n%s", stderr.String())
		default:
		}
		return port != ""
	})
	var targets []struct{ Type, WebSocketDebuggerURL string }
	waitUntil(t, 10*time.Second, "chromium lists its page", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + port + "/json/list")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		targets = nil
		_ = json.NewDecoder(resp.Body).Decode(&targets)
		for _, tg := range targets {
			if tg.Type == "page" {
				return true
			}
		}
		return false
	})
	var wsURL string
	for _, tg := range targets {
		if tg.Type == "page" {
			wsURL = tg.WebSocketDebuggerURL
			break
		}
	}
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("connect to chromium's page %s: %v", wsURL, err)
	}
	p := &cdpPage{conn: conn, pending: map[int]chan cdpMessage{}}
	go p.read()
	t.Cleanup(func() { conn.Close() })
	p.call(t, "Network.enable", nil, nil)
	p.call(t, "Page.enable", nil, nil)
	p.call(t, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1400, "height": 1800, "deviceScaleFactor": 1, "mobile": false}, nil)
	return p
}

func (p *cdpPage) read() {
	for {
		var m cdpMessage
		if err := p.conn.ReadJSON(&m); err != nil {
			p.mu.Lock()
			for id, ch := range p.pending {
				close(ch)
				delete(p.pending, id)
			}
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		if m.ID != 0 {
			if ch := p.pending[m.ID]; ch != nil {
				ch <- m
				delete(p.pending, m.ID)
			}
		} else if m.Method == "Network.requestWillBeSent" {
			var ev struct{ Request struct{ URL string } }
			_ = json.Unmarshal(m.Params, &ev)
			p.requests = append(p.requests, ev.Request.URL)
		}
		p.mu.Unlock()
	}
}

// call sends one command and decodes its result into out (when not nil).
func (p *cdpPage) call(t *testing.T, method string, params, out any) {
	t.Helper()
	p.mu.Lock()
	p.nextID++
	id := p.nextID
	ch := make(chan cdpMessage, 1)
	p.pending[id] = ch
	err := p.conn.WriteJSON(map[string]any{"id": id, "method": method, "params": params})
	p.mu.Unlock()
	if err != nil {
		t.Fatalf("cdp %s: %v", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatalf("cdp %s: connection closed", method)
		}
		if m.Error != nil {
			t.Fatalf("cdp %s: %s", method, m.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(m.Result, out); err != nil {
				t.Fatalf("cdp %s result: %v", method, err)
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("cdp %s: no answer in 30s", method)
	}
}

// eval evaluates a JavaScript expression in the page and decodes its value into out.
func (p *cdpPage) eval(t *testing.T, expr string, out any) {
	t.Helper()
	var r struct {
		Result           struct{ Value json.RawMessage }
		ExceptionDetails *struct {
			Text      string
			Exception struct{ Description string }
		}
	}
	p.call(t, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r)
	if r.ExceptionDetails != nil {
		t.Fatalf("evaluate %s: %s %s", expr, r.ExceptionDetails.Text, r.ExceptionDetails.Exception.Description)
	}
	if out != nil && len(r.Result.Value) > 0 {
		if err := json.Unmarshal(r.Result.Value, out); err != nil {
			t.Fatalf("evaluate %s = %s: %v", expr, r.Result.Value, err)
		}
	}
}

// waitFor polls a JavaScript condition until it is true; after timeout it fails the test
// with what the page shows.
func (p *cdpPage) waitFor(t *testing.T, timeout time.Duration, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		p.eval(t, "!!("+cond+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var text string
			p.eval(t, "document.body.innerText", &text)
			t.Fatalf("%s: not within %v; the page shows:\n%s", what, timeout, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *cdpPage) requested() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// waitUntil polls cond every 50ms until it holds or timeout passes (then the test fails).
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v", what, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
