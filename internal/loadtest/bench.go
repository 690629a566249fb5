package loadtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/taskflow/taskflow-events/internal/devstack"
)

// BenchConfig is one benchmark: a flat-out phase of Events publishes for throughput, then
// a fixed-rate phase (Rate, or a quarter of the no-op ceiling when 0) of Duration for latency.
type BenchConfig struct {
	Stack *devstack.Stack
	// Noop and NoopAudit are the ceilings (StartNoop): Noop of notification, recurring-task
	// and websocket, NoopAudit of audit, each in the subscription modes of its services.
	Noop        *Noop
	NoopAudit   *Noop
	Obs         *Observer
	Pub         *Publisher
	Gen         Gen
	Events      int
	Concurrency int
	// Batch is how many events each flat-out publisher sends per call (bulk publish per
	// topic; default 50, 1 = one PublishEvent per event).
	Batch int
	// Window: at the fixed rate, one call per window carries the events due in it
	// (Options.Window); 0, one PublishEvent per event.
	Window    time.Duration
	Rate      float64
	Duration  time.Duration
	Mix       [3]int
	Duplicate float64
	Malformed float64
	// MailReceiver names the e-mail receiver in the report.
	MailReceiver string
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
	noop  map[string]time.Time     // arrivals at Noop
	noopA map[string]time.Time     // arrivals at NoopAudit
	cpu   map[string]float64       // process name → % of one core
	used  map[string]time.Duration // process name → CPU time used in the phase
	rss   map[string]int64
	// machine is how many CPUs the whole machine kept busy on average from the phase's
	// start to its last effect (0 when /proc/stat could not be read), busy the CPU time
	// that adds up to.
	machine float64
	busy    time.Duration
}

func (c BenchConfig) procs() map[string]int {
	m := map[string]int{NoopServices: c.Noop.App.Pid(), "daprd-" + NoopServices: c.Noop.Daprd.Pid(),
		NoopAudit: c.NoopAudit.App.Pid(), "daprd-" + NoopAudit: c.NoopAudit.Daprd.Pid()}
	for _, name := range benchServices {
		m[name] = c.Stack.Procs[name].Pid()
		m["daprd-"+name] = c.Stack.Procs["daprd-"+name].Pid()
	}
	if p := c.Stack.Procs[taskAPIDaprd]; p != nil {
		m[taskAPIDaprd] = p.Pid()
	}
	if p := c.Stack.Procs["mailpit"]; p != nil {
		m["mailpit"] = p.Pid()
	}
	m[loadTool] = os.Getpid()
	return m
}

// Processes of the CPU breakdown besides the services, their sidecars and the no-ops.
const (
	// taskAPIDaprd is the Task API double's sidecar: the publishers publish through it and
	// recurring-task's creates arrive through it.
	taskAPIDaprd = "daprd-task-api"
	// loadTool is this process: the broker, the publishers, the Task API double, the
	// observers and the SMTP sink.
	loadTool = "load tool"
	// postgres is every process named postgres: the postmaster and its backends.
	postgres = "postgres"
)

func (c BenchConfig) runPhase(ctx context.Context, o Options) (*phase, error) {
	procs := c.procs()
	before := map[string]ProcSample{}
	for name, pid := range procs {
		before[name], _ = SampleProc(pid)
	}
	pgBefore := CommCPU(postgres)
	sctx, stop := context.WithCancel(ctx)
	machine := startMachineSampler(sctx, 250*time.Millisecond)
	defer func() { stop(); <-machine.done }()
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
	ph := &phase{pub: pub, eff: eff, tally: tally, cpu: map[string]float64{}, used: map[string]time.Duration{}, rss: map[string]int64{}}
	ph.machine, _ = machine.busy(end)
	ph.used[postgres] = CommCPU(postgres) - pgBefore
	for name, pid := range procs {
		after, err := SampleProc(pid)
		if err != nil {
			continue
		}
		after.At = end
		ph.cpu[name], ph.rss[name] = CPUPercent(before[name], after), after.RSS
		ph.used[name] = after.CPU - before[name].CPU
	}
	// The breakdown's total runs to these readings, as the processes' figures do.
	_, ph.busy = machine.busy(time.Now())
	if ph.noop, err = Arrivals(ctx, c.Noop.SeenURL); err != nil {
		return nil, err
	}
	if ph.noopA, err = Arrivals(ctx, c.NoopAudit.SeenURL); err != nil {
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
	fp, rp, rate, err := c.runPhases(ctx)
	if err != nil {
		return err
	}
	return c.report(fp, rp, rate)
}

// runPhases runs the warm-up, the flat-out phase and the fixed-rate phase at rate (c.Rate,
// or a quarter of the no-op ceiling flat out when 0: the rate issue 16's latency target is
// stated at).
func (c BenchConfig) runPhases(ctx context.Context) (fp, rp *phase, rate float64, err error) {
	base := Options{Concurrency: c.Concurrency, Mix: c.Mix, DuplicateRatio: c.Duplicate, MalformedRatio: c.Malformed}
	fmt.Fprintln(c.Out, "warm-up: 150 events")
	warm := base
	warm.MaxEvents, warm.Rate = 150, 100
	if _, err := c.runPhase(ctx, warm); err != nil {
		return nil, nil, 0, fmt.Errorf("warm-up: %w", err)
	}

	fmt.Fprintf(c.Out, "flat out: %d events, %d publishers\n", c.Events, c.Concurrency)
	flat := base
	flat.MaxEvents, flat.Batch = c.Events, c.Batch
	fp, err = c.runPhase(ctx, flat)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("flat-out phase: %w", err)
	}
	_, ceilingAll := Measure(fp.pub, Kinds, noopAt(fp.noop))
	rate = c.Rate
	if rate <= 0 {
		rate = ceilingAll.PerSecond() / 4
	}
	if rate <= 0 {
		// Run with Rate 0 publishes flat out: the fixed-rate latencies would be a lie.
		return nil, nil, 0, fmt.Errorf("flat-out phase: the no-op subscriber received nothing, so there is no ceiling to derive the fixed rate from (pass --rate)")
	}
	fmt.Fprintf(c.Out, "fixed rate: %.0f events/s for %v\n", rate, c.Duration)
	fixed := base
	fixed.Rate, fixed.Duration, fixed.Window = rate, c.Duration, c.Window
	rp, err = c.runPhase(ctx, fixed)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("fixed-rate phase: %w", err)
	}
	return fp, rp, rate, nil
}
