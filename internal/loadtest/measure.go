package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// WaitAll polls obs until every effect of events happened or timeout passes, then returns
// the effects and their tally. It watches with Poll (only what changed) and settles with
// one full read (Effects): the tally it returns is always over every row.
func WaitAll(ctx context.Context, obs *Observer, events []Event, timeout time.Duration) (Effects, Tally, error) {
	deadline := time.Now().Add(timeout)
	for {
		eff, err := obs.Poll(ctx)
		late := time.Now().After(deadline)
		if err == nil && (late || Check(events, eff, 0).Missing == 0) {
			eff, err = obs.Effects(ctx)
			if err == nil {
				t := Check(events, eff, 20)
				if t.Missing == 0 || late {
					return eff, t, nil
				}
			}
		}
		if err != nil && late {
			return eff, Tally{}, err
		}
		select {
		case <-ctx.Done():
			return eff, Tally{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// Arrivals reads the no-op subscriber's arrival times (first arrival per event_id).
func Arrivals(ctx context.Context, seenURL string) (map[string]time.Time, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, seenURL+"/seen?from=0", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read the no-op subscriber's arrivals: %w", err)
	}
	defer resp.Body.Close()
	out := map[string]time.Time{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		id, ns, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseInt(ns, 10, 64)
		if !ok || err != nil {
			continue
		}
		if _, seen := out[id]; !seen {
			out[id] = time.Unix(0, n)
		}
	}
	return out, sc.Err()
}

// Latencies are publish→effect durations of one service, sorted.
type Latencies []time.Duration

// Percentile returns the p-th percentile (0 < p ≤ 100).
func (l Latencies) Percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	i := int(float64(len(l))*p/100+0.5) - 1
	i = max(0, min(i, len(l)-1))
	return l[i]
}

// Throughput is effects per second from the first publish to the last effect.
type Throughput struct {
	Effects int
	Span    time.Duration
}

// PerSecond is the rate.
func (t Throughput) PerSecond() float64 {
	if t.Span <= 0 {
		return 0
	}
	return float64(t.Effects) / t.Span.Seconds()
}

// Measure computes latencies and throughput of the effects in at for the events of kinds
// (malformed events excluded), relative to their publish times.
func Measure(p *Published, kinds []Kind, at func(Event) (time.Time, bool)) (Latencies, Throughput) {
	var lat Latencies
	var first, last time.Time
	for _, ev := range p.Events {
		if ev.Malformed || !hasKind(kinds, ev.Kind) {
			continue
		}
		t, ok := at(ev)
		if !ok {
			continue
		}
		pub := p.At[ev.ID]
		lat = append(lat, max(0, t.Sub(pub)))
		if first.IsZero() || pub.Before(first) {
			first = pub
		}
		if t.After(last) {
			last = t
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat, Throughput{Effects: len(lat), Span: last.Sub(first)}
}

func hasKind(kinds []Kind, k Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// EffectTime returns, for a service, when an event's effect in that service happened.
func EffectTime(service string, e Effects) func(Event) (time.Time, bool) {
	return func(ev Event) (time.Time, bool) {
		var t time.Time
		var ok bool
		switch service {
		case "audit":
			t, ok = e.AuditAt[ev.ID]
		case "recurring-task":
			t, ok = e.SeriesAt[ev.SeriesID]
		case "notification":
			t, ok = e.LedgerAt[ev.ID]
		case "websocket":
			t, ok = e.WSUpdateAt[ev.ID]
		}
		return t, ok
	}
}

// ServiceKinds are the kinds whose effect each service produces.
var ServiceKinds = map[string][]Kind{
	"audit": {Completion, Reminder, Update}, "recurring-task": {Completion}, "notification": {Reminder}, "websocket": {Update},
}
