package loadtest

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// tick calls o.Tick with the publishes so far about every second until done is closed.
func (r *publishRun) tick(done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			r.mu.Lock()
			n := r.res.Sends
			r.mu.Unlock()
			r.o.Tick(n)
		}
	}
}

// atRate publishes at o.Rate until ctx ends, a publish fails or MaxEvents are due, and
// returns when every publish call has returned.
//
// A fixed schedule (a token bucket of rate Rate that catches up after a stall): the
// i-th publish is due at start + i/Rate. The scheduler never waits for a publish to
// finish (coordinated omission): due times queue for a pool of workers sized for
// 200 ms publishes at the rate, and latency counts from the due time, so a publisher
// that falls behind adds its own delay to the figures instead of hiding it. Lag
// records how late each event's call actually started. With Window, the due times of
// each window go as one call at its end.
func (r *publishRun) atRate(ctx, pubCtx context.Context) {
	var wg sync.WaitGroup
	workers := max(r.o.Concurrency, int(math.Ceil(r.o.Rate*0.2)))
	due := make(chan []time.Time, 1<<14)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.rateWorker(pubCtx, w, due)
		}()
	}
	r.schedule(ctx, due)
	close(due)
	wg.Wait()
}

// rateWorker makes one call per batch of due times it receives, noting how late each
// event of a call that succeeded started (a failed one is counted as such by record,
// with no lag).
func (r *publishRun) rateWorker(pubCtx context.Context, w int, due <-chan []time.Time) {
	rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
	for ats := range due {
		start := time.Now()
		if !r.publishDue(pubCtx, rng, ats) {
			return
		}
		r.mu.Lock()
		for _, at := range ats {
			r.res.Lag = append(r.res.Lag, start.Sub(at))
		}
		r.mu.Unlock()
	}
}

// schedule hands out the due times of the publishes, start + i/Rate, when they come —
// each alone, or with Window those of a window together at its end — until ctx ends, a
// publish fails or MaxEvents are due.
func (r *publishRun) schedule(ctx context.Context, due chan<- []time.Time) {
	every := time.Duration(float64(time.Second) / r.o.Rate)
	start := time.Now()
	for i := 0; r.o.MaxEvents == 0 || i < r.o.MaxEvents; {
		at := start.Add(time.Duration(i) * every)
		batch, send := []time.Time{at}, at
		i++
		if r.o.Window > 0 {
			// The end of the window at lies in: the next multiple of Window after it.
			send = start.Add(at.Sub(start).Truncate(r.o.Window) + r.o.Window)
			for ; r.o.MaxEvents == 0 || i < r.o.MaxEvents; i++ {
				next := start.Add(time.Duration(i) * every)
				if !next.Before(send) {
					break
				}
				batch = append(batch, next)
			}
		}
		if d := time.Until(send); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-r.failed:
				return
			case <-time.After(d):
			}
		}
		select {
		case due <- batch:
		case <-ctx.Done():
			return
		case <-r.failed:
			return
		}
	}
}

// flatOut publishes with Concurrency workers as fast as they can (Batch events per call
// when Batch is above 1) until ctx ends, a publish fails or MaxEvents are claimed, and
// returns when every worker has.
func (r *publishRun) flatOut(ctx, pubCtx context.Context) {
	var wg sync.WaitGroup
	for w := range r.o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			if r.o.Batch > 1 {
				for ctx.Err() == nil && r.publishBatch(pubCtx, rng) {
				}
				return
			}
			for ctx.Err() == nil && r.publish(pubCtx, rng) {
			}
		}()
	}
	wg.Wait()
}
