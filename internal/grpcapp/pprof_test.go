package grpcapp

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/localrun"
)

// TestPprofAddrOnlyOnLoopback: profiles show payloads, so PPROF_ADDR refuses anything but
// a loopback host, and is off unless set.
func TestPprofAddrOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{"": true, "127.0.0.1:6060": true, "[::1]:6060": true, "localhost:6060": true,
		":6060": false, "0.0.0.0:6060": false, "10.0.0.5:6060": false, "example.com:6060": false, "6060": false} {
		r := envconfig.New(func(k string) string {
			if k == "PPROF_ADDR" {
				return addr
			}
			return ""
		})
		c := ReadConfig(r)
		if err := r.Err(); (err == nil) != ok {
			t.Errorf("PPROF_ADDR=%q: error %v, want accepted %v", addr, err, ok)
		} else if ok && c.PprofAddr != addr {
			t.Errorf("PPROF_ADDR=%q: PprofAddr = %q", addr, c.PprofAddr)
		}
	}
}

// TestPprofServesProfilesWhileRunning: with PPROF_ADDR the running App serves the
// profile index (block and mutex included), and stops serving at shutdown.
func TestPprofServesProfilesWhileRunning(t *testing.T) {
	t.Parallel()
	app, _ := newTestApp(t, 2*time.Second, time.Second)
	port, err := localrun.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	app.cfg.PprofAddr = "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	url := "http://" + app.cfg.PprofAddr + "/debug/pprof/"
	var body string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"block", "mutex", "profile", "goroutine"} {
		if !strings.Contains(body, want) {
			t.Errorf("%s lists no %s profile:\n%.300s", url, want, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if _, err := http.Get(url); err == nil {
		t.Errorf("pprof still served after shutdown")
	}
}
