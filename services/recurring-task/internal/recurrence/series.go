package recurrence

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Series is a rule anchored at a start (DTSTART) in a time zone, minus its EXDATEs.
// It is immutable and safe for concurrent use.
type Series struct {
	rule    Rule
	loc     *time.Location
	start   wall
	exdates map[int64]struct{}

	// Expansion filters derived from the rule and the start.
	byMonth    [13]bool
	hasByMonth bool
	monthDays  []int
	plainDays  [7]bool
	ordinals   []WeekdayNum
	hasByDay   bool
}

// NewSeries anchors rule at start (its wall-clock time in loc is DTSTART) and removes the
// exdates (compared as instants, to the second). A nil loc means UTC.
func NewSeries(rule Rule, start time.Time, loc *time.Location, exdates []time.Time) (*Series, error) {
	if loc == nil {
		loc = time.UTC
	}
	if start.IsZero() {
		return nil, invalid("DTSTART is required")
	}
	return newSeries(rule, wallOf(start.In(loc)), loc, exdates)
}

func newSeries(rule Rule, start wall, loc *time.Location, exdates []time.Time) (*Series, error) {
	if err := rule.validate(); err != nil {
		return nil, err
	}
	if rule.Interval < 1 {
		rule.Interval = 1
	}
	if y, _, _ := civilFromDays(start.day); y < 1 || y > 9999 {
		return nil, invalid("DTSTART year %d is out of range", y)
	}
	s := &Series{rule: rule, loc: loc, start: start}
	if len(exdates) > 0 {
		s.exdates = make(map[int64]struct{}, len(exdates))
		for _, t := range exdates {
			s.exdates[t.Unix()] = struct{}{}
		}
	}
	_, sm, sd := civilFromDays(start.day)
	byMonth, monthDays, byDay := rule.ByMonth, rule.ByMonthDay, rule.ByDay
	// RFC 5545 / dateutil defaults: missing parts are taken from DTSTART.
	if len(byDay) == 0 && len(monthDays) == 0 {
		switch rule.Freq {
		case Weekly:
			byDay = []WeekdayNum{{Day: weekdayOf(start.day)}}
		case Monthly:
			monthDays = []int{sd}
		case Yearly:
			if len(byMonth) == 0 {
				byMonth = []int{sm}
			}
			monthDays = []int{sd}
		}
	}
	for _, m := range byMonth {
		s.byMonth[m] = true
		s.hasByMonth = true
	}
	s.monthDays = monthDays
	for _, wd := range byDay {
		s.hasByDay = true
		if wd.N == 0 {
			s.plainDays[wd.Day] = true
		} else {
			s.ordinals = append(s.ordinals, wd)
		}
	}
	return s, nil
}

// Location returns the series' time zone.
func (s *Series) Location() *time.Location { return s.loc }

// Rule returns the series' rule.
func (s *Series) Rule() Rule { return s.rule }

// Next returns the first occurrence strictly after the instant after, or false when the
// series has ended (COUNT or UNTIL reached) or has no further occurrence.
func (s *Series) Next(after time.Time) (time.Time, bool) {
	var out time.Time
	found := false
	s.each(after, func(t time.Time) bool {
		out, found = t, true
		return false
	})
	return out, found
}

// Take returns up to n occurrences strictly after the instant after, in order.
func (s *Series) Take(after time.Time, n int) []time.Time {
	if n <= 0 {
		return nil
	}
	out := make([]time.Time, 0, n)
	s.each(after, func(t time.Time) bool {
		out = append(out, t)
		return len(out) < n
	})
	return out
}

// emptyPeriodLimit is one 400-year Gregorian cycle of periods: a rule that produces
// nothing for that long never produces anything again.
func (s *Series) emptyPeriodLimit() int {
	switch s.rule.Freq {
	case Daily:
		return 146097
	case Weekly:
		return 20871
	case Monthly:
		return 4800
	default:
		return 400
	}
}

// each calls fn with every occurrence strictly after after, in order, until fn returns
// false or the series ends.
func (s *Series) each(after time.Time, fn func(time.Time) bool) {
	afterUnix := after.Unix()
	// Occurrences on local days before afterDay are certainly not after the instant
	// after (a zone transition moves a wall time by hours, never by a day).
	afterDay := math.MinInt
	k := 0
	if !after.IsZero() {
		afterDay = wallOf(after.In(s.loc)).day - 1
		if s.rule.Count == 0 {
			// Without COUNT no index needs counting: skip the periods wholly before after.
			k = s.periodIndexOf(afterDay - 1)
		}
	} else {
		afterUnix = math.MinInt64
	}
	var buf [366]int
	index, empty, limit := 0, 0, s.emptyPeriodLimit()
	for ; ; k++ {
		days, ok := s.expand(k, buf[:0])
		if !ok {
			return
		}
		if len(days) == 0 {
			if empty++; empty > limit {
				return
			}
			continue
		}
		empty = 0
		for _, day := range days {
			w := wall{day: day, sec: s.start.sec}
			if w.less(s.start) {
				continue
			}
			if s.rule.Count > 0 && index >= s.rule.Count {
				return
			}
			index++
			if day < afterDay {
				continue
			}
			if l := s.rule.Until.local; l != nil && l.less(w) {
				return
			}
			t := w.instant(s.loc)
			u := t.Unix()
			if !s.rule.Until.Instant.IsZero() && u > s.rule.Until.Instant.Unix() {
				return
			}
			if u <= afterUnix {
				continue
			}
			if _, excluded := s.exdates[u]; excluded {
				continue
			}
			if !fn(t) {
				return
			}
		}
	}
}

// weekStart returns the first day of the week (by WKST) that contains day.
func (s *Series) weekStart(day int) int {
	return day - (int(weekdayOf(day))-int(s.rule.Wkst)+7)%7
}

