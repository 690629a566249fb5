package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/taskflow/taskflow-events/internal/testenv"
)

// TestResumeAcrossReplicas runs two replicas, each with its own daprd and consumer group,
// on one broker. A client that read 10 updates on replica A and missed 20 resumes on B,
// and on A, with the position of its last frame: exactly the 20, in order, then live ones.
func TestResumeAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs daprd")
	}
	broker := testenv.StartBroker(t, "task-updates", "task-updates-websocket-dlq")
	page, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ALLOWED_ORIGINS": "http://" + page.Addr().String()}
	a := startNode(t, broker, "websocket-pod-a", env)
	b := startNode(t, broker, "websocket-pod-b", env)
	tok := token(t, "uma", time.Hour, nil)
	watchA, watchB := dial(t, a.wsURL(""), tok), dial(t, b.wsURL(""), tok) // to know what each replica handled
	c := dial(t, a.wsURL(""), tok)
	for _, w := range []*client{watchA, watchB, c} {
		_ = w.next(5 * time.Second)
	}
	pub := func(id string) { publish(t, a.daprd, notification("uma", id, 10)) }
	var last frame
	for i := range 10 {
		id := fmt.Sprintf("evt-read-%02d", i)
		pub(id)
		if last = c.next(10 * time.Second); last.Data.EventID != id {
			t.Fatalf("update %d on replica A = %s, want %s", i, last.Data.EventID, id)
		}
	}
	c.conn.Close()
	var want []string
	for i := range 20 {
		id := fmt.Sprintf("evt-missed-%02d", i)
		pub(id)
		want = append(want, id)
	}
	// Every replica handled all 30, and framed each update at the same position.
	fa, fb := readN(t, watchA, 30), readN(t, watchB, 30)
	if diff := cmp.Diff(positions(fa), positions(fb)); diff != "" {
		t.Fatalf("positions of the same updates on replica A and B differ (-A +B):\n%s", diff)
	}

	resumed := map[string]*client{}
	for _, r := range []struct {
		name string
		n    *node
	}{{"other replica", b}, {"same replica", a}} {
		rc := dial(t, r.n.wsURL(query("since", fmt.Sprint(last.Seq), "epoch", last.Epoch)), tok)
		if f := rc.next(5 * time.Second); f.Type != "welcome" || f.Seq != last.Seq || f.Epoch != last.Epoch {
			t.Fatalf("%s: first frame after resume = %+v, want welcome at %d/%s", r.name, f, last.Seq, last.Epoch)
		}
		got := readN(t, rc, 20)
		if diff := cmp.Diff(want, eventIDs(got)); diff != "" {
			t.Errorf("%s: replayed updates (-want +got):\n%s", r.name, diff)
		}
		if diff := cmp.Diff(positions(fa[10:]), positions(got)); diff != "" {
			t.Errorf("%s: replayed positions differ from the live ones (-live +replayed):\n%s", r.name, diff)
		}
		resumed[r.name] = rc
	}
	pub("evt-live")
	for name, rc := range resumed {
		if f := rc.next(5 * time.Second); f.Data.EventID != "evt-live" {
			t.Errorf("%s: first live frame after the replay = %s, want evt-live", name, f.Data.EventID)
		}
		rc.quiet(300*time.Millisecond, name)
	}
	for _, w := range []*client{watchA, watchB} {
		_ = w.next(5 * time.Second)
	}

	t.Run("a replica started after the gap answers resync, and resumes from its start", func(t *testing.T) {
		testLateReplica(t, broker, tok, last)
	})
	t.Run("browser resumes across replicas", func(t *testing.T) { testBrowserResume(t, a, b, page) })
}

// testLateReplica starts replica C with initialOffset newest after the updates above: it
// can resume nothing before its first update, and everything after.
func testLateReplica(t *testing.T, broker *testenv.Broker, tok string, gapStart frame) {
	late := startNodeFrom(t, broker, "websocket-pod-c", "newest", nil)
	watch := dial(t, late.wsURL(""), tok)
	_ = watch.next(5 * time.Second)
	frames := watch.stream()
	// With newest, C starts at the partition's end when its group has joined; probe until
	// an update reaches it.
	var first frame
	for i := 0; first.Type == ""; i++ {
		if i == 20 {
			t.Fatalf("replica C received none of 20 probe updates")
		}
		publish(t, late.daprd, notification("uma", fmt.Sprintf("evt-probe-%02d", i), 10))
		select {
		case first = <-frames:
		case <-time.After(2 * time.Second):
		}
	}
	before := first
	before.Seq -= 2 // C did not handle first.Seq-1: it started at first.Seq
	for name, since := range map[string]frame{"gap before C started": gapStart, "one update before C's start": before} {
		r := dial(t, late.wsURL(query("since", fmt.Sprint(since.Seq), "epoch", since.Epoch)), tok)
		if f := r.next(5 * time.Second); f.Type != "resync" {
			t.Errorf("%s: first frame on replica C = %+v, want resync", name, f)
		}
		r.quiet(300*time.Millisecond, name)
	}
	r := dial(t, late.wsURL(query("since", fmt.Sprint(first.Seq-1), "epoch", first.Epoch)), tok)
	if f := r.next(5 * time.Second); f.Type != "welcome" {
		t.Errorf("resume just before C's first update: first frame = %+v, want welcome", f)
	}
	if f := r.next(5 * time.Second); f.Data.EventID != first.Data.EventID || f.Seq != first.Seq {
		t.Errorf("resume just before C's first update: frame %s, want %s", ids([]frame{f}), ids([]frame{first}))
	}
	part := first.Epoch[strings.LastIndexByte(first.Epoch, '.')+1:]
	if got := late.metric(t, `taskflow_ws_resume_window_start_offset{partition="`+part+`"}`); got != float64(first.Seq) {
		t.Errorf("taskflow_ws_resume_window_start_offset{partition=%q} = %v, want %d (C's first offset)", part, got, first.Seq)
	}
}

