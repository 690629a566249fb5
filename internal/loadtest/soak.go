package loadtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/taskflow/taskflow-events/internal/devstack"
)

// SoakConfig is a fixed-rate run of Duration; resources are sampled every Every.
type SoakConfig struct {
	Stack    *devstack.Stack
	Obs      *Observer
	Pub      *Publisher
	Gen      Gen
	Rate     float64
	Duration time.Duration
	Every    time.Duration
	Mix      [3]int
	// MaxGrowth is the allowed growth of RSS and goroutines after warm-up (the first fifth).
	MaxGrowth float64
	Dir       string
	Out       io.Writer
}

type soakSample struct {
	at         time.Duration
	rss        map[string]int64
	goroutines map[string]int
}

// Soak runs the soak and writes soak.md to c.Dir; it fails when an effect is lost or
// duplicated, a service logged an error, or RSS or goroutines grew by more than MaxGrowth.
func Soak(ctx context.Context, c SoakConfig) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	sample := func(at time.Duration) soakSample {
		s := soakSample{at: at, rss: map[string]int64{}, goroutines: map[string]int{}}
		for _, name := range benchServices {
			for _, p := range []string{name, "daprd-" + name} {
				if ps, err := SampleProc(c.Stack.Procs[p].Pid()); err == nil {
					s.rss[p] = ps.RSS
				}
			}
			if n, err := Goroutines(ctx, c.Stack.Info.Services[name].Metrics); err == nil {
				s.goroutines[name] = n
			}
		}
		return s
	}
	start := time.Now()
	var samples []soakSample
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(c.Every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s := sample(time.Since(start).Round(time.Second))
				mu.Lock()
				samples = append(samples, s)
				mu.Unlock()
				fmt.Fprintf(c.Out, "%v: RSS audit %s, goroutines %v\n", s.at, mib(s.rss["audit"]), s.goroutines)
			}
		}
	}()
	pub, err := Run(ctx, c.Pub, c.Gen, Options{Rate: c.Rate, Duration: c.Duration, Mix: c.Mix, Concurrency: 8})
	close(done)
	if err != nil {
		return err
	}
	_, tally, err := WaitAll(ctx, c.Obs, pub.Events, 3*time.Minute)
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	final := sample(time.Since(start).Round(time.Second))
	mu.Lock()
	samples = append(samples, final)
	mu.Unlock()

	var failures []string
	if !tally.OK() {
		failures = append(failures, "effects: "+tally.String())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s\n\nSoak: %.0f events/s for %v (%d events published), samples every %v, warm-up = first fifth.\n\n",
		Machine(), c.Rate, c.Duration, pub.Sends, c.Every)
	b.WriteString("| process | RSS after warm-up (median) | RSS at end (median) | growth | goroutines after warm-up | at end | growth |\n|---|---|---|---|---|---|---|\n")
	// Compare medians, so one sample taken while a batch was in flight does not decide:
	// the second fifth of the run (after warm-up) against the last fifth and the final sample.
	warm, end := medianSample(samples, c.Duration/5, 2*c.Duration/5), medianSample(samples, 4*c.Duration/5, 1<<62)
	growth := func(a, z float64) float64 {
		if a == 0 {
			return 0
		}
		return z/a - 1
	}
	for _, name := range benchServices {
		for _, p := range []string{name, "daprd-" + name} {
			g := growth(float64(warm.rss[p]), float64(end.rss[p]))
			var gr string
			row := fmt.Sprintf("| %s | %s | %s | %+.1f%% |", p, mib(warm.rss[p]), mib(end.rss[p]), 100*g)
			if g > c.MaxGrowth {
				failures = append(failures, fmt.Sprintf("%s RSS grew %.1f%%", p, 100*g))
			}
			if p == name {
				gg := growth(float64(warm.goroutines[p]), float64(end.goroutines[p]))
				gr = fmt.Sprintf(" %d | %d | %+.1f%% |", warm.goroutines[p], end.goroutines[p], 100*gg)
				if gg > c.MaxGrowth {
					failures = append(failures, fmt.Sprintf("%s goroutines grew %.1f%%", p, 100*gg))
				}
			} else {
				gr = " – | – | – |"
			}
			b.WriteString(row + gr + "\n")
		}
	}
	errLines := 0
	for _, name := range benchServices {
		for _, line := range strings.Split(c.Stack.Procs[name].Log(), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) {
				errLines++
				if errLines <= 5 {
					failures = append(failures, name+" logged: "+line)
				}
			}
		}
	}
	fmt.Fprintf(&b, "\nEffects: %s. Error log lines: %d.\n", tally, errLines)
	for _, p := range tally.Problems {
		fmt.Fprintf(&b, "- %s\n", p)
	}
	if len(failures) == 0 {
		b.WriteString("\nResult: PASS\n")
	} else {
		b.WriteString("\nResult: FAIL\n- " + strings.Join(failures, "\n- ") + "\n")
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "soak.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprint(c.Out, "\n"+b.String())
	if len(failures) > 0 {
		return fmt.Errorf("soak failed: %s", strings.Join(failures, "; "))
	}
	return nil
}

// medianSample is the per-process median of the samples taken in [from, to).
func medianSample(samples []soakSample, from, to time.Duration) soakSample {
	out := soakSample{rss: map[string]int64{}, goroutines: map[string]int{}}
	rss, gs := map[string][]int64{}, map[string][]int{}
	for _, s := range samples {
		if s.at < from || s.at >= to {
			continue
		}
		for p, v := range s.rss {
			rss[p] = append(rss[p], v)
		}
		for p, v := range s.goroutines {
			gs[p] = append(gs[p], v)
		}
	}
	for p, vs := range rss {
		slices.Sort(vs)
		out.rss[p] = vs[len(vs)/2]
	}
	for p, vs := range gs {
		slices.Sort(vs)
		out.goroutines[p] = vs[len(vs)/2]
	}
	return out
}
