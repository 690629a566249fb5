package recurrence

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// ErrLimit is wrapped by the error of a call that would examine more than MaxExamined
// candidates: the rule is too sparse (or too far ahead) to answer within one call's budget.
var ErrLimit = errors.New("recurrence search limit exceeded")

// MaxExamined caps the candidate periods and occurrences one Next or Take examines.
// It bounds a call to a few tens of milliseconds whatever the rule.
const MaxExamined = 1_000_000

// emptyDays is one 400-year Gregorian cycle of days: the calendar repeats after it, so a
// rule that yields no candidate for that long never yields one again.
const emptyDays = 146097

// emitter turns candidate wall times, offered in wall-clock order, into the series:
// it applies DTSTART, COUNT, UNTIL, EXDATE and the lower bound, resolves wall times to
// instants, reorders the few that a DST gap moved past later ones, drops duplicates and
// merges the RDATEs in.
type emitter struct {
	s         *Series
	afterUnix int64
	afterDay  int
	index     int     // rule occurrences at or after DTSTART so far (COUNT)
	pending   []int64 // sorted instants moved forward by a gap, not yet emitted
	last      int64   // last instant emitted
	emitted   bool
	ri        int     // next RDATE
	want      int     // stop after this many occurrences
	got       int     // occurrences passed on so far
	first     int64   // the first one
	sink      []int64 // all of them, when not nil
	stopped   bool    // want reached
	examined  int
	overLimit bool // the budget is spent
}

// each passes the occurrences strictly after after to e, in order, until e.want are
// found or the series ends. The emitter holds Unix seconds and no callback, so that for
// Next it stays on the stack: no allocation unless a DST gap holds occurrences back.
func (s *Series) each(after time.Time, e *emitter) error {
	e.s, e.afterUnix, e.afterDay = s, math.MinInt64, math.MinInt
	if !after.IsZero() {
		e.afterUnix = after.Unix()
		// Occurrences on local days before afterDay are certainly not after the instant
		// after (a zone transition moves a wall time by hours, never by more than a day).
		e.afterDay = wallOf(after.In(s.loc)).day - 1
		for e.ri < len(s.rdates) && s.rdates[e.ri] <= e.afterUnix {
			e.ri++
		}
	}
	if s.rule.Freq.subDaily() {
		s.eachSubDaily(e)
	} else {
		s.eachPeriod(e)
	}
	if e.overLimit {
		return fmt.Errorf("%w: examined %d candidates of %s without finishing (at most %d per call)",
			ErrLimit, e.examined, s, MaxExamined)
	}
	if e.stopped {
		return nil
	}
	// The rule has ended: what the gaps held back, then the remaining RDATEs.
	for _, u := range e.pending {
		if !e.emit(u) {
			return nil
		}
	}
	for ; e.ri < len(s.rdates); e.ri++ {
		if !e.out(s.rdates[e.ri]) {
			return nil
		}
	}
	return nil
}

// count charges n units of work; it reports false once the budget is spent.
func (e *emitter) count(n int) bool {
	if e.examined += n; e.examined > MaxExamined {
		e.overLimit = true
		return false
	}
	return true
}

// offer takes the next candidate in wall-clock order. It reports false when the rule has
// ended or fn asked to stop.
func (e *emitter) offer(w wall) bool {
	s := e.s
	if !e.count(1) {
		return false
	}
	if w.less(s.start) {
		return true
	}
	if s.rule.Count > 0 && e.index >= s.rule.Count {
		return false
	}
	e.index++
	if w.day < e.afterDay {
		return true
	}
	if l := s.rule.Until.local; l != nil && l.less(w) {
		return false
	}
	u, gap := w.resolve(s.loc)
	if !s.rule.Until.Instant.IsZero() && u > s.rule.Until.Instant.Unix() {
		// A time moved forward by a gap may pass UNTIL while later ones do not.
		return gap
	}
	if !gap {
		// No later wall time resolves to an instant before u: release what is held.
		n := 0
		for n < len(e.pending) && e.pending[n] <= u {
			if !e.emit(e.pending[n]) {
				return false
			}
			n++
		}
		e.pending = append(e.pending[:0], e.pending[n:]...)
	}
	if u <= e.afterUnix {
		return true
	}
	if _, excluded := s.exdates[u]; excluded {
		return true
	}
	if gap {
		i, found := slices.BinarySearch(e.pending, u)
		if !found {
			e.pending = slices.Insert(e.pending, i, u)
		}
		return true
	}
	return e.emit(u)
}

// skip counts n candidates that lie wholly before the lower bound towards COUNT; it
// reports false when COUNT ends the rule among them.
func (e *emitter) skip(n int) bool {
	if e.index += n; e.index >= e.s.rule.Count {
		return false
	}
	return true
}

// emit passes a rule occurrence on, after the RDATEs before it.
func (e *emitter) emit(u int64) bool {
	for ; e.ri < len(e.s.rdates) && e.s.rdates[e.ri] <= u; e.ri++ {
		if !e.out(e.s.rdates[e.ri]) {
			return false
		}
	}
	return e.out(u)
}

// out passes each distinct instant on once, EXDATEs removed.
func (e *emitter) out(u int64) bool {
	if e.emitted && u <= e.last {
		return true
	}
	if _, excluded := e.s.exdates[u]; excluded {
		return true
	}
	e.last, e.emitted = u, true
	if e.got == 0 {
		e.first = u
	}
	if e.sink != nil {
		e.sink = append(e.sink, u)
	}
	if e.got++; e.got >= e.want {
		e.stopped = true
		return false
	}
	return true
}
