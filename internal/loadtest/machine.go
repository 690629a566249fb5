package loadtest

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MachineSample is one reading of the CPU time the whole machine has spent busy and in all,
// from the first line of /proc/stat, in clock ticks summed over every CPU.
type MachineSample struct {
	At          time.Time
	Busy, Total int64
}

// ParseProcStat reads the aggregate "cpu" line of /proc/stat. Busy is everything but idle
// and iowait; guest time is already inside user and nice, so it is not counted again.
func ParseProcStat(b []byte) (busy, total int64, err error) {
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat starts %q, want the aggregate cpu line", line)
	}
	var v [8]int64 // user nice system idle iowait irq softirq steal
	for i := range v {
		if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("/proc/stat cpu field %d: %w", i+1, err)
		}
		total += v[i]
	}
	return total - v[3] - v[4], total, nil
}

// machineSampler reads /proc/stat every interval until its context ends, so a phase's
// machine-wide CPU can be taken up to its last effect rather than to when the wait for
// effects noticed it (WaitAll polls once a second).
type machineSampler struct {
	mu      sync.Mutex
	samples []MachineSample
	done    chan struct{}
}

func startMachineSampler(ctx context.Context, every time.Duration) *machineSampler {
	s := &machineSampler{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if b, err := os.ReadFile("/proc/stat"); err == nil {
				if busy, total, err := ParseProcStat(b); err == nil {
					s.mu.Lock()
					s.samples = append(s.samples, MachineSample{At: time.Now(), Busy: busy, Total: total})
					s.mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// busy is how many CPUs the machine kept busy on average from its first reading to the
// last one at or before end, and the CPU time that adds up to (0 without two such readings).
func (s *machineSampler) busy(end time.Time) (float64, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Busy(s.samples, end, runtime.NumCPU())
}

// Busy is the average number of busy CPUs of ncpu between samples[0] and the last sample at
// or before end, and the busy CPU time between them (0, 0 without two such samples).
func Busy(samples []MachineSample, end time.Time, ncpu int) (float64, time.Duration) {
	if len(samples) < 2 {
		return 0, 0
	}
	first, last := samples[0], samples[0]
	for _, s := range samples[1:] {
		if s.At.After(end) {
			break
		}
		last = s
	}
	if last.Total <= first.Total {
		return 0, 0
	}
	cores := float64(ncpu) * float64(last.Busy-first.Busy) / float64(last.Total-first.Total)
	return cores, time.Duration(last.Busy-first.Busy) * time.Second / clockTicks
}

// CommCPU is the CPU time (user + system) of every process on the machine named comm, as
// /proc/<pid>/stat gives the name: PostgreSQL's postmaster and its backends, say. A
// process that exits between two readings takes its time with it.
func CommCPU(comm string) time.Duration {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var sum time.Duration
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if name, cpu, ok := parseStat(b); ok && name == comm {
			sum += cpu
		}
	}
	return sum
}

// RatioBound is the most a service's flat-out ratio could be if the services under test
// used no CPU at all and the rest of the machine's work stayed as it was: the machine,
// CPU-bound at busyCores, would finish servicesCPU of work sooner, so the service's span
// shrinks by at most servicesCPU ÷ busyCores (all of it counted against this service,
// which overstates the gain for a service that finished before the others). 0 when
// unknown; +Inf when the span would vanish.
func RatioBound(t, ceiling Throughput, servicesCPU time.Duration, busyCores float64) float64 {
	if busyCores <= 0 || ceiling.PerSecond() <= 0 || t.Effects == 0 {
		return 0
	}
	span := t.Span.Seconds() - servicesCPU.Seconds()/busyCores
	if span <= 0 {
		return math.Inf(1)
	}
	return float64(t.Effects) / span / ceiling.PerSecond()
}
