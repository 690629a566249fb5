package loadtest

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		in          string
		busy, total int64
		wantErr     bool
	}{
		{name: "kernel 6", in: "cpu  100 5 50 800 40 3 2 0 7 0\ncpu0 50 2 25 400 20 1 1 0 0 0\n", busy: 160, total: 1000},
		{name: "no guest fields", in: "cpu  10 0 10 70 10 0 0 0\n", busy: 20, total: 100},
		{name: "per-cpu line first", in: "cpu0 1 2 3 4 5 6 7 8\n", wantErr: true},
		{name: "short", in: "cpu 1 2 3\n", wantErr: true},
		{name: "not a number", in: "cpu  1 2 x 4 5 6 7 8\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			busy, total, err := ParseProcStat([]byte(tc.in))
			if (err != nil) != tc.wantErr || busy != tc.busy || total != tc.total {
				t.Errorf("ParseProcStat(%q) = %d, %d, %v, want %d, %d, error %v", tc.in, busy, total, err, tc.busy, tc.total, tc.wantErr)
			}
		})
	}
}

func TestBusy(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	samples := []MachineSample{
		{At: t0, Busy: 0, Total: 0},
		{At: t0.Add(time.Second), Busy: 180, Total: 200}, // 1.8 of 2 cores busy
		{At: t0.Add(2 * time.Second), Busy: 200, Total: 400},
	}
	for _, tc := range []struct {
		name    string
		end     time.Time
		want    float64
		wantCPU time.Duration
	}{
		{name: "up to the last effect", end: t0.Add(1500 * time.Millisecond), want: 1.8, wantCPU: 1800 * time.Millisecond},
		{name: "whole run", end: t0.Add(time.Hour), want: 1.0, wantCPU: 2 * time.Second},
		{name: "no reading after the first", end: t0.Add(time.Millisecond), want: 0, wantCPU: 0},
	} {
		if got, cpu := Busy(samples, tc.end, 2); math.Abs(got-tc.want) > 1e-9 || cpu != tc.wantCPU {
			t.Errorf("%s: Busy(…, %v, 2) = %v cores, %v, want %v, %v", tc.name, tc.end.Sub(t0), got, cpu, tc.want, tc.wantCPU)
		}
	}
}

func TestRatioBound(t *testing.T) {
	t.Parallel()
	ceiling := Throughput{Effects: 7000, Span: 7 * time.Second} // 1,000/s
	for _, tc := range []struct {
		name     string
		t        Throughput
		services time.Duration
		cores    float64
		want     float64
	}{
		// 7,000 effects in 14 s is 0.5 of the ceiling; 6 CPU-seconds on 2 busy cores
		// would end it 3 s sooner: 7,000 in 11 s, 0.64.
		{name: "CPU-bound", t: Throughput{Effects: 7000, Span: 14 * time.Second}, services: 6 * time.Second, cores: 2, want: 7000.0 / 11 / 1000},
		{name: "services idle", t: Throughput{Effects: 7000, Span: 14 * time.Second}, services: 0, cores: 2, want: 0.5},
		{name: "span would vanish", t: Throughput{Effects: 7000, Span: 2 * time.Second}, services: 6 * time.Second, cores: 2, want: math.Inf(1)},
		{name: "machine not read", t: Throughput{Effects: 7000, Span: 14 * time.Second}, services: 6 * time.Second, cores: 0, want: 0},
	} {
		if got := RatioBound(tc.t, ceiling, tc.services, tc.cores); math.Abs(got-tc.want) > 1e-9 && got != tc.want {
			t.Errorf("%s: RatioBound = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCommCPUSumsTheNamedProcesses(t *testing.T) {
	t.Parallel()
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ { // burn some CPU of our own
		_ = x * x
	}
	own, err := SampleProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	if got := CommCPU(strings.TrimSpace(string(comm))); got < own.CPU {
		t.Errorf("CommCPU(%q) = %v, want at least this process's own %v", strings.TrimSpace(string(comm)), got, own.CPU)
	}
	if got := CommCPU("no-such-process-name"); got != 0 {
		t.Errorf("CommCPU(a name nothing has) = %v, want 0", got)
	}
}

func TestCPUBreakdownAddsUpToTheMachine(t *testing.T) {
	t.Parallel()
	ph := &phase{busy: 20 * time.Second, used: map[string]time.Duration{
		"audit": time.Second, "notification": 2 * time.Second, "recurring-task": time.Second, "websocket": time.Second,
		"daprd-audit": time.Second, "daprd-notification": time.Second, "daprd-recurring-task": 2 * time.Second, "daprd-websocket": time.Second,
		NoopServices: time.Second, "daprd-" + NoopServices: time.Second, NoopAudit: time.Second, "daprd-" + NoopAudit: time.Second,
		taskAPIDaprd: 2 * time.Second, postgres: time.Second, loadTool: time.Second,
	}}
	got := cpuBreakdown(ph)
	for _, want := range []string{
		"20.0 CPU-seconds", "the four services 5.0 (25 %)", "their sidecars 5.0 (25 %)", "the no-ops and their sidecars 4.0 (20 %)",
		"the Task API's daprd (publishes, creates) 2.0 (10 %)", "PostgreSQL 1.0 (5 %)", "SMTP sink) 1.0 (5 %)", "everything else, and the readings' rounding, 2.0 (10 %)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("cpuBreakdown = %q, want it to say %q", got, want)
		}
	}
	if strings.Contains(got, "mailpit") {
		t.Errorf("cpuBreakdown = %q names mailpit, which did not run", got)
	}
}
