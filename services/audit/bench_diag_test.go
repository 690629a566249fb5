//go:build auditbench

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// bulkStats sums daprd's bulk ingress metrics (all topics) from its metrics port:
// calls, events and the summed app callback latency.
type bulkStats struct {
	calls, events float64
	latencyMS     float64
}

func scrapeBulkStats(t *testing.T, metricsPort int) bulkStats {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics")
	if err != nil {
		t.Logf("scrape daprd metrics: %v", err)
		return bulkStats{}
	}
	defer resp.Body.Close()
	var s bulkStats
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, "{")
		_, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "dapr_component_pubsub_ingress_bulk_count":
			s.calls += v
		case "dapr_component_pubsub_ingress_bulk_event_count":
			s.events += v
		case "dapr_component_pubsub_ingress_bulk_latencies_sum":
			s.latencyMS += v
		}
	}
	return s
}

// describe reports events per bulk call, the mean callback latency and the callback
// occupancy: summed callback time over the drain's wall time (1.0 = exactly one bulk call
// in flight at any moment).
func (s bulkStats) describe(wall time.Duration) string {
	if s.calls == 0 {
		return "no daprd bulk metrics"
	}
	return fmt.Sprintf("%.0f bulk calls, %.1f events/call, callback mean %.2f ms, occupancy %.2f",
		s.calls, s.events/s.calls, s.latencyMS/s.calls, s.latencyMS/float64(wall.Milliseconds()))
}

// pgSampler samples pg_stat_activity of one database: backends running a statement
// and backends waiting for the chain's advisory lock.
type pgSampler struct {
	mu                         sync.Mutex
	samples, maxActive, maxAdv int
	sumActive, sumAdv          int
}

func (p *pgSampler) run(ctx context.Context, dsn, db string) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	for ctx.Err() == nil {
		var active, adv int
		if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'active'),
			count(*) FILTER (WHERE wait_event_type = 'Lock' AND wait_event = 'advisory')
			FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, db).Scan(&active, &adv); err == nil {
			p.mu.Lock()
			p.samples++
			p.sumActive += active
			p.sumAdv += adv
			p.maxActive, p.maxAdv = max(p.maxActive, active), max(p.maxAdv, adv)
			p.mu.Unlock()
		}
		// Every 50 ms, not 10: it runs during (c), whose PostgreSQL CPU per event is reported.
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *pgSampler) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.samples == 0 {
		return "no pg_stat_activity samples"
	}
	return fmt.Sprintf("%d pg_stat_activity samples: statements running mean %.2f max %d; advisory-lock waiters mean %.2f max %d",
		p.samples, float64(p.sumActive)/float64(p.samples), p.maxActive, float64(p.sumAdv)/float64(p.samples), p.maxAdv)
}

// cpuUse is the CPU time used so far by this process and by every PostgreSQL process
// (with the children the postmaster reaped), read from getrusage and /proc.
type cpuUse struct{ self, pg time.Duration }

func readCPU() cpuUse {
	var u cpuUse
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + d.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
			if i < len(f) {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				u.pg += time.Duration(v) * time.Second / 100
			}
		}
	}
	return u
}

// procCPU is the CPU time process pid used so far (0 when it cannot be read).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	var d time.Duration
	for _, i := range []int{11, 12} { // utime stime
		if i < len(f) {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			d += time.Duration(v) * time.Second / 100
		}
	}
	return d
}

// pipeCPU is the CPU use of a whole pipe: this process (the broker and the subscriber),
// the subscriber's daprd and PostgreSQL.
type pipeCPU struct {
	cpuUse
	daprd time.Duration
	pid   int
	done  int // events handled when this was read
}

// readPipeCPU reads the pipe's CPU use so far; done is how many events were handled by then
// (daprd may deliver some before StartDaprd returns: their CPU is not in the difference, so
// they must not be in the count either).
func readPipeCPU(daprdPid, done int) pipeCPU {
	return pipeCPU{cpuUse: readCPU(), daprd: procCPU(daprdPid), pid: daprdPid, done: done}
}

// perEvent describes the CPU the pipe used since u, per event handled since (n in all), and
// in total.
func (u pipeCPU) perEvent(n int) string {
	now := readPipeCPU(u.pid, n)
	n -= u.done
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	self, daprd, pg := per(now.self-u.self), per(now.daprd-u.daprd), per(now.pg-u.pg)
	return fmt.Sprintf("CPU per event: this process (broker + subscriber) %.1f µs, daprd %.1f µs, PostgreSQL %.1f µs; all %.1f µs",
		self, daprd, pg, self+daprd+pg)
}

// perEvent describes the CPU used since u, per event.
func (u cpuUse) perEvent(n int) string {
	now := readCPU()
	return fmt.Sprintf("CPU per event: this process %.1f µs, PostgreSQL %.1f µs",
		float64((now.self-u.self).Microseconds())/float64(n), float64((now.pg-u.pg).Microseconds())/float64(n))
}
