package loadtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/taskflow/taskflow-events/internal/devstack"
)

// BenchConfig is one benchmark: a flat-out phase of Events publishes for throughput, then
// a fixed-rate phase (Rate, or half the no-op ceiling when 0) of Duration for latency.
type BenchConfig struct {
	Stack       *devstack.Stack
	Noop        *Noop
	Obs         *Observer
	Pub         *Publisher
	Gen         Gen
	Events      int
	Concurrency int
	// Batch is how many events each flat-out publisher sends per call (bulk publish per
	// topic; default 50, 1 = one PublishEvent per event).
	Batch     int
	Rate      float64
	Duration  time.Duration
	Mix       [3]int
	Duplicate float64
	Malformed float64
	// Dir receives bench.md and latency.png.
	Dir string
	Out io.Writer
}

// benchServices are the rows of the table, in order.
var benchServices = []string{"audit", "notification", "recurring-task", "websocket"}

type phase struct {
	pub   *Published
	eff   Effects
	tally Tally
	noop  map[string]time.Time
	cpu   map[string]float64 // process name → % of one core
	rss   map[string]int64
}

func (c BenchConfig) procs() map[string]int {
	m := map[string]int{"noop-subscriber": c.Noop.App.Pid(), "daprd-noop-subscriber": c.Noop.Daprd.Pid()}
	for _, name := range benchServices {
		m[name] = c.Stack.Procs[name].Pid()
		m["daprd-"+name] = c.Stack.Procs["daprd-"+name].Pid()
	}
	return m
}

func (c BenchConfig) runPhase(ctx context.Context, o Options) (*phase, error) {
	procs := c.procs()
	before := map[string]ProcSample{}
	for name, pid := range procs {
		before[name], _ = SampleProc(pid)
	}
	pub, err := Run(ctx, c.Pub, c.Gen, o)
	if err != nil {
		return nil, err
	}
	eff, tally, err := WaitAll(ctx, c.Obs, pub.Events, 3*time.Minute)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c.Out, "  %d publishes in %v; %s\n", pub.Sends, pub.End.Sub(pub.Start).Round(time.Millisecond), tally)
	for _, p := range tally.Problems {
		fmt.Fprintf(c.Out, "  - %s\n", p)
	}
	// The last effect ends the phase for the CPU figures (WaitAll polls once a second).
	end := pub.End
	for _, at := range []map[string]time.Time{eff.AuditAt, eff.SeriesAt, eff.LedgerAt, eff.WSUpdateAt} {
		for _, ev := range pub.Events {
			if t, ok := at[ev.ID]; ok && t.After(end) {
				end = t
			}
			if t, ok := at[ev.SeriesID]; ok && t.After(end) {
				end = t
			}
		}
	}
	ph := &phase{pub: pub, eff: eff, tally: tally, cpu: map[string]float64{}, rss: map[string]int64{}}
	for name, pid := range procs {
		after, err := SampleProc(pid)
		if err != nil {
			continue
		}
		after.At = end
		ph.cpu[name], ph.rss[name] = CPUPercent(before[name], after), after.RSS
	}
	if ph.noop, err = Arrivals(ctx, c.Noop.SeenURL); err != nil {
		return nil, err
	}
	return ph, nil
}

func noopAt(arr map[string]time.Time) func(Event) (time.Time, bool) {
	return func(ev Event) (time.Time, bool) { t, ok := arr[ev.ID]; return t, ok }
}

