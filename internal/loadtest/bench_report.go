package loadtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/taskflow/taskflow-events/internal/wire"
)

// report writes bench.md and latency.png to c.Dir and prints the table; it fails when an
// effect was lost or duplicated in either phase.
func (c BenchConfig) report(fp, rp *phase, rate float64) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s\n\n", Machine())
	fmt.Fprintf(&b, "Runtime: %s. Ceilings in the services' own subscription modes: %s (audit: every topic in bulk, "+
		"%d / %v, one pub/sub Component per topic) and %s (notification: reminders in bulk, %d / %v; "+
		"recurring-task: task-events in bulk, %d / %v; websocket: task-updates in bulk, %d / %v), each behind its own daprd, consuming the same events "+
		"at the same time as the services.\n\n",
		runtimeVersion(c.Stack.Procs["daprd-audit"].Pid()), NoopAudit, wire.AuditBulkMaxMessages, wire.AuditBulkMaxAwait,
		NoopServices, wire.NotificationBulkMaxMessages, wire.NotificationBulkMaxAwait, wire.RecurringBulkMaxMessages, wire.RecurringBulkMaxAwait,
		wire.WebsocketBulkMaxMessages, wire.WebsocketBulkMaxAwait)
	channels := "in-app and e-mail (" + c.MailReceiver + ")"
	if c.Gen.Email == "" {
		channels = "in-app only (--email=false)"
	}
	fmt.Fprintf(&b, "Reminders ask for %s.\n\n", channels)
	fmt.Fprintf(&b, "Flat out: %d publishes (%d distinct events, mix completion:reminder:update %d:%d:%d, %.0f%% duplicates, %.0f%% malformed) by %d publishers, %d events per bulk publish call, over one daprd's gRPC API in %v (%.0f publishes/s). Fixed rate: %.0f events/s for %v (%d distinct events, %s; latency counts from each event's due time, which its call missed by p99 %s, max %s).\n\n",
		fp.pub.Sends, len(fp.pub.Events), c.Mix[0], c.Mix[1], c.Mix[2], 100*c.Duplicate, 100*c.Malformed, c.Concurrency, c.Batch,
		fp.pub.End.Sub(fp.pub.Start).Round(time.Millisecond), float64(fp.pub.Sends)/fp.pub.End.Sub(fp.pub.Start).Seconds(),
		rate, c.Duration, len(rp.pub.Events), fixedCalls(c.Window), ms(rp.pub.Lag.Percentile(99)), ms(rp.pub.Lag.Percentile(100)))
	b.WriteString("| service | effects (flat out) | events/s | ceiling events/s | ratio to ceiling | p50 @ fixed rate | p99 @ fixed rate | ceiling's p99 @ fixed rate | p99 ÷ ceiling's | CPU % service / sidecar (flat out) | CPU µs per event service / sidecar (flat out) | RSS service / sidecar |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	series, bounds := serviceTable(&b, fp, rp)
	fmt.Fprintf(&b, "\nEffects checked (flat out): %s. Fixed rate: %s.\n", fp.tally, rp.tally)
	b.WriteString(machineLine(fp, rp, bounds))
	for _, p := range append(fp.tally.Problems, rp.tally.Problems...) {
		fmt.Fprintf(&b, "- %s\n", p)
	}
	chart := filepath.Join(c.Dir, "latency.png")
	if err := LatencyChart(chart, fmt.Sprintf("publish → effect latency at %.0f events/s", rate), series); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nChart: %s\n", chart)
	if err := os.WriteFile(filepath.Join(c.Dir, "bench.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprint(c.Out, "\n"+b.String())
	if !fp.tally.OK() || !rp.tally.OK() {
		return fmt.Errorf("effects lost or duplicated under load (see the table)")
	}
	return nil
}

// serviceTable writes one row per service and the no-op subscriber to b: throughput flat
// out against the ceiling, latency at the fixed rate, CPU and RSS. It returns the latencies
// for the chart.
func serviceTable(b *strings.Builder, fp, rp *phase) ([]Series, map[string]float64) {
	var series []Series
	bounds, used := map[string]float64{}, servicesCPU(fp)
	for _, name := range append(benchServices, NoopServices, NoopAudit) {
		kinds, at, atRate := ServiceKinds[name], EffectTime(name, fp.eff), EffectTime(name, rp.eff)
		// The ceiling: the no-op subscriber in the same subscription modes, over the same
		// events (throughput flat out, latency at the fixed rate).
		ceilAt, ceilAtRate := noopAt(fp.noop), noopAt(rp.noop)
		if name == "audit" || name == NoopAudit {
			ceilAt, ceilAtRate = noopAt(fp.noopA), noopAt(rp.noopA)
		}
		switch name {
		case NoopServices:
			kinds, at, atRate = Kinds, noopAt(fp.noop), noopAt(rp.noop)
		case NoopAudit:
			kinds, at, atRate = Kinds, noopAt(fp.noopA), noopAt(rp.noopA)
		}
		_, thr := Measure(fp.pub, kinds, at)
		_, ceil := Measure(fp.pub, kinds, ceilAt)
		lat, _ := Measure(rp.pub, kinds, atRate)
		ceilLat, _ := Measure(rp.pub, kinds, ceilAtRate)
		series = append(series, Series{Name: name, Lat: lat})
		bounds[name] = RatioBound(thr, ceil, used, fp.machine)
		ratio, latRatio := 0.0, 0.0
		if ceil.PerSecond() > 0 {
			ratio = thr.PerSecond() / ceil.PerSecond()
		}
		if p := ceilLat.Percentile(99); p > 0 {
			latRatio = float64(lat.Percentile(99)) / float64(p)
		}
		fmt.Fprintf(b, "| %s | %d | %.0f | %.0f | %.2f | %s | %s | %s | %.2f | %.0f / %.0f | %s / %s | %s / %s |\n", name, thr.Effects, thr.PerSecond(), ceil.PerSecond(), ratio,
			ms(lat.Percentile(50)), ms(lat.Percentile(99)), ms(ceilLat.Percentile(99)), latRatio,
			fp.cpu[name], fp.cpu["daprd-"+name], perEvent(fp.used[name], thr.Effects), perEvent(fp.used["daprd-"+name], thr.Effects),
			mib(rp.rss[name]), mib(rp.rss["daprd-"+name]))
	}
	return series, bounds
}

// cpuOf is the CPU time the named processes used in the phase together.
func (ph *phase) cpuOf(names ...string) time.Duration {
	var d time.Duration
	for _, n := range names {
		d += ph.used[n]
	}
	return d
}

// servicesCPU is the CPU time the four services (not their sidecars) used in the phase.
func servicesCPU(ph *phase) time.Duration { return ph.cpuOf(benchServices...) }

// machineLine says how busy the whole machine was in each phase and, for the flat-out
// phase, the most each service's ratio could be with the four services' own CPU at zero
// (RatioBound): a ratio the bound keeps below a target says the target needs less CPU
// from the sidecars, the broker, PostgreSQL or the load tool, or more cores.
func machineLine(fp, rp *phase, bounds map[string]float64) string {
	if fp.machine <= 0 {
		return "\nMachine CPU: not read (/proc/stat).\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nMachine CPU, whole machine busy on average from a phase's start to its last effect: flat out %.0f %%, fixed rate %.0f %% of one core, on %d cores. "+
		"The four services themselves used %.1f CPU-seconds flat out; without them, the rest of the work unchanged, each ratio to ceiling would be at most",
		100*fp.machine, 100*rp.machine, runtime.NumCPU(), servicesCPU(fp).Seconds())
	for i, name := range benchServices {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(&b, "%s %s %.2f", sep, name, bounds[name])
	}
	b.WriteString(" (a span shrinks by at most that CPU ÷ the busy cores).\n")
	b.WriteString(cpuBreakdown(fp))
	return b.String()
}

type cpuGroup struct {
	name string
	used time.Duration
}

// cpuBreakdown says where the machine's CPU time went in the phase, by group of processes.
func cpuBreakdown(ph *phase) string {
	if ph.busy <= 0 {
		return ""
	}
	var sidecars []string
	for _, name := range benchServices {
		sidecars = append(sidecars, "daprd-"+name)
	}
	groups := []cpuGroup{
		{"the four services", servicesCPU(ph)},
		{"their sidecars", ph.cpuOf(sidecars...)},
		{"the no-ops and their sidecars", ph.cpuOf(NoopServices, "daprd-"+NoopServices, NoopAudit, "daprd-"+NoopAudit)},
		{"the Task API's daprd (publishes, creates)", ph.used[taskAPIDaprd]},
		{"PostgreSQL", ph.used[postgres]},
		{"the load tool (broker, publishers, Task API double, observers, SMTP sink)", ph.used[loadTool]},
	}
	if d, ok := ph.used["mailpit"]; ok {
		groups = append(groups, cpuGroup{"mailpit", d})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nWhere the machine's CPU went flat out, %.1f CPU-seconds from the phase's start to the last readings (≤ 1 s after its last effect):", ph.busy.Seconds())
	rest := ph.busy
	for _, g := range groups {
		fmt.Fprintf(&b, " %s %.1f (%.0f %%),", g.name, g.used.Seconds(), 100*g.used.Seconds()/ph.busy.Seconds())
		rest -= g.used
	}
	fmt.Fprintf(&b, " everything else, and the readings' rounding, %.1f (%.0f %%).\n", rest.Seconds(), 100*rest.Seconds()/ph.busy.Seconds())
	return b.String()
}

// perEvent is the CPU time used per event handled, in µs ("–" without events). The
// no-ops' rows divide by every event they received (all three topics).
func perEvent(used time.Duration, events int) string {
	if events <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", float64(used.Microseconds())/float64(events))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// runtimeVersion is what the daprd running as pid says of its version.
func runtimeVersion(pid int) string {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return "daprd (version unknown: " + err.Error() + ")"
	}
	out, err := exec.Command(exe, "--version").Output()
	if err != nil {
		return exe + " (version unknown: " + err.Error() + ")"
	}
	return "daprd " + strings.TrimSpace(string(out)) + " (" + exe + ")"
}

// fixedCalls says how the fixed-rate phase published.
func fixedCalls(window time.Duration) string {
	if window <= 0 {
		return "one PublishEvent each"
	}
	return fmt.Sprintf("the events due in each %v window in one call at its end, a bulk publish per topic", window)
}
