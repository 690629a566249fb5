package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskflow/taskflow-events/internal/testenv"
)

const chromiumPath = "/usr/bin/chromium"

// testBrowser serves a page whose JavaScript connects with a token (in the bearer
// subprotocol pair), asks the test to publish once the welcome frame arrived, and writes
// the update frame it receives into the DOM, which headless Chromium dumps.
func testBrowser(t *testing.T, n *node, lis net.Listener) {
	tok := token(t, "ivy", time.Hour, nil)
	page := fmt.Sprintf(`<!doctype html><html><body><pre id="out">waiting</pre><script>
const out = document.getElementById("out");
let done = false;
(async function keepAwake() { const until = Date.now() + 30000; while (!done && Date.now() < until) await fetch("/tick"); })();
const ws = new WebSocket(%q, ["bearer", %q]);
ws.onmessage = (ev) => {
  const f = JSON.parse(ev.data);
  if (f.type === "welcome") { fetch("/publish"); return; }
  out.textContent = "FRAME " + ev.data;
  ws.close(1000);
  done = true;
};
ws.onerror = () => { out.textContent = "ERROR"; done = true; };
</script></body></html>`, "ws://"+n.httpAddr+"/ws", tok)
	var once sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("/publish", func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { publish(t, n.daprd, notification("ivy", "evt-browser", 10)) })
	})
	out := dumpDOM(t, lis, page, mux)
	if !strings.Contains(out, `FRAME {"seq":`) || !strings.Contains(out, "evt-browser") {
		t.Errorf("page DOM does not show the update frame:\n%s", out)
	}
}

// dumpDOM serves page at / (and mux's other routes) on lis, loads it in headless Chromium
// and returns the DOM once the page is idle. The page's origin differs from the
// service's; nodes allow it in ALLOWED_ORIGINS.
//
// --virtual-time-budget fast-forwards time whenever no fetch is pending, and an open
// WebSocket does not count: a page waiting for frames could be dumped before they come.
// So the page runs keepAwake() until it is done: fetches of /tick, each answered after
// 50ms, one after the other. (One fetch held open until the end does not work: Chromium
// then delays the page's next WebSocket until that fetch completes.)
func dumpDOM(t *testing.T, lis net.Listener, page string, mux *http.ServeMux) string {
	t.Helper()
	testenv.SkipShort(t, "chromium")
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing: install the Debian package `chromium` (apt-get install -y chromium)", chromiumPath)
	}
	mux.HandleFunc("/tick", func(w http.ResponseWriter, r *http.Request) { time.Sleep(50 * time.Millisecond) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, page)
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(lis) }() // ends with ErrServerClosed at srv.Close
	defer srv.Close()

	cmd := exec.Command(chromiumPath, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=15000", "--dump-dom", "http://"+lis.Addr().String()+"/")
	exited := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("chromium did not finish in 60s:\n%s", out)
	}
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	return string(out)
}
