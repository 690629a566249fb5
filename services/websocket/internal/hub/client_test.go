package hub

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The connection's writer runs only while there is work (Serve, Offer, Kick, Park). Driven
// like gateway's writer, by a producer offering 200 frames (some before Serve) into a queue
// of 64, then a kick: every frame is written once and in order, never by two writers at a
// time (got is appended without a lock: -race catches a second writer), no frame is left
// queued with no writer, and the kick always ends in one close (no lost wake-up).
func TestWriterStartsOnDemandAndNeverTwice(t *testing.T) {
	for iter := range 500 {
		c := NewClient("u", false, 64, nil)
		var active, maxActive, closes atomic.Int32
		var got []uint64
		written := make(chan struct{})
		drain := func() {
			enter := func() {
				n := active.Add(1)
				for m := maxActive.Load(); n > m && !maxActive.CompareAndSwap(m, n); m = maxActive.Load() {
				}
			}
			enter()
			for {
				select {
				case <-c.Done():
					closes.Add(1)
					close(written)
					active.Add(-1)
					return
				case f := <-c.Queue():
					c.Taken()
					got = append(got, f.Seq)
				default:
					active.Add(-1) // Park may hand the writer role over
					if c.Park() {
						return
					}
					enter()
				}
			}
		}
		const n = 200
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range n {
				for !c.Offer(&Frame{Seq: uint64(i)}) {
					time.Sleep(time.Microsecond) // full: let the writer catch up
				}
			}
		})
		c.Serve(drain)
		wg.Wait()
		deadline := time.Now().Add(2 * time.Second)
		for len(c.Queue()) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("iteration %d: %d frames left queued with no writer", iter, len(c.Queue()))
			}
			time.Sleep(time.Microsecond)
		}
		c.Kick(CloseNormal, "")
		select {
		case <-written:
		case <-time.After(2 * time.Second):
			t.Fatalf("iteration %d: the kick started no writer to send the close", iter)
		}
		if closes.Load() != 1 || maxActive.Load() != 1 {
			t.Fatalf("iteration %d: %d closes and up to %d writers at once, want 1 and 1", iter, closes.Load(), maxActive.Load())
		}
		if len(got) != n {
			t.Fatalf("iteration %d: %d frames written, want %d", iter, len(got), n)
		}
		for i, seq := range got {
			if seq != uint64(i) {
				t.Fatalf("iteration %d: frame %d written as %d-th, out of order", iter, seq, i)
			}
		}
	}
}

// A kick racing with offers and with Serve itself always ends in exactly one close.
func TestKickRacingServeClosesOnce(t *testing.T) {
	for iter := range 2000 {
		c := NewClient("u", false, 8, nil)
		var closes atomic.Int32
		written := make(chan struct{})
		drain := func() {
			for {
				select {
				case <-c.Done():
					closes.Add(1)
					close(written)
					return
				case <-c.Queue():
					c.Taken()
				default:
					if c.Park() {
						return
					}
				}
			}
		}
		var wg sync.WaitGroup
		wg.Go(func() { c.Offer(&Frame{}) })
		wg.Go(func() { c.Kick(CloseNormal, "") })
		wg.Go(func() { c.Serve(drain) })
		wg.Wait()
		select {
		case <-written:
		case <-time.After(2 * time.Second):
			t.Fatalf("iteration %d: no close after a kick", iter)
		}
		if n := closes.Load(); n != 1 {
			t.Fatalf("iteration %d: %d closes, want 1", iter, n)
		}
	}
}
