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
// returns a failure for each growth above MaxGrowth.
func (c SoakConfig) growthTable(b *strings.Builder, samples []soakSample) []string {
	var failures []string
	b.WriteString("| process | RSS after warm-up (median) | RSS at end (median) | growth | goroutines after warm-up | at end | growth |\n|---|---|---|---|---|---|---|\n")
	// Compare medians, so one sample taken while a batch was in flight does not decide:
	// the second fifth of the run (after warm-up) against the last fifth and the final sample.
	warm, end := medianSample(samples, c.Duration/5, 2*c.Duration/5), medianSample(samples, 4*c.Duration/5, 1<<62)
	for _, name := range benchServices {
		for _, p := range []string{name, "daprd-" + name} {
			g, over := grewMore(float64(warm.rss[p]), float64(end.rss[p]), c.MaxGrowth)
			var gr string
			row := fmt.Sprintf("| %s | %s | %s | %+.1f%% |", p, mib(warm.rss[p]), mib(end.rss[p]), 100*g)
			if over {
				failures = append(failures, fmt.Sprintf("%s RSS grew %.1f%%", p, 100*g))
			}
			if p == name {
				gg, over := grewMore(float64(warm.goroutines[p]), float64(end.goroutines[p]), c.MaxGrowth)
				gr = fmt.Sprintf(" %d | %d | %+.1f%% |", warm.goroutines[p], end.goroutines[p], 100*gg)
				if over {
					failures = append(failures, fmt.Sprintf("%s goroutines grew %.1f%%", p, 100*gg))
				}
			} else {
				gr = " – | – | – |"
			}
			b.WriteString(row + gr + "\n")
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
