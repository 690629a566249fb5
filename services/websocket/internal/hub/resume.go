package hub

import "time"

// covers reports whether this process kept every update of st's user after offset off of
// partition p: it handled p from off+1 on and at least up to off, and dropped none of the
// user's updates after off.
func (h *Hub) covers(st *stream, p int32, off int64) bool {
	ps := h.parts.get(p)
	if ps == nil || off+1 < ps.start || off > ps.handled.Load() {
		return false
	}
	floor := ps.floor.Load()
	if st.part == p {
		floor = max(floor, st.floor)
	}
	return off >= floor
}

// resumeFrom returns the offset on st's partition after which st's history is what a
// client at pos missed, or false when this process cannot tell (then: resync).
func (h *Hub) resumeFrom(st *stream, pos Position) (int64, bool) {
	switch {
	case pos.Invalid:
		return 0, false
	case pos.Vector == nil:
		if st.part != noPart && st.part != pos.Partition {
			return 0, false // the user's updates moved partition: producers not keyed by user
		}
		return pos.Offset, h.covers(st, pos.Partition, pos.Offset)
	case st.part != noPart:
		off, ok := pos.Vector[st.part]
		if !ok {
			// The issuer had not seen the user's partition yet. Only this process knows
			// that everything it handled there came after.
			if pos.Proc != h.epoch {
				return 0, false
			}
			off = h.parts.get(st.part).start - 1
		}
		return off, h.covers(st, st.part, off)
	}
	// The user has had no update here: every partition must be covered from the client's
	// offset on, and the issuer must have known every partition this process knows.
	handled := h.parts.handledUpTo()
	for p := range pos.Vector {
		if _, ok := handled[p]; !ok {
			return 0, false
		}
	}
	for p := range handled {
		off, ok := pos.Vector[p]
		if !ok {
			if pos.Proc != h.epoch {
				return 0, false
			}
			continue
		}
		if !h.covers(st, p, off) {
			return 0, false
		}
	}
	return 0, true
}

// firstFrames is what a client attaching to st gets first: without since a welcome at the
// current position; with since every missed update after a welcome when this process
// kept them all, else a resync at the current position.
func (h *Hub) firstFrames(st *stream, since *Position, now time.Time) []*Frame {
	control := func(typ string, p Position) *Frame {
		epoch, seq := h.encode(p)
		return newFrame(seq, epoch, typ, "", nil, nil, now)
	}
	if since == nil {
		return []*Frame{control(TypeWelcome, h.current(st))}
	}
	from, ok := h.resumeFrom(st, *since)
	if !ok {
		h.metrics.Resume.WithLabelValues("miss").Inc()
		return []*Frame{control(TypeResync, h.current(st))}
	}
	h.metrics.Resume.WithLabelValues("hit").Inc()
	var replay []*Frame
	for _, e := range st.hist {
		if e.off > from {
			replay = append(replay, e.f)
		}
	}
	if len(replay) == 0 {
		return []*Frame{control(TypeWelcome, h.current(st))}
	}
	// Welcome at the resume point (a client that drops before the replay ends resumes
	// from there again). from is -1 only for this process's own vector, resent as is.
	at := Position{Partition: st.part, Offset: from}
	if from < 0 {
		at = *since
	}
	return append([]*Frame{control(TypeWelcome, at)}, replay...)
}
