package recurrence

import (
	"fmt"
	"slices"
	"time"
)

// Series is a rule anchored at a start (DTSTART) in a time zone, plus its RDATEs and
// minus its EXDATEs. It is immutable and safe for concurrent use.
type Series struct {
	rule    Rule
	loc     *time.Location
	start   wall
	exdates map[int64]struct{}
	rdates  []int64 // sorted, distinct Unix seconds

	// Day filters derived from the rule and the start.
	byMonth    [13]bool
	hasByMonth bool
	monthDays  []int
	plainDays  [7]bool
	ordinals   []WeekdayNum
	hasByDay   bool
	yearDays   []int
	weekNos    []int

	// Times of day. DAILY and coarser: times holds every second of the day that BYHOUR,
	// BYMINUTE and BYSECOND expand to (defaults from DTSTART), sorted. HOURLY and
	// MINUTELY: times holds the offsets within one period (minute*60+second, or second)
	// and byHour/byMinute limit which periods count.
	times     []int
	byHour    [24]bool
	hasByHour bool
	byMinute  [60]bool
	hasByMin  bool
	subStart  int64 // HOURLY/MINUTELY: wall seconds of the first period
	subStep   int64 // HOURLY/MINUTELY: wall seconds between periods (INTERVAL units)
}

// NewSeries anchors rule at start (its wall-clock time in loc is DTSTART), adds the
// rdates and removes the exdates (both compared as instants, to the second). An EXDATE
// also removes an equal RDATE. A nil loc means UTC.
func NewSeries(rule Rule, start time.Time, loc *time.Location, exdates, rdates []time.Time) (*Series, error) {
	if loc == nil {
		loc = time.UTC
	}
	if start.IsZero() {
		return nil, invalid("DTSTART is required")
	}
	return newSeries(rule, wallOf(start.In(loc)), loc, exdates, rdates)
}

func newSeries(rule Rule, start wall, loc *time.Location, exdates, rdates []time.Time) (*Series, error) {
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
	for _, t := range rdates {
		s.rdates = append(s.rdates, t.Unix())
	}
	slices.Sort(s.rdates)
	s.rdates = slices.Compact(s.rdates)
	s.setDayFilters()
	if err := s.setTimes(); err != nil {
		return nil, err
	}
	return s, nil
}

// setDayFilters fills the day filters; missing parts are taken from DTSTART as RFC 5545
// and dateutil do.
func (s *Series) setDayFilters() {
	rule := s.rule
	_, sm, sd := civilFromDays(s.start.day)
	byMonth, monthDays, byDay := rule.ByMonth, rule.ByMonthDay, rule.ByDay
	if len(byDay) == 0 && len(monthDays) == 0 && len(rule.ByYearDay) == 0 && len(rule.ByWeekNo) == 0 {
		switch rule.Freq {
		case Weekly:
			byDay = []WeekdayNum{{Day: weekdayOf(s.start.day)}}
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
	s.yearDays = rule.ByYearDay
	s.weekNos = rule.ByWeekNo
	for _, wd := range byDay {
		s.hasByDay = true
		if wd.N == 0 {
			s.plainDays[wd.Day] = true
		} else {
			s.ordinals = append(s.ordinals, wd)
		}
	}
}

// orDefault returns list sorted, or {def} when it is empty.
func orDefault(list []int, def int) []int {
	if len(list) == 0 {
		return []int{def}
	}
	out := slices.Clone(list)
	slices.Sort(out)
	return out
}

// setTimes fills the time-of-day expansion and the sub-daily limits.
func (s *Series) setTimes() error {
	r := s.rule
	sh, sm, ss := s.start.sec/3600, s.start.sec/60%60, s.start.sec%60
	seconds := orDefault(r.BySecond, ss)
	switch r.Freq {
	case Hourly:
		for _, h := range r.ByHour {
			s.byHour[h], s.hasByHour = true, true
		}
		for _, m := range orDefault(r.ByMinute, sm) {
			for _, sec := range seconds {
				s.times = append(s.times, m*60+sec)
			}
		}
		s.subStart = int64(s.start.day)*86400 + int64(sh*3600)
		s.subStep = int64(r.Interval) * 3600
	case Minutely:
		for _, h := range r.ByHour {
			s.byHour[h], s.hasByHour = true, true
		}
		for _, m := range r.ByMinute {
			s.byMinute[m], s.hasByMin = true, true
		}
		s.times = seconds
		s.subStart = int64(s.start.day)*86400 + int64(sh*3600+sm*60)
		s.subStep = int64(r.Interval) * 60
	default:
		for _, h := range orDefault(r.ByHour, sh) {
			for _, m := range orDefault(r.ByMinute, sm) {
				for _, sec := range seconds {
					s.times = append(s.times, h*3600+m*60+sec)
				}
			}
		}
		return nil
	}
	return s.checkReachable()
}

// Location returns the series' time zone.
func (s *Series) Location() *time.Location { return s.loc }

// Rule returns the series' rule.
func (s *Series) Rule() Rule { return s.rule }

// Next returns the first occurrence strictly after the instant after, or false when the
// series has ended (COUNT or UNTIL reached) or has no further occurrence. The error wraps
// ErrLimit when finding it would take more work than one call may do.
func (s *Series) Next(after time.Time) (time.Time, bool, error) {
	e := emitter{want: 1}
	err := s.each(after, &e)
	if e.got == 0 {
		return time.Time{}, false, err
	}
	return time.Unix(e.first, 0).In(s.loc), true, err
}

// Take returns up to n occurrences strictly after the instant after, in order. On an
// error wrapping ErrLimit it returns the occurrences found so far.
func (s *Series) Take(after time.Time, n int) ([]time.Time, error) {
	if n <= 0 {
		return nil, nil
	}
	e := emitter{want: n, sink: make([]int64, 0, min(n, 1024))}
	err := s.each(after, &e)
	out := make([]time.Time, 0, len(e.sink))
	for _, u := range e.sink {
		out = append(out, time.Unix(u, 0).In(s.loc))
	}
	return out, err
}

// String describes the series for logs.
func (s *Series) String() string {
	y, m, d := civilFromDays(s.start.day)
	return fmt.Sprintf("%s from %04d-%02d-%02dT%02d:%02d:%02d %s", s.rule.Freq, y, m, d,
		s.start.sec/3600, s.start.sec/60%60, s.start.sec%60, s.loc)
}
