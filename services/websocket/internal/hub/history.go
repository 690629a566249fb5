package hub

import (
	"context"
	"sync"
	"time"
	"unsafe"
)

// entry is one update kept for resume. Besides its user's history it sits in the
// process-wide age list (oldest first), so the process budget can drop the oldest update
// of any user without scanning every user.
type entry struct {
	f    *Frame
	st   *stream
	off  int64 // broker offset on st.part
	size int64
	// older and newer link the age list; guarded by ages.mu.
	older, newer *entry
}

// entryOverhead is what an entry costs besides its frame's byte slices and event id: the
// Frame and entry structs and the entry's pointer in its user's history slice. Allocator
// size-class rounding is not included.
const entryOverhead = int64(unsafe.Sizeof(Frame{}) + unsafe.Sizeof(entry{}) + unsafe.Sizeof((*entry)(nil)))

// entrySize is the bytes an entry holds: both encodings of the frame (their capacity, which
// is what was allocated), the event id and entryOverhead.
func entrySize(f *Frame) int64 {
	return entryOverhead + int64(cap(f.JSON)+cap(f.Proto)+len(f.EventID))
}

// ages is every history entry of the process in publish order, with their number and
// total size.
type ages struct {
	mu             sync.Mutex
	oldest, newest *entry
	bytes          int64
	count          int
}

// HistoryBytes is the size of all history kept for resume (see entrySize).
func (h *Hub) HistoryBytes() int64 {
	h.ages.mu.Lock()
	defer h.ages.mu.Unlock()
	return h.ages.bytes
}

// keepLocked appends f, at offset off, to st's history and to the age list. The caller
// holds st's shard.
func (h *Hub) keepLocked(st *stream, f *Frame, off int64) {
	e := &entry{f: f, st: st, off: off, size: entrySize(f)}
	st.hist = append(st.hist, e)
	st.bytes += e.size
	h.ages.mu.Lock()
	defer h.ages.mu.Unlock()
	e.older = h.ages.newest
	if h.ages.newest != nil {
		h.ages.newest.newer = e
	} else {
		h.ages.oldest = e
	}
	h.ages.newest = e
	h.ages.bytes += e.size
	h.ages.count++
	h.metrics.HistoryBytes.Set(float64(h.ages.bytes))
}

// dropLocked removes st's n oldest entries from its history and from the age list and
// raises st's floor to the last of them. The caller holds st's shard.
func (h *Hub) dropLocked(st *stream, n int) {
	h.ages.mu.Lock()
	for _, e := range st.hist[:n] {
		if e.older != nil {
			e.older.newer = e.newer
		} else {
			h.ages.oldest = e.newer
		}
		if e.newer != nil {
			e.newer.older = e.older
		} else {
			h.ages.newest = e.older
		}
		e.older, e.newer = nil, nil
		h.ages.bytes -= e.size
		h.ages.count--
		st.bytes -= e.size
		st.floor = max(st.floor, e.off)
	}
	h.metrics.HistoryBytes.Set(float64(h.ages.bytes))
	h.ages.mu.Unlock()
	clear(st.hist[:n])
	st.hist = st.hist[n:]
	if len(st.hist) == 0 {
		st.hist = nil // release the backing array, not just its tail
	}
}

// trimLocked drops the oldest entries of st beyond HistorySize, older than HistoryTTL, and
// then as many more as it takes to fit HistoryUserBytes (the newest included: an update
// larger than the whole budget is delivered live but not kept). The caller holds st's shard.
func (h *Hub) trimLocked(st *stream, now time.Time) {
	cut := max(len(st.hist)-h.cfg.HistorySize, 0)
	for cut < len(st.hist) && now.Sub(st.hist[cut].f.At) > h.cfg.HistoryTTL {
		cut++
	}
	kept := st.bytes
	for _, e := range st.hist[:cut] {
		kept -= e.size
	}
	overBudget := 0
	for cut < len(st.hist) && kept > h.cfg.HistoryUserBytes {
		kept -= st.hist[cut].size
		cut++
		overBudget++
	}
	if cut > 0 {
		h.dropLocked(st, cut)
	}
	if overBudget > 0 {
		h.metrics.HistoryEvicted.WithLabelValues("user_bytes").Add(float64(overBudget))
	}
}

// evictOverBudget drops the oldest entries of any user until the history of the whole
// process fits HistoryTotalBytes and HistoryTotalSize. It must be called without a shard held: it takes the
// shard of each entry it drops, and the lock order is shard, then ages, never the reverse.
func (h *Hub) evictOverBudget() {
	for {
		h.ages.mu.Lock()
		e := h.ages.oldest
		if e == nil || (h.ages.bytes <= h.cfg.HistoryTotalBytes && h.ages.count <= h.cfg.HistoryTotalSize) {
			h.ages.mu.Unlock()
			return
		}
		reason := "total_bytes"
		if h.ages.bytes <= h.cfg.HistoryTotalBytes {
			reason = "total_count"
		}
		h.ages.mu.Unlock()
		s := h.shard(e.st.user)
		s.mu.Lock()
		// The oldest entry of the process is the oldest of its user, unless another
		// goroutine dropped it meanwhile; then the next round looks at the new oldest.
		if len(e.st.hist) > 0 && e.st.hist[0] == e {
			h.dropLocked(e.st, 1)
			h.metrics.HistoryEvicted.WithLabelValues(reason).Inc()
		}
		s.mu.Unlock()
	}
}

// retireLocked hands st's floor to its partition before st's history is forgotten, so that
// a resume into what it dropped still gets resync. The caller holds st's shard.
func (h *Hub) retireLocked(st *stream) {
	if st.part == noPart || st.floor < 0 {
		return
	}
	if ps := h.parts.get(st.part); ps != nil {
		raise(&ps.floor, st.floor)
	}
	st.floor = -1
}

// movePartitionLocked moves st to partition p: its history is dropped (offsets of two
// partitions cannot be ordered). It only happens when a producer does not key
// task-updates by user_id. The caller holds st's shard.
func (h *Hub) movePartitionLocked(st *stream, p int32) {
	if n := len(st.hist); n > 0 {
		h.dropLocked(st, n)
		h.metrics.HistoryEvicted.WithLabelValues("partition_change").Add(float64(n))
	}
	h.retireLocked(st)
	st.part = p
}

// Sweep drops expired history and forgets users with neither history nor clients.
func (h *Hub) Sweep() {
	now := h.now()
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		for user, st := range s.users {
			h.trimLocked(st, now)
			if len(st.hist) == 0 && len(st.clients) == 0 {
				h.retireLocked(st)
				delete(s.users, user)
			}
		}
		s.mu.Unlock()
	}
}

// RunSweeper calls Sweep every interval until ctx ends.
func (h *Hub) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.Sweep()
		}
	}
}
