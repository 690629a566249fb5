package telemetry

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestNewLoggerLevels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		level string
		// logged are the messages of the lines written at debug, info, warn and error.
		logged []string
	}{
		{name: "debug", level: "debug", logged: []string{"d", "i", "w", "e"}},
		{name: "info", level: "info", logged: []string{"i", "w", "e"}},
		{name: "warn", level: "warn", logged: []string{"w", "e"}},
		{name: "error", level: "error", logged: []string{"e"}},
		{name: "upper case", level: "WARN", logged: []string{"w", "e"}},
		{name: "offset", level: "info+4", logged: []string{"w", "e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log, err := NewLogger(&buf, tt.level, "audit", "v1.2.3")
			if err != nil {
				t.Fatalf("NewLogger(%q) = %v", tt.level, err)
			}
			log.Debug("d")
			log.Info("i")
			log.Warn("w")
			log.Error("e")
			var got []string
			for _, line := range decodeLines(t, &buf) {
				got = append(got, line["msg"].(string))
			}
			if diff := cmp.Diff(tt.logged, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("NewLogger(%q) logged (-want +got):\n%s", tt.level, diff)
			}
		})
	}
}

func TestNewLoggerRejectsUnknownLevel(t *testing.T) {
	t.Parallel()
	for _, level := range []string{"", "verbose", "trace", "info+x"} {
		if _, err := NewLogger(io.Discard, level, "audit", "dev"); err == nil || !strings.Contains(err.Error(), "parse log level") {
			t.Errorf("NewLogger(%q) = %v, want a parse log level error", level, err)
		}
	}
}

func TestNewLoggerJSONShape(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "info", "notification", "v0.9.0")
	if err != nil {
		t.Fatalf("NewLogger() = %v", err)
	}
	log.Warn("publish_failed", "event_id", "evt-1", "attempt", 3)
	lines := decodeLines(t, &buf)
	if len(lines) != 1 {
		t.Fatalf("lines = %d, want 1", len(lines))
	}
	got := lines[0]
	if _, err := time.Parse(time.RFC3339Nano, got["time"].(string)); err != nil {
		t.Errorf("time = %v, want RFC 3339: %v", got["time"], err)
	}
	want := map[string]any{
		"level": "WARN", "msg": "publish_failed", "service": "notification", "version": "v0.9.0",
		"event_id": "evt-1", "attempt": float64(3),
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreMapEntries(func(k string, _ any) bool { return k == "time" })); diff != "" {
		t.Errorf("log line (-want +got):\n%s", diff)
	}
}

// decodeLines decodes each line of buf as one JSON object.
func decodeLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not a JSON object: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestMetricsHandler(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	m.ObserveEvent("task-events", "success", 2*time.Millisecond)
	m.ObserveEvent("task-events", "success", 3*time.Millisecond)
	m.ObserveEvent("task-events", "retry", time.Second)
	m.ObserveEvent("reminders", "drop", 0)

	body := scrape(t, m)
	for _, want := range []string{
		"# TYPE taskflow_events_total counter",
		`taskflow_events_total{status="success",topic="task-events"} 2`,
		`taskflow_events_total{status="retry",topic="task-events"} 1`,
		`taskflow_events_total{status="drop",topic="reminders"} 1`,
		"# TYPE taskflow_event_handler_seconds histogram",
		`taskflow_event_handler_seconds_count{status="success",topic="task-events"} 2`,
		`taskflow_event_handler_seconds_sum{status="success",topic="task-events"} 0.005`,
		`taskflow_event_handler_seconds_sum{status="retry",topic="task-events"} 1`,
		// 2ms and 3ms are above the 0.0015625s bucket and within 0.00390625s.
		`taskflow_event_handler_seconds_bucket{status="success",topic="task-events",le="0.0015625"} 0`,
		`taskflow_event_handler_seconds_bucket{status="success",topic="task-events",le="0.00390625"} 2`,
		`taskflow_event_handler_seconds_bucket{status="success",topic="task-events",le="+Inf"} 2`,
		// The Go and process collectors are registered.
		"# TYPE go_goroutines gauge",
		"# TYPE process_cpu_seconds_total counter",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, `status="drop",topic="task-events"`) {
		t.Errorf("/metrics has a series for a status never observed on task-events")
	}
}

func TestMetricsConcurrentObserve(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	const goroutines, each = 8, 250
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				m.ObserveEvent("task-events", "success", time.Millisecond)
			}
		})
	}
	wg.Wait()
	want := `taskflow_events_total{status="success",topic="task-events"} 2000` + "\n"
	if body := scrape(t, m); !strings.Contains(body, want) {
		t.Errorf("after %d concurrent observations /metrics lacks %q", goroutines*each, want)
	}
}

// scrape serves m.Handler() and returns the body of GET /metrics.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d, want 200\n%s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want the Prometheus text format (text/plain)", ct)
	}
	return string(body)
}