// periodIndexOf returns the index of the period that contains day, at least 0.
func (s *Series) periodIndexOf(day int) int {
	var delta int
	switch s.rule.Freq {
	case Daily:
		delta = day - s.start.day
	case Weekly:
		delta = (s.weekStart(day) - s.weekStart(s.start.day)) / 7
	case Monthly:
		y, m, _ := civilFromDays(day)
		sy, sm, _ := civilFromDays(s.start.day)
		delta = (y*12 + m) - (sy*12 + sm)
	case Yearly:
		y, _, _ := civilFromDays(day)
		sy, _, _ := civilFromDays(s.start.day)
		delta = y - sy
	}
	if delta <= 0 {
		return 0
	}
	return delta / s.rule.Interval
}

// expand appends the days of period k (counted in INTERVAL steps from the start's
// period) that match the rule, after BYSETPOS, in order. ok is false past year 9999.
func (s *Series) expand(k int, buf []int) (days []int, ok bool) {
	step := k * s.rule.Interval
	sy, sm, _ := civilFromDays(s.start.day)
	switch s.rule.Freq {
	case Daily:
		day := s.start.day + step
		y, m, d := civilFromDays(day)
		if y > 9999 {
			return nil, false
		}
		if s.match(day, m, d, daysIn(y, m), 0, 0) {
			buf = append(buf, day)
		}
	case Weekly:
		first := s.weekStart(s.start.day) + 7*step
		if y, _, _ := civilFromDays(first + 6); y > 9999 {
			return nil, false
		}
		if !s.hasByMonth {
			// Only BYDAY applies: no calendar fields needed.
			for day := first; day < first+7; day++ {
				if s.plainDays[weekdayOf(day)] {
					buf = append(buf, day)
				}
			}
			break
		}
		for day := first; day < first+7; day++ {
			y, m, d := civilFromDays(day)
			if y > 9999 {
				return nil, false
			}
			if s.match(day, m, d, daysIn(y, m), 0, 0) {
				buf = append(buf, day)
			}
		}
	case Monthly:
		mi := sy*12 + sm - 1 + step
		y, m := mi/12, mi%12+1
		if y > 9999 {
			return nil, false
		}
		buf = s.expandMonth(y, m, 0, 0, buf)
	case Yearly:
		y := sy + step
		if y > 9999 {
			return nil, false
		}
		diy := 365
		if isLeap(y) {
			diy = 366
		}
		doy := 0
		for m := 1; m <= 12; m++ {
			if !s.hasByMonth || s.byMonth[m] {
				buf = s.expandMonth(y, m, doy, diy, buf)
			}
			doy += daysIn(y, m)
		}
	}
	return s.setPos(buf), true
}

// expandMonth appends the matching days of month y-m; doy0 is the number of days of the
// year before the month and diy the length of the year (0 when ordinals are per month).
func (s *Series) expandMonth(y, m, doy0, diy int, buf []int) []int {
	first, dim := daysFromCivil(y, m, 1), daysIn(y, m)
	if len(s.monthDays) > 0 && !s.hasByDay {
		// Fast path: only BYMONTHDAY (plus BYMONTH): pick the days directly, skip invalid ones.
		start := len(buf)
		for _, v := range s.monthDays {
			d := v
			if v < 0 {
				d = dim + v + 1
			}
			if d >= 1 && d <= dim && (!s.hasByMonth || s.byMonth[m]) {
				buf = append(buf, first+d-1)
			}
		}
		slices.Sort(buf[start:])
		return slices.Compact(buf)
	}
	for d := 1; d <= dim; d++ {
		if s.match(first+d-1, m, d, dim, doy0+d, diy) {
			buf = append(buf, first+d-1)
		}
	}
	return buf
}

// match reports whether day (month m, day-of-month d of dim) passes the BYxxx filters.
// doy and diy locate the day in its year for yearly ordinals (diy is 0 otherwise).
func (s *Series) match(day, m, d, dim, doy, diy int) bool {
	if s.hasByMonth && !s.byMonth[m] {
		return false
	}
	if len(s.monthDays) > 0 {
		hit := false
		for _, v := range s.monthDays {
			if v == d || (v < 0 && dim+v+1 == d) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	if !s.hasByDay {
		return true
	}
	wd := weekdayOf(day)
	if s.plainDays[wd] {
		return true
	}
	// Ordinals count within the month, or within the year for YEARLY without BYMONTH.
	pos, n := d, dim
	if s.rule.Freq == Yearly && !s.hasByMonth {
		pos, n = doy, diy
	}
	for _, o := range s.ordinals {
		if o.Day != wd {
			continue
		}
		if (o.N > 0 && (pos-1)/7+1 == o.N) || (o.N < 0 && (n-pos)/7+1 == -o.N) {
			return true
		}
	}
	return false
}

// setPos applies BYSETPOS to one period's ordered candidates.
func (s *Series) setPos(days []int) []int {
	if len(s.rule.BySetPos) == 0 || len(days) == 0 {
		return days
	}
	var picked [8]int
	out := picked[:0]
	for _, p := range s.rule.BySetPos {
		i := p - 1
		if p < 0 {
			i = len(days) + p
		}
		if i >= 0 && i < len(days) {
			out = append(out, days[i])
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return append(days[:0], out...)
}

// String describes the series for logs.
func (s *Series) String() string {
	y, m, d := civilFromDays(s.start.day)
	return fmt.Sprintf("%s from %04d-%02d-%02dT%02d:%02d:%02d %s", s.rule.Freq, y, m, d,
		s.start.sec/3600, s.start.sec/60%60, s.start.sec%60, s.loc)
}
