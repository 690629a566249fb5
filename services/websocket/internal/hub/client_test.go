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

// The window the race tests above rarely hit, taken step by step: the writer has found the
// queue empty and not yet parked when a frame is offered (or a kick arrives). The offer's
// wake-up sees a writer running and starts none, so Park must tell the writer to go on;
// if it let the writer return, the frame would wait for the next one, or the close for ever.
func TestParkKeepsTheWriterForWorkThatArrivedBeforeIt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		arrive func(t *testing.T, c *Client)
	}{
		{name: "frame", arrive: func(t *testing.T, c *Client) {
			if !c.Offer(&Frame{Seq: 7}) {
				t.Fatal("Offer into an empty queue = false, want true")
			}
		}},
		{name: "kick", arrive: func(_ *testing.T, c *Client) { c.Kick(CloseSlow, "slow") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := NewClient("u", false, 4, nil)
			var starts atomic.Int32
			started := make(chan struct{}, 2)
			// The writer the test stands in for: started, found nothing, not parked yet.
			c.Serve(func() { starts.Add(1); started <- struct{}{} })
			<-started
			tc.arrive(t, c)
			if c.Park() {
				t.Fatalf("Park() after a %s arrived = true (writer returns), want false (writer goes on)", tc.name)
			}
			select {
			case <-started:
				t.Fatalf("the %s started a second writer while one ran", tc.name)
			case <-time.After(50 * time.Millisecond):
			}
			// The writer went on, took the work, and finds nothing more: now it may return.
			select {
			case f := <-c.Queue():
				c.Taken()
				if f.Seq != 7 {
					t.Fatalf("queued frame Seq = %d, want 7", f.Seq)
				}
			case <-c.Done():
				if code, _ := c.CloseCode(); code != CloseSlow {
					t.Fatalf("close code = %d, want %d", code, CloseSlow)
				}
				return // a kicked writer closes the connection instead of parking
			}
			if !c.Park() {
				t.Fatal("Park() with nothing queued = false, want true")
			}
			if n := starts.Load(); n != 1 {
				t.Fatalf("%d writers started, want 1", n)
			}
		})
	}
}