func readN(t *testing.T, c *client, n int) []frame {
	t.Helper()
	var out []frame
	for range n {
		out = append(out, c.next(10*time.Second))
	}
	return out
}

func eventIDs(fs []frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Data.EventID
	}
	return out
}

func positions(fs []frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = fmt.Sprintf("%s@%s/%d", f.Data.EventID, f.Epoch, f.Seq)
	}
	return out
}

// testBrowserResume drives the README's JavaScript client in headless Chromium: it reads
// three updates on replica A, closes, misses four, and resumes on replica B.
func testBrowserResume(t *testing.T, a, b *node, lis net.Listener) {
	tok := token(t, "vic", time.Hour, nil)
	watchB := dial(t, b.wsURL(""), tok)
	_ = watchB.next(5 * time.Second)
	atB := watchB.stream()
	page := fmt.Sprintf(`<!doctype html><html><body><pre id="out">waiting</pre><script>
const out = document.getElementById("out");
let done = false; // keepAwake: see dumpDOM
(async function keepAwake() { const until = Date.now() + 30000; while (!done && Date.now() < until) await fetch("/tick"); })();
let last = null; // {seq, epoch} of the last frame
const seen = [];
function connect(url, onFrame) {
  const q = last ? "?since=" + last.seq + "&epoch=" + encodeURIComponent(last.epoch) : "";
  const ws = new WebSocket(url + q, ["bearer", %q]);
  ws.onmessage = (ev) => {
    const f = JSON.parse(ev.data);
    if (f.type === "resync") seen.push("resync");
    else if (f.type === "notification") seen.push(f.data.event_id);
    if (f.seq !== undefined) last = { seq: f.seq, epoch: f.epoch };
    onFrame(f, ws);
  };
  ws.onerror = () => { out.textContent = "ERROR " + seen.join(","); done = true; };
}
connect(%q, (f, ws) => {
  if (f.type === "welcome") { fetch("/publish?phase=1"); return; }
  if (seen.length < 3) return;
  ws.close(1000);
  fetch("/publish?phase=2").then(() => connect(%q, (f) => {
    if (seen.length === 7 || seen.includes("resync")) { out.textContent = "DONE " + seen.join(","); done = true; }
  }));
});
</script></body></html>`, tok, a.wsURL(""), b.wsURL(""))
	mux := http.NewServeMux()
	handled := 0
	mux.HandleFunc("/publish", func(w http.ResponseWriter, r *http.Request) {
		from, to := 1, 3
		if r.URL.Query().Get("phase") == "2" {
			from, to = 4, 7
		}
		for i := from; i <= to; i++ {
			publish(t, a.daprd, notification("vic", fmt.Sprintf("evt-browser-%d", i), 10))
		}
		// Answer once replica B has handled them, as a reconnect after a pod loss would find it.
		for ; handled < to; handled++ {
			select {
			case <-atB:
			case <-time.After(10 * time.Second):
				http.Error(w, "replica B did not get the update", http.StatusGatewayTimeout)
				return
			}
		}
	})
	out := dumpDOM(t, lis, page, mux)
	want := "DONE evt-browser-1,evt-browser-2,evt-browser-3,evt-browser-4,evt-browser-5,evt-browser-6,evt-browser-7"
	if !strings.Contains(out, want) {
		t.Errorf("page DOM does not show the seven updates, once each and in order (%s):\n%s", want, out)
	}
}

// stream reads every further frame of c into the returned channel, until the connection
// ends (the test goroutine must not read c meanwhile). A read deadline cannot be used to
// poll: gorilla/websocket connections are unusable after a read timeout.
func (c *client) stream() <-chan frame {
	ch := make(chan frame, 64)
	go func() {
		defer close(ch)
		_ = c.conn.SetReadDeadline(time.Time{})
		for {
			_, data, err := c.conn.ReadMessage()
			if err != nil {
				return
			}
			var f frame
			if json.Unmarshal(data, &f) == nil {
				ch <- f
			}
		}
	}()
	return ch
}
