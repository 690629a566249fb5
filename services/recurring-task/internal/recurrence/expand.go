package recurrence

import (
	"math"
	"slices"
)

// eachPeriod drives DAILY, WEEKLY, MONTHLY and YEARLY rules: each period's matching days
// times the times of day, BYSETPOS applied to that product, offered in order.
func (s *Series) eachPeriod(e *emitter) {
	k := 0
	if e.afterDay != math.MinInt && s.rule.Count == 0 {
		// Without COUNT no index needs counting: skip the periods wholly before after.
		k = s.periodIndexOf(e.afterDay - 1)
	}
	var buf [366]int
	var posBuf [16]int
	empty, limit := 0, s.emptyPeriodLimit()
	for ; ; k++ {
		days, ok := s.expand(k, buf[:0])
		if !ok {
			return
		}
		if !e.count(1 + len(days)) {
			return
		}
		if len(days) == 0 {
			if empty++; empty > limit {
				return
			}
			continue
		}
		empty = 0
		nt := len(s.times)
		if len(s.rule.BySetPos) > 0 {
			for _, i := range setPos(s.rule.BySetPos, len(days)*nt, posBuf[:0]) {
				if !e.offer(wall{day: days[i/nt], sec: s.times[i%nt]}) {
					return
				}
			}
			continue
		}
		for _, day := range days {
			for _, sec := range s.times {
				if !e.offer(wall{day: day, sec: sec}) {
					return
				}
			}
		}
	}
}

// setPos returns the sorted, distinct 0-based positions BYSETPOS picks from n candidates.
func setPos(pos []int, n int, buf []int) []int {
	for _, p := range pos {
		i := p - 1
		if p < 0 {
			i = n + p
		}
		if i >= 0 && i < n {
			buf = append(buf, i)
		}
	}
	slices.Sort(buf)
	return slices.Compact(buf)
}

// emptyPeriodLimit is one 400-year Gregorian cycle of periods: a rule that produces
// nothing for that long never produces anything again.
func (s *Series) emptyPeriodLimit() int {
	switch s.rule.Freq {
	case Daily:
		return emptyDays
	case Weekly:
		return 20871
	case Monthly:
		return 4800
	default:
		return 400
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
// period) that match the rule, in order, before BYSETPOS. ok is false past year 9999.
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
		end := first + 7
		if k == 0 {
			// Like dateutil, the first week starts at DTSTART's day, so BYSETPOS counts
			// only from there (RFC 5545 leaves a DTSTART off the rule undefined).
			first = s.start.day
		}
		if !s.hasByMonth {
			// Only BYDAY applies: no calendar fields needed.
			for day := first; day < end; day++ {
				if s.plainDays[weekdayOf(day)] {
					buf = append(buf, day)
				}
			}
			break
		}
		for day := first; day < end; day++ {
			y, m, d := civilFromDays(day)
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
		buf = s.expandYear(y, buf)
	}
	return buf, true
}

// expandYear appends the matching days of year y.
func (s *Series) expandYear(y int, buf []int) []int {
	diy := 365
	if isLeap(y) {
		diy = 366
	}
	if len(s.weekNos) > 0 || len(s.yearDays) > 0 {
		var mask []bool
		if len(s.weekNos) > 0 {
			mask = weekNoMask(y, s.weekNos, s.rule.Wkst)
		}
		first := daysFromCivil(y, 1, 1)
		for i := range diy {
			if mask != nil && !mask[i] {
				continue
			}
			day := first + i
			_, m, d := civilFromDays(day)
			if s.matchYearDay(i+1, diy) && s.match(day, m, d, daysIn(y, m), i+1, diy) {
				buf = append(buf, day)
			}
		}
		return buf
	}
	doy := 0
	for m := 1; m <= 12; m++ {
		if !s.hasByMonth || s.byMonth[m] {
			buf = s.expandMonth(y, m, doy, diy, buf)
		}
		doy += daysIn(y, m)
	}
	return buf
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

// matchYearDay reports whether day-of-year doy (1-based, of a year of diy days) passes
// BYYEARDAY.
func (s *Series) matchYearDay(doy, diy int) bool {
	if len(s.yearDays) == 0 {
		return true
	}
	for _, v := range s.yearDays {
		if v == doy || (v < 0 && diy+v+1 == doy) {
			return true
		}
	}
	return false
}

// match reports whether day (month m, day-of-month d of dim) passes BYMONTH, BYMONTHDAY
// and BYDAY. doy and diy locate the day in its year for yearly ordinals (diy is 0 otherwise).
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