// Bench runs the benchmark and writes the Markdown table and the chart to c.Dir.
func Bench(ctx context.Context, c BenchConfig) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	// Publish over the Task API sidecar's gRPC API: its HTTP API tops out near 600
	// publishes/s here, below what the subscribers take.
	if c.Stack != nil {
		pub, err := NewGRPCPublisher(c.Stack.Info.TaskAPI.DaprGRPC)
		if err != nil {
			return err
		}
		defer pub.Close()
		c.Pub = pub
	}
	if c.Batch == 0 {
		c.Batch = 50
	}
	base := Options{Concurrency: c.Concurrency, Mix: c.Mix, DuplicateRatio: c.Duplicate, MalformedRatio: c.Malformed}
	fmt.Fprintln(c.Out, "warm-up: 150 events")
	warm := base
	warm.MaxEvents, warm.Rate = 150, 100
	if _, err := c.runPhase(ctx, warm); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}

	fmt.Fprintf(c.Out, "flat out: %d events, %d publishers\n", c.Events, c.Concurrency)
	flat := base
	flat.MaxEvents, flat.Batch = c.Events, c.Batch
	fp, err := c.runPhase(ctx, flat)
	if err != nil {
		return fmt.Errorf("flat-out phase: %w", err)
	}
	_, ceilingAll := Measure(fp.pub, Kinds, noopAt(fp.noop))
	rate := c.Rate
	if rate <= 0 {
		rate = ceilingAll.PerSecond() / 2
	}
	fmt.Fprintf(c.Out, "fixed rate: %.0f events/s for %v\n", rate, c.Duration)
	fixed := base
	fixed.Rate, fixed.Duration = rate, c.Duration
	rp, err := c.runPhase(ctx, fixed)
	if err != nil {
		return fmt.Errorf("fixed-rate phase: %w", err)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s\n\n", Machine())
	fmt.Fprintf(&b, "Flat out: %d publishes (%d distinct events, mix completion:reminder:update %d:%d:%d, %.0f%% duplicates, %.0f%% malformed) by %d publishers, %d events per bulk publish call, over one daprd's gRPC API in %v (%.0f publishes/s). Fixed rate: %.0f events/s for %v (%d distinct events, one PublishEvent each; latency counts from the scheduled start, which calls missed by p99 %s, max %s).\n\n",
		fp.pub.Sends, len(fp.pub.Events), c.Mix[0], c.Mix[1], c.Mix[2], 100*c.Duplicate, 100*c.Malformed, c.Concurrency, c.Batch,
		fp.pub.End.Sub(fp.pub.Start).Round(time.Millisecond), float64(fp.pub.Sends)/fp.pub.End.Sub(fp.pub.Start).Seconds(),
		rate, c.Duration, len(rp.pub.Events), ms(rp.pub.Lag.Percentile(99)), ms(rp.pub.Lag.Percentile(100)))
	b.WriteString("| service | effects (flat out) | events/s | ceiling events/s | ratio to ceiling | p50 @ fixed rate | p99 @ fixed rate | CPU % service / sidecar (flat out) | RSS service / sidecar |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	var series []Series
	for _, name := range append(benchServices, "noop-subscriber") {
		kinds, at, atRate := ServiceKinds[name], EffectTime(name, fp.eff), EffectTime(name, rp.eff)
		if name == "noop-subscriber" {
			kinds, at, atRate = Kinds, noopAt(fp.noop), noopAt(rp.noop)
		}
		_, thr := Measure(fp.pub, kinds, at)
		_, ceil := Measure(fp.pub, kinds, noopAt(fp.noop))
		lat, _ := Measure(rp.pub, kinds, atRate)
		series = append(series, Series{Name: name, Lat: lat})
		ratio := 0.0
		if ceil.PerSecond() > 0 {
			ratio = thr.PerSecond() / ceil.PerSecond()
		}
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f | %.2f | %s | %s | %.0f / %.0f | %s / %s |\n", name, thr.Effects, thr.PerSecond(), ceil.PerSecond(), ratio,
			ms(lat.Percentile(50)), ms(lat.Percentile(99)), fp.cpu[name], fp.cpu["daprd-"+name], mib(rp.rss[name]), mib(rp.rss["daprd-"+name]))
	}
	fmt.Fprintf(&b, "\nEffects checked (flat out): %s. Fixed rate: %s.\n", fp.tally, rp.tally)
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

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
