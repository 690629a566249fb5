package loadtest

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// report returns soak.md and the reasons the soak failed (none: it passed).
func (c SoakConfig) report(pub *Published, tally Tally, samples []soakSample) (string, []string) {
	var failures []string
	if !tally.OK() {
		failures = append(failures, "effects: "+tally.String())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s\n\nSoak: %.0f events/s for %v (%d events published), samples every %v, warm-up = first fifth.\n\n",
		Machine(), c.Rate, c.Duration, pub.Sends, c.Every)
	failures = append(failures, c.growthTable(&b, samples)...)
	errLines, logged := c.errorLogLines()
	failures = append(failures, logged...)
	fmt.Fprintf(&b, "\nEffects: %s. Error log lines: %d.\n", tally, errLines)
	for _, p := range tally.Problems {
		fmt.Fprintf(&b, "- %s\n", p)
	}
	if len(failures) == 0 {
		b.WriteString("\nResult: PASS\n")
	} else {
		b.WriteString("\nResult: FAIL\n- " + strings.Join(failures, "\n- ") + "\n")
	}
	return b.String(), failures
}

// growthTable writes the RSS and goroutine growth of every process after warm-up to b and
// returns a failure for each growth above MaxGrowth, and for each growth it cannot check:
// without a reading after warm-up and one at the end there is no growth to compare, and a
// sampler that never got a reading must not pass as "no growth".
func (c SoakConfig) growthTable(b *strings.Builder, samples []soakSample) []string {
	var failures []string
	b.WriteString("| process | RSS after warm-up (median) | RSS at end (median) | growth | goroutines after warm-up (fewest) | at end (fewest) | growth |\n|---|---|---|---|---|---|---|\n")
	// Compare medians (RSS) and floors (goroutines), so one sample taken while a batch was in
	// flight does not decide: the second fifth of the run (after warm-up) against the last
	// fifth and the final sample. Goroutines only from samples taken under load, at least
	// minGoroutineReadings on each side: the final sample comes after the backlog drained,
	// when the goroutines of work in flight are gone, and as the floor it would offset a leak
	// of as many; and a floor of one reading is just that reading.
	warmFrom, warmTo, endFrom := c.Duration/5, 2*c.Duration/5, 4*c.Duration/5
	warm, nWarm, warmG := windowSample(samples, warmFrom, warmTo)
	end, nEnd, _ := windowSample(samples, endFrom, 1<<62)
	endLoad, _, endG := windowSample(samples, endFrom, c.Duration+1)
	if nWarm == 0 {
		failures = append(failures, fmt.Sprintf("no sample after warm-up (%v to %v into the run, one every %v): growth not checked", warmFrom, warmTo, c.Every))
	}
	if nEnd == 0 {
		failures = append(failures, fmt.Sprintf("no sample at the end (from %v into the run): growth not checked", endFrom))
	}
	// missing notes a process without a reading on one side (when both sides have samples:
	// otherwise the failure above says it for all of them).
	missing := func(what, why string) string {
		if nWarm > 0 && nEnd > 0 {
			failures = append(failures, what+": "+why+", growth not checked")
		}
		return " – | – | – |"
	}
	for _, name := range benchServices {
		for _, p := range []string{name, "daprd-" + name} {
			row := fmt.Sprintf("| %s |", p)
			a, okA := warm.rss[p]
			z, okZ := end.rss[p]
			if okA && okZ {
				g, over := grewMore(float64(a), float64(z), c.MaxGrowth)
				row += fmt.Sprintf(" %s | %s | %+.1f%% |", mib(a), mib(z), 100*g)
				if over {
					failures = append(failures, fmt.Sprintf("%s RSS grew %.1f%%", p, 100*g))
				}
			} else {
				row += missing(p+" RSS", "no reading after warm-up or at the end")
			}
			if p == name {
				a, z := warm.goroutines[p], endLoad.goroutines[p]
				if warmG[p] >= minGoroutineReadings && endG[p] >= minGoroutineReadings {
					gg, over := grewMore(float64(a), float64(z), c.MaxGrowth)
					row += fmt.Sprintf(" %d | %d | %+.1f%% |", a, z, 100*gg)
					if over {
						failures = append(failures, fmt.Sprintf("%s goroutines grew %.1f%%", p, 100*gg))
					}
				} else {
					row += missing(p+" goroutines", fmt.Sprintf("%d and %d readings under load after warm-up and at the end, want %d each",
						warmG[p], endG[p], minGoroutineReadings))
				}
			} else {
				row += " – | – | – |"
			}
			b.WriteString(row + "\n")
		}
	}
	return failures
}

// grewMore returns the growth from a to z and whether it is more than limit. Exactly limit
// is not more: 20 → 22 goroutines is 10 %, which float division makes 0.10000000000000009.
func grewMore(a, z, limit float64) (float64, bool) {
	g := growth(a, z)
	return g, g > limit+1e-9
}

// growth is z relative to a, minus one (0 when a is 0).
func growth(a, z float64) float64 {
	if a == 0 {
		return 0
	}
	return z/a - 1
}

// errorLogLines counts the ERROR lines the services logged and returns the first five as
// failures.
func (c SoakConfig) errorLogLines() (int, []string) {
	var failures []string
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
	return errLines, failures
}

// minGoroutineReadings is how many goroutine readings each window needs for its floor.
const minGoroutineReadings = 2

// windowSample is the per-process median RSS and the fewest goroutines of the samples taken
// in [from, to), how many samples that is, and how many goroutine readings each process has
// there; a process without a reading there has none.
// Goroutines are the floor, not the median: the goroutines of work in flight when a sample
// is taken (a batch being sent, a keep-alive connection) come and go, and in a 5-minute
// soak the notification service's median over the last fifth was 27 against a floor of 23
// throughout (samples 23 23 … 27 23 27 29 23 28); a leaked goroutine stays, so it raises the
// floor.
func windowSample(samples []soakSample, from, to time.Duration) (soakSample, int, map[string]int) {
	out := soakSample{rss: map[string]int64{}, goroutines: map[string]int{}}
	rss, gs := map[string][]int64{}, map[string][]int{}
	n := 0
	for _, s := range samples {
		if s.at < from || s.at >= to {
			continue
		}
		n++
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
	readings := map[string]int{}
	for p, vs := range gs {
		out.goroutines[p], readings[p] = slices.Min(vs), len(vs)
	}
	return out, n, readings
}
