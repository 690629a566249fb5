package loadtest

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// flatSample is a reading of every process at at: the same RSS and goroutines each time.
func flatSample(at time.Duration) soakSample {
	s := soakSample{at: at, rss: map[string]int64{}, goroutines: map[string]int{}}
	for _, name := range benchServices {
		s.rss[name], s.rss["daprd-"+name], s.goroutines[name] = 30<<20, 90<<20, 20
	}
	return s
}

// TestGrowthTableNeedsReadings: growth is checked only against readings after warm-up and
// at the end; without them the soak fails saying so, instead of passing as "no growth".
func TestGrowthTableNeedsReadings(t *testing.T) {
	t.Parallel()
	c := SoakConfig{Duration: 10 * time.Second, Every: time.Second, MaxGrowth: 0.10}
	var every []soakSample // one a second over the run, and the final one after it
	for at := time.Second; at <= 10*time.Second; at += time.Second {
		every = append(every, flatSample(at))
	}
	every = append(every, flatSample(14*time.Second))
	var noAuditGoroutines []soakSample // the sampler never read audit's goroutines
	for _, s := range every {
		g := flatSample(s.at)
		delete(g.goroutines, "audit")
		noAuditGoroutines = append(noAuditGoroutines, g)
	}
	var grown []soakSample // daprd-websocket a third larger in the last fifth
	for _, s := range every {
		g := flatSample(s.at)
		if s.at >= 8*time.Second {
			g.rss["daprd-websocket"] = 120 << 20
		}
		grown = append(grown, g)
	}
	// The notification service's goroutines in a 5-minute soak: work in flight at some
	// samples of the last fifth, back to the floor in between.
	spiky, leaking := []soakSample{}, []soakSample{}
	for i, s := range every {
		sp, lk := flatSample(s.at), flatSample(s.at)
		if s.at >= 8*time.Second {
			sp.goroutines["notification"] = []int{27, 20, 29, 28}[i%4]
			lk.goroutines["notification"] = 23 + i%2 // one leaked every so often, never back to 20
		}
		spiky, leaking = append(spiky, sp), append(leaking, lk)
	}
	// The same leak, and the final sample (after the backlog drained) with the goroutines of
	// the work in flight gone: 3 fewer than under load, as many as leaked.
	idleEnd := slices.Clone(leaking)
	idleEnd[len(idleEnd)-1] = flatSample(14 * time.Second)
	idleEnd[len(idleEnd)-1].goroutines["notification"] = 20
	// Goroutines read only once under load in each window.
	var sparse []soakSample
	for _, s := range every {
		g := flatSample(s.at)
		if s.at != 2*time.Second && s.at != 8*time.Second {
			delete(g.goroutines, "websocket")
		}
		sparse = append(sparse, g)
	}
	tests := []struct {
		name    string
		samples []soakSample
		want    []string // failures, each a substring of its own; none: passes
	}{
		{"flat", every, nil},
		{"RSS grown", grown, []string{"daprd-websocket RSS grew 33.3%"}},
		{"goroutines of work in flight", spiky, nil},
		{"goroutines leaked", leaking, []string{"notification goroutines grew 15.0%"}},
		{"goroutines leaked, idle final sample", idleEnd, []string{"notification goroutines grew 15.0%"}},
		{"goroutines read once per window", sparse, []string{
			"websocket goroutines: 1 and 1 readings under load after warm-up and at the end, want 2 each"}},
		{"no samples at all", nil, []string{
			"no sample after warm-up (2s to 4s into the run, one every 1s): growth not checked",
			"no sample at the end (from 8s into the run): growth not checked",
		}},
		{"only the final sample", every[len(every)-1:], []string{"no sample after warm-up (2s to 4s into the run, one every 1s)"}},
		{"samples without readings", []soakSample{{at: 3 * time.Second}, {at: 14 * time.Second}}, []string{
			"audit RSS: no reading after warm-up or at the end", "daprd-audit RSS: no reading after warm-up or at the end",
			"audit goroutines: 0 and 0 readings under load after warm-up and at the end",
		}},
		{"one process never read", noAuditGoroutines,
			[]string{"audit goroutines: 0 and 0 readings under load after warm-up and at the end"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			got := c.growthTable(&b, tt.samples)
			if tt.want == nil && len(got) > 0 {
				t.Errorf("growthTable(%s) = %q, want no failures", tt.name, got)
			}
			if tt.want != nil && len(got) == 0 {
				t.Errorf("growthTable(%s) = no failures, want %q", tt.name, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(strings.Join(got, "\n"), w) {
					t.Errorf("growthTable(%s) = %q, want a failure saying %q", tt.name, got, w)
				}
			}
		})
	}
}
