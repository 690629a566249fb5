package loadtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// soakSamples are the samples of one soak; the sampling goroutine and Soak both add to them.
type soakSamples struct {
	mu   sync.Mutex
	list []soakSample
}

func (ss *soakSamples) add(s soakSample) {
	ss.mu.Lock()
	ss.list = append(ss.list, s)
	ss.mu.Unlock()
}

// Soak runs the soak and writes soak.md to c.Dir; it fails when an effect is lost or
// duplicated, a service logged an error, or RSS or goroutines grew by more than MaxGrowth.
func Soak(ctx context.Context, c SoakConfig) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	start := time.Now()
	var samples soakSamples
	done, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		c.sampleEvery(ctx, start, &samples, done)
	}()
	pub, err := Run(ctx, c.Pub, c.Gen, Options{Rate: c.Rate, Duration: c.Duration, Mix: c.Mix, Concurrency: 8})
	close(done)
	<-sampled // a sample in progress is in the list before the report reads it
	if err != nil {
		return err
	}
	_, tally, err := WaitAll(ctx, c.Obs, pub.Events, 3*time.Minute)
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	samples.add(c.sample(ctx, time.Since(start).Round(time.Second)))

	report, failures := c.report(pub, tally, samples.list)
	if err := os.WriteFile(filepath.Join(c.Dir, "soak.md"), []byte(report), 0o644); err != nil {
		return err
	}
	fmt.Fprint(c.Out, "\n"+report)
	if len(failures) > 0 {
		return fmt.Errorf("soak failed: %s", strings.Join(failures, "; "))
	}
	return nil
}

// sampleEvery adds a sample to samples every c.Every, and prints it, until done is closed.
func (c SoakConfig) sampleEvery(ctx context.Context, start time.Time, samples *soakSamples, done <-chan struct{}) {
	t := time.NewTicker(c.Every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			s := c.sample(ctx, time.Since(start).Round(time.Second))
			samples.add(s)
			fmt.Fprintf(c.Out, "%v: RSS audit %s, goroutines %v\n", s.at, mib(s.rss["audit"]), s.goroutines)
		}
	}
}

// sample reads the RSS of every service and its sidecar and the goroutines of every service.
func (c SoakConfig) sample(ctx context.Context, at time.Duration) soakSample {
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
