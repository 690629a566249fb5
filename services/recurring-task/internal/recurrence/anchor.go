package recurrence

import (
	"fmt"
	"time"

	"github.com/taskflow/taskflow-events/internal/zoneinfo"
)

// Anchor chooses what the next occurrence of a completed task is computed from.
type Anchor int

const (
	// AnchorSchedule follows the schedule: the first occurrence strictly after both the
	// completed occurrence's due time and the completion time (missed ones are skipped).
	AnchorSchedule Anchor = iota
	// AnchorCompletion restarts the rule on the completion date (in the series' zone),
	// keeping the due time of day ("every!" in Todoist).
	AnchorCompletion
)

// CatchUp chooses what happens when the next occurrence by the schedule is already past
// when the completion is processed (a late or replayed completion).
type CatchUp int

const (
	// CatchUpKeepSchedule (the default) keeps the schedule: the next occurrence is computed
	// from the event alone, so every redelivery computes the same one, even if it is past.
	CatchUpKeepSchedule CatchUp = iota
	// CatchUpSkipToNow skips to the first occurrence strictly after Now as well.
	CatchUpSkipToNow
)

// Completion is one completed occurrence of a series.
type Completion struct {
	Rule     Rule
	Location *time.Location // nil means UTC
	// DTStart is the series' first occurrence (index 0). When zero, Due is used as the
	// start of the rule and COUNT is counted from Index.
	DTStart time.Time
	Exdates []time.Time
	// Rdates are extra occurrences (RFC 5545 RDATE). They do not count towards COUNT.
	Rdates []time.Time
	// Index is the zero-based position of the completed occurrence in the series.
	Index       int
	Due         time.Time
	CompletedAt time.Time
	Anchor      Anchor
	CatchUp     CatchUp
	// Now is the processing time, used by CatchUpSkipToNow.
	Now time.Time
}

// NextOccurrence returns the due time of the occurrence that follows c, or false when
// the series has ended: COUNT reached (the next index, Index+1, would be COUNT or more,
// or the COUNT-th occurrence from DTStart has passed), UNTIL passed, or no occurrence left.
// The error wraps ErrInvalidRule or ErrLimit.
func NextOccurrence(c Completion) (time.Time, bool, error) {
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	if c.Due.IsZero() {
		return time.Time{}, false, invalid("a recurring task needs a due time")
	}
	if c.CompletedAt.IsZero() {
		c.CompletedAt = c.Due
	}
	rule := c.Rule
	if rule.Count > 0 && c.Index+1 >= rule.Count && len(c.Rdates) == 0 {
		// With RDATEs the index also counts them; COUNT is then checked from DTStart.
		return time.Time{}, false, nil
	}
	// catchUp is the extra lower bound of CatchUpSkipToNow.
	var catchUp time.Time
	if c.CatchUp == CatchUpSkipToNow {
		catchUp = c.Now
	}
	switch c.Anchor {
	case AnchorCompletion:
		// The index check above is the whole of COUNT here: the restarted rule begins at
		// the completion date rather than at the series' first occurrence.
		rule.Count = 0
		done := wallOf(c.CompletedAt.In(loc))
		restart := wall{day: done.day, sec: wallOf(c.Due.In(loc)).sec}
		s, err := newSeries(rule, restart, loc, c.Exdates, c.Rdates)
		if err != nil {
			return time.Time{}, false, err
		}
		return s.Next(later(later(restart.instant(loc), c.CompletedAt), catchUp))
	default:
		start := c.DTStart
		if start.IsZero() {
			start = c.Due
			if rule.Count > 0 {
				rule.Count -= c.Index
			}
		}
		s, err := NewSeries(rule, start, loc, c.Exdates, c.Rdates)
		if err != nil {
			return time.Time{}, false, err
		}
		return s.Next(later(later(c.Due, c.CompletedAt), catchUp))
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// LoadLocation loads an IANA time zone; "" is UTC. "Local" is refused: it would depend
// on the machine the service runs on.
func LoadLocation(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	if name == "Local" {
		return nil, fmt.Errorf("time zone %q: want an IANA name such as Europe/Berlin", name)
	}
	loc, err := zoneinfo.Load(name)
	if err != nil {
		return nil, fmt.Errorf("load time zone %q (want an IANA name such as Europe/Berlin): %w", name, err)
	}
	return loc, nil
}
