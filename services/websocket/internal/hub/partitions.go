package hub

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// partState is what this process knows about one partition. daprd hands a partition's
// updates over one at a time, in offset order (components-contrib kafka ConsumeClaim), so
// everything from start to handled has been seen here.
type partState struct {
	start   int64        // first offset handled by this process: resume starts no earlier
	handled atomic.Int64 // last offset handled; set after the update is in its user's history
	// floor is the highest offset whose update left the history of a stream that is gone
	// (reclaimed by the sweeper, or moved to another partition): a resume at or before it
	// cannot be told apart from a lost gap.
	floor atomic.Int64
}

// partitions is every partition seen by this process.
type partitions struct {
	mu sync.RWMutex
	m  map[int32]*partState
}

func (ps *partitions) get(p int32) *partState {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return ps.m[p]
}

// admit returns p's state, created when off is the first offset of p seen here.
func (ps *partitions) admit(p int32, off int64) (st *partState, created bool) {
	if st := ps.get(p); st != nil {
		return st, false
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if st := ps.m[p]; st != nil {
		return st, false
	}
	st = &partState{start: off}
	st.handled.Store(off - 1)
	st.floor.Store(-1)
	ps.m[p] = st
	return st, true
}

// handledUpTo is the last handled offset of every partition seen.
func (ps *partitions) handledUpTo() map[int32]int64 {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	v := make(map[int32]int64, len(ps.m))
	for p, st := range ps.m {
		v[p] = st.handled.Load()
	}
	return v
}

func raise(v *atomic.Int64, to int64) {
	for {
		cur := v.Load()
		if to <= cur || v.CompareAndSwap(cur, to) {
			return
		}
	}
}

// notePartition records where this process's view of a new partition starts (a replica
// started with initialOffset newest can resume nothing before it).
func (h *Hub) notePartition(p int32, start int64) {
	if p >= 0 {
		h.metrics.ResumeWindowStart.WithLabelValues(strconv.Itoa(int(p))).Set(float64(start))
	}
}

// current is the position of a client that has everything of st so far: on the user's
// partition when it has one, else every partition this process has seen.
func (h *Hub) current(st *stream) Position {
	if st.part != noPart {
		if ps := h.parts.get(st.part); ps != nil {
			return Position{Partition: st.part, Offset: ps.handled.Load()}
		}
	}
	return Position{Vector: h.parts.handledUpTo(), Proc: h.epoch}
}

// Behind reports whether this process has not yet handled some update that pos says the
// client has seen (pos comes from another replica that is ahead on a partition).
func (h *Hub) Behind(pos Position) bool {
	if pos.Invalid {
		return false
	}
	vec := pos.Vector
	if vec == nil {
		vec = map[int32]int64{pos.Partition: pos.Offset}
	}
	for p, off := range vec {
		if ps := h.parts.get(p); ps != nil && ps.handled.Load() < off {
			return true
		}
	}
	return false
}

// AwaitCaughtUp waits, at most wait, until this process has handled everything pos says
// the client has seen, so that a client coming from a replica slightly ahead resumes
// instead of getting resync. A position that stays ahead (from another deployment, say)
// costs one wait and then resync.
func (h *Hub) AwaitCaughtUp(ctx context.Context, pos Position, wait time.Duration) {
	if !h.Behind(pos) {
		return
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for h.Behind(pos) {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}
