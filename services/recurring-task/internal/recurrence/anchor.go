package recurrence

import (
	"fmt"
	"time"
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

// Completion is one completed occurrence of a series.
type Completion struct {
	Rule     Rule
	Location *time.Location // nil means UTC
	// DTStart is the series' first occurrence (index 0). When zero, Due is used as the
	// start of the rule and COUNT is counted from Index.
	DTStart time.Time
	Exdates []time.Time
	// Index is the zero-based position of the completed occurrence in the series.
	Index       int
	Due         time.Time
	CompletedAt time.Time
	Anchor      Anchor
}

// NextOccurrence returns the due time of the occurrence that follows c, or false when
// the series has ended: COUNT reached (the next index, Index+1, would be COUNT or more,
// or the COUNT-th occurrence from DTStart has passed), UNTIL passed, or no occurrence left.
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
	if rule.Count > 0 && c.Index+1 >= rule.Count {
		return time.Time{}, false, nil
	}
	switch c.Anchor {
	case AnchorCompletion:
		// The index check above is the whole of COUNT here: the restarted rule begins at
		// the completion date rather than at the series' first occurrence.
		rule.Count = 0
		done := wallOf(c.CompletedAt.In(loc))
		restart := wall{day: done.day, sec: wallOf(c.Due.In(loc)).sec}
		s, err := newSeries(rule, restart, loc, c.Exdates)
		if err != nil {
			return time.Time{}, false, err
		}
		t, ok := s.Next(later(restart.instant(loc), c.CompletedAt))
		return t, ok, nil
	default:
		start := c.DTStart
		if start.IsZero() {
			start = c.Due
			if rule.Count > 0 {
				rule.Count -= c.Index
			}
		}
		s, err := NewSeries(rule, start, loc, c.Exdates)
		if err != nil {
			return time.Time{}, false, err
		}
		t, ok := s.Next(later(c.Due, c.CompletedAt))
		return t, ok, nil
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
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("load time zone %q (want an IANA name such as Europe/Berlin): %w", name, err)
	}
	return loc, nil
}
