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
)

const chromiumPath = "/usr/bin/chromium"

// testBrowser serves a page whose JavaScript connects with a token (in the bearer
// subprotocol pair), asks the test to publish once the welcome frame arrived, and writes
// the update frame it receives into the DOM, which headless Chromium dumps.
func testBrowser(t *testing.T, n *node, lis net.Listener) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing: install the Debian package `chromium` (apt-get install -y chromium)", chromiumPath)
	}
	origin := "http://" + lis.Addr().String()
	tok := token(t, "ivy", time.Hour, nil)
	page := fmt.Sprintf(`<!doctype html><html><body><pre id="out">waiting</pre><script>
const out = document.getElementById("out");
const ws = new WebSocket(%q, ["bearer", %q]);
ws.onmessage = (ev) => {
  const f = JSON.parse(ev.data);
  if (f.type === "welcome") { fetch("/publish"); return; }
  out.textContent = "FRAME " + ev.data;
  ws.close(1000);
};
ws.onerror = () => { out.textContent = "ERROR"; };
</script></body></html>`, "ws://"+n.httpAddr+"/ws", tok)
	var once sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, page)
	})
	mux.HandleFunc("/publish", func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { publish(t, n.daprd, notification("ivy", "evt-browser", 10)) })
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(lis)
	defer srv.Close()

	// The page's origin differs from the service's; the node allows it in ALLOWED_ORIGINS.
	cmd := exec.Command(chromiumPath, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=15000", "--dump-dom", origin+"/")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("chromium did not finish in 60s:\n%s", out)
	}
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `FRAME {"seq":`) || !strings.Contains(string(out), "evt-browser") {
		t.Errorf("page DOM does not show the update frame:\n%s", out)
	}
}
