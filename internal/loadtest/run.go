package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
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
	// Window, when set at a fixed rate, makes one call carry the events due within each
	// Window (over gRPC one bulk publish per topic), sent at the window's end; each event's
	// latency still counts from its own due time. 0: one PublishEvent per event.
	Window time.Duration
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
	// Lag is, at a fixed rate, how late each successful publish call started after its
	// due time (sorted); the latencies include it.
	Lag Latencies
	// Failed counts the publish calls that returned an error: they have no publish time,
	// send or lag. The first one while ctx is live ends the run and is Run's error.
	Failed int
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
	r := &publishRun{o: o, pub: pub, gen: gen, total: o.Mix[0] + o.Mix[1] + o.Mix[2],
		res: &Published{At: map[string]time.Time{}, Start: time.Now()}, failed: make(chan struct{})}
	tickDone := make(chan struct{})
	defer close(tickDone)
	if o.Tick != nil {
		go r.tick(tickDone)
	}
	if o.Rate > 0 {
		r.atRate(ctx, pubCtx)
	} else {
		r.flatOut(ctx, pubCtx)
	}
	r.res.End = time.Now()
	sort.Slice(r.res.Lag, func(i, j int) bool { return r.res.Lag[i] < r.res.Lag[j] })
	return r.res, r.firstErr
}

// publishRun is what the publishers of one Run share. The scheduling (schedule.go) decides
// when they publish; the methods here decide what each publish sends and record it.
type publishRun struct {
	o     Options
	pub   *Publisher
	gen   Gen
	total int // o.Mix summed
	// sent counts the publishes claimed against MaxEvents.
	sent atomic.Int64
	// failed is closed by the first publish error while the caller's ctx is live.
	failed chan struct{}

	mu       sync.Mutex // guards res and firstErr
	res      *Published
	firstErr error
}

// next picks the event of the next single publish: a recent event again (a duplicate), a
// malformed one or a new one, of a kind drawn from the mix.
func (r *publishRun) next(rng *rand.Rand) Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.o.Batch <= 1 && len(r.res.Events) > 0 && rng.Float64() < r.o.DuplicateRatio {
		recent := r.res.Events[max(0, len(r.res.Events)-20):]
		return recent[rng.IntN(len(recent))]
	}
	n, k := rng.IntN(r.total), Completion
	switch {
	case n >= r.o.Mix[0]+r.o.Mix[1]:
		k = Update
	case n >= r.o.Mix[0]:
		k = Reminder
	}
	if rng.Float64() < r.o.MalformedRatio {
		return r.gen.Malformed(k)
	}
	return r.gen.Next(k)
}

// reserve claims up to n of the MaxEvents publishes and returns how many it got.
func (r *publishRun) reserve(n int) int {
	if r.o.MaxEvents <= 0 {
		r.sent.Add(int64(n))
		return n
	}
	after := r.sent.Add(int64(n))
	return max(0, min(n, r.o.MaxEvents-int(after-int64(n))))
}

// record notes a publish call of evs that latency counts from at.
func (r *publishRun) record(pubCtx context.Context, evs []Event, at []time.Time, err error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.res.Failed++
		if pubCtx.Err() == nil && r.firstErr == nil {
			r.firstErr = err
			close(r.failed)
		}
		return false
	}
	for i, ev := range evs {
		if _, ok := r.res.At[ev.ID]; !ok {
			r.res.At[ev.ID] = at[min(i, len(at)-1)]
			r.res.Events = append(r.res.Events, ev)
		}
		r.res.Sends++
	}
	return true
}

// publish sends one event, its latency counting from the call's start (flat out).
func (r *publishRun) publish(pubCtx context.Context, rng *rand.Rand) bool {
	if r.reserve(1) == 0 {
		return false
	}
	ev := r.next(rng)
	return r.record(pubCtx, []Event{ev}, []time.Time{time.Now()}, r.pub.Publish(pubCtx, ev))
}

// publishDue sends an event per due time (at a fixed rate), one alone with a PublishEvent,
// more in one call (PublishBatch); each event's latency counts from its due time.
func (r *publishRun) publishDue(pubCtx context.Context, rng *rand.Rand, due []time.Time) bool {
	n := r.reserve(len(due))
	if n == 0 {
		return false
	}
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = r.next(rng)
	}
	if n == 1 {
		return r.record(pubCtx, evs, due[:1], r.pub.Publish(pubCtx, evs[0]))
	}
	return r.record(pubCtx, evs, due[:n], r.pub.PublishBatch(pubCtx, evs))
}

// publishBatch sends up to Batch events in one call; their latency counts from its start.
func (r *publishRun) publishBatch(pubCtx context.Context, rng *rand.Rand) bool {
	n := r.reserve(r.o.Batch)
	if n == 0 {
		return false
	}
	// A duplicate re-publishes an earlier event of the same call: it stays next to its
	// original in the stream, as a producer's prompt retry does, however many calls
	// run at once (the websocket service dedupes within its per-user history).
	evs := make([]Event, n)
	for i := range evs {
		if i > 0 && rng.Float64() < r.o.DuplicateRatio {
			evs[i] = evs[rng.IntN(i)]
			continue
		}
		evs[i] = r.next(rng)
	}
	return r.record(pubCtx, evs, []time.Time{time.Now()}, r.pub.PublishBatch(pubCtx, evs))
}
