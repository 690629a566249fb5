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
	// fifth and the final sample.
	warmFrom, warmTo, endFrom := c.Duration/5, 2*c.Duration/5, 4*c.Duration/5
	warm, nWarm := medianSample(samples, warmFrom, warmTo)
	end, nEnd := medianSample(samples, endFrom, 1<<62)
	if nWarm == 0 {
		failures = append(failures, fmt.Sprintf("no sample after warm-up (%v to %v into the run, one every %v): growth not checked", warmFrom, warmTo, c.Every))
	}
	if nEnd == 0 {
		failures = append(failures, fmt.Sprintf("no sample at the end (from %v into the run): growth not checked", endFrom))
	}
	// missing notes a process without a reading on one side (when both sides have samples:
	// otherwise the failure above says it for all of them).
	missing := func(what string) string {
		if nWarm > 0 && nEnd > 0 {
			failures = append(failures, what+": no reading after warm-up or at the end, growth not checked")
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
				row += missing(p + " RSS")
			}
			if p == name {
				a, okA := warm.goroutines[p]
				z, okZ := end.goroutines[p]
				if okA && okZ {
					gg, over := grewMore(float64(a), float64(z), c.MaxGrowth)
					row += fmt.Sprintf(" %d | %d | %+.1f%% |", a, z, 100*gg)
					if over {
						failures = append(failures, fmt.Sprintf("%s goroutines grew %.1f%%", p, 100*gg))
					}
				} else {
					row += missing(p + " goroutines")
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

// medianSample is the per-process median RSS and the fewest goroutines of the samples taken
// in [from, to), and how many samples that is; a process without a reading there has none.
// Goroutines are the floor, not the median: the goroutines of work in flight when a sample
// is taken (a batch being sent, a keep-alive connection) come and go, and in a 5-minute
// soak the notification service's median over the last fifth was 27 against a floor of 23
// throughout (samples 23 23 … 27 23 27 29 23 28); a leaked goroutine stays, so it raises the
// floor.
func medianSample(samples []soakSample, from, to time.Duration) (soakSample, int) {
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
	for p, vs := range gs {
		out.goroutines[p] = slices.Min(vs)
	}
	return out, n
}
