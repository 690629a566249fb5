package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options shape one load run.
type Options struct {
	// Rate is events per second in total; 0 publishes flat out with Concurrency workers.
	Rate        float64
	Concurrency int
	// Duration bounds the publishing time and MaxEvents the number of publishes (0: no bound
	// of that kind; at least one of them must be set).
	Duration  time.Duration
	MaxEvents int
	// Mix weighs completions, reminders and updates (default 1:1:1).
	Mix [3]int
	// DuplicateRatio re-publishes one of the last 20 events (same event_id: a producer's
	// retry) instead of a new one; with Batch, an earlier event of the same call;
	// MalformedRatio publishes a malformed event.
	DuplicateRatio, MalformedRatio float64
	// Batch, when above 1, makes each flat-out publisher send Batch events per call (over
	// gRPC one bulk publish per topic); latency counts from the call's start.
	Batch int
	// Tick, when set, is called about every second while publishing.
	Tick func(sent int)
}

// Published is what a run sent: every distinct event, when it was first published, and
// how many publishes there were in all.
type Published struct {
	Events []Event
	At     map[string]time.Time
	Sends  int
	Start  time.Time
	End    time.Time
	// Lag is, at a fixed rate, how late each publish call started after its due time
	// (sorted); the latencies include it.
	Lag Latencies
}

// Run publishes events through pub according to o.
func Run(ctx context.Context, pub *Publisher, gen Gen, o Options) (*Published, error) {
	if o.Duration <= 0 && o.MaxEvents <= 0 {
		return nil, fmt.Errorf("a load run needs a duration or an event count")
	}
	if o.Mix == [3]int{} {
		o.Mix = [3]int{1, 1, 1}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	// Publish calls use the caller's ctx: Duration ends the scheduling, and calls in flight
	// then complete (a call cut off at the deadline may or may not have published).
	pubCtx := ctx
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	total := o.Mix[0] + o.Mix[1] + o.Mix[2]
	res := &Published{At: map[string]time.Time{}, Start: time.Now()}
	var mu sync.Mutex
	var sent atomic.Int64
	var firstErr error
	next := func(rng *rand.Rand) Event {
		mu.Lock()
		defer mu.Unlock()
		if o.Batch <= 1 && len(res.Events) > 0 && rng.Float64() < o.DuplicateRatio {
			recent := res.Events[max(0, len(res.Events)-20):]
			return recent[rng.IntN(len(recent))]
		}
		r, k := rng.IntN(total), Completion
		switch {
		case r >= o.Mix[0]+o.Mix[1]:
			k = Update
		case r >= o.Mix[0]:
			k = Reminder
		}
		if rng.Float64() < o.MalformedRatio {
			return gen.Malformed(k)
		}
		return gen.Next(k)
	}
	failed := make(chan struct{})
	// reserve claims up to n of the MaxEvents publishes and returns how many it got.
	reserve := func(n int) int {
		if o.MaxEvents <= 0 {
			sent.Add(int64(n))
			return n
		}
		after := sent.Add(int64(n))
		return max(0, min(n, o.MaxEvents-int(after-int64(n))))
	}
	// record notes a publish call of evs that latency counts from at.
	record := func(evs []Event, at time.Time, err error) bool {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if pubCtx.Err() == nil && firstErr == nil {
				firstErr = err
				close(failed)
			}
			return false
		}
		for _, ev := range evs {
			if _, ok := res.At[ev.ID]; !ok {
				res.At[ev.ID] = at
				res.Events = append(res.Events, ev)
			}
			res.Sends++
		}
		return true
	}
	// publish sends one event; its latency counts from at (the scheduled start of the call
	// at a fixed rate, the call's start flat out).
	publish := func(rng *rand.Rand, at time.Time) bool {
		if reserve(1) == 0 {
			return false
		}
		ev := next(rng)
		if at.IsZero() {
			at = time.Now()
		}
		return record([]Event{ev}, at, pub.Publish(pubCtx, ev))
	}
	publishBatch := func(rng *rand.Rand) bool {
		n := reserve(o.Batch)
		if n == 0 {
			return false
		}
		// A duplicate re-publishes an earlier event of the same call: it stays next to its
		// original in the stream, as a producer's prompt retry does, however many calls
		// run at once (the websocket service dedupes within its per-user history).
		evs := make([]Event, n)
		for i := range evs {
			if i > 0 && rng.Float64() < o.DuplicateRatio {
				evs[i] = evs[rng.IntN(i)]
				continue
			}
			evs[i] = next(rng)
		}
		at := time.Now()
		return record(evs, at, pub.PublishBatch(pubCtx, evs))
	}
	tickDone := make(chan struct{})
	defer close(tickDone)
	if o.Tick != nil {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-tickDone:
					return
				case <-t.C:
					mu.Lock()
					n := res.Sends
					mu.Unlock()
					o.Tick(n)
				}
			}
		}()
	}
	var wg sync.WaitGroup
	if o.Rate > 0 {
		// A fixed schedule (a token bucket of rate Rate that catches up after a stall): the
		// i-th publish is due at start + i/Rate. The scheduler never waits for a publish to
		// finish (coordinated omission): due times queue for a pool of workers sized for
		// 200 ms publishes at the rate, and latency counts from the due time, so a publisher
		// that falls behind adds its own delay to the figures instead of hiding it. Lag
		// records how late each call actually started.
		workers := max(o.Concurrency, int(math.Ceil(o.Rate*0.2)))
		due := make(chan time.Time, 1<<14)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
				for at := range due {
					lag := time.Since(at)
					mu.Lock()
					res.Lag = append(res.Lag, lag)
					mu.Unlock()
					if !publish(rng, at) {
						return
					}
				}
			}()
		}
		every := time.Duration(float64(time.Second) / o.Rate)
		start := time.Now()
	loop:
		for i := 0; ; i++ {
			if o.MaxEvents > 0 && i >= o.MaxEvents {
				break
			}
			at := start.Add(time.Duration(i) * every)
			if d := time.Until(at); d > 0 {
				select {
				case <-ctx.Done():
					break loop
				case <-failed:
					break loop
				case <-time.After(d):
				}
			}
			select {
			case due <- at:
			case <-ctx.Done():
				break loop
			case <-failed:
				break loop
			}
		}
		close(due)
	} else {
		for w := range o.Concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
				if o.Batch > 1 {
					for ctx.Err() == nil && publishBatch(rng) {
					}
					return
				}
				for ctx.Err() == nil && publish(rng, time.Time{}) {
				}
			}()
		}
	}
	wg.Wait()
	res.End = time.Now()
	sort.Slice(res.Lag, func(i, j int) bool { return res.Lag[i] < res.Lag[j] })
	return res, firstErr
}

// WaitAll polls obs until every effect of events happened or timeout passes, then returns
// the effects and their tally.
func WaitAll(ctx context.Context, obs *Observer, events []Event, timeout time.Duration) (Effects, Tally, error) {
	deadline := time.Now().Add(timeout)
	for {
		eff, err := obs.Effects(ctx)
		if err != nil && time.Now().After(deadline) {
			return eff, Tally{}, err
		}
		if err == nil {
			t := Check(events, eff, 20)
			if t.Missing == 0 || time.Now().After(deadline) {
				return eff, t, nil
			}
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
