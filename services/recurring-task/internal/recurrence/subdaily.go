package recurrence

import "math"

// HOURLY and MINUTELY step through wall-clock time like dateutil: period k begins at the
// wall time subStart + k*subStep (seconds, as if the zone had no DST), so "every 2 hours"
// keeps its even hours across a DST change. A wall time in a gap resolves forward like
// any other (see wall.instant); the emitter sorts and deduplicates what that produces.

// eachSubDaily offers the candidates of every HOURLY or MINUTELY period in order. Days
// that fail the day filters are skipped whole, and MINUTELY skips whole hours BYHOUR
// rejects.
func (s *Series) eachSubDaily(e *emitter) {
	k := int64(0)
	if e.afterDay != math.MinInt && s.rule.Count == 0 {
		if d := int64(e.afterDay-1)*86400 - s.subStart; d > 0 {
			k = d / s.subStep
		}
	}
	var posBuf [16]int
	lastDay, dayOK, emptyRun := math.MinInt, false, 0
	for {
		w0 := s.subStart + k*s.subStep
		day := int(floorDiv(w0, 86400))
		sec := int(w0 - int64(day)*86400)
		if day != lastDay {
			if y, _, _ := civilFromDays(day); y > 9999 {
				return
			}
			if !e.count(1) {
				return
			}
			if dayOK {
				emptyRun = 0
			} else if emptyRun++; emptyRun > emptyDays {
				return // no matching day in a whole Gregorian cycle
			}
			lastDay, dayOK = day, s.matchDay(day)
		}
		switch {
		case !dayOK:
			k = s.firstPeriodFrom(int64(day+1) * 86400)
			continue
		case s.rule.Count > 0 && day < e.afterDay && day > s.start.day && len(s.rule.BySetPos) == 0 && !s.hasByMin:
			// Nothing on this day can be returned: count its occurrences for COUNT at once.
			if !e.skip(s.occurrencesOn(day)) {
				return
			}
			k = s.firstPeriodFrom(int64(day+1) * 86400)
			continue
		case s.hasByHour && !s.byHour[sec/3600]:
			k = s.firstPeriodFrom(int64(day)*86400 + int64(sec/3600+1)*3600)
			continue
		case s.hasByMin && !s.byMinute[sec/60%60]:
			k++
			continue
		}
		if len(s.rule.BySetPos) > 0 {
			for _, i := range setPos(s.rule.BySetPos, len(s.times), posBuf[:0]) {
				if !e.offer(wall{day: day, sec: sec + s.times[i]}) {
					return
				}
			}
		} else {
			for _, off := range s.times {
				if !e.offer(wall{day: day, sec: sec + off}) {
					return
				}
			}
		}
		k++
	}
}

// occurrencesOn counts the candidates of a whole day after DTSTART's (BYSETPOS and a
// MINUTELY BYMINUTE absent): the periods in each hour BYHOUR lets through, times the
// candidates per period.
func (s *Series) occurrencesOn(day int) int {
	from := int64(day) * 86400
	if !s.hasByHour {
		return int(s.firstPeriodFrom(from+86400)-s.firstPeriodFrom(from)) * len(s.times)
	}
	n := int64(0)
	for h := range 24 {
		if s.byHour[h] {
			hour := from + int64(h)*3600
			n += s.firstPeriodFrom(hour+3600) - s.firstPeriodFrom(hour)
		}
	}
	return int(n) * len(s.times)
}

// firstPeriodFrom returns the index of the first period that begins at or after the wall
// time w (seconds), but at least the next period.
func (s *Series) firstPeriodFrom(w int64) int64 {
	d := w - s.subStart
	return (d + s.subStep - 1) / s.subStep
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// matchDay applies the day filters (BYMONTH, BYYEARDAY, BYMONTHDAY, BYDAY) to one day.
func (s *Series) matchDay(day int) bool {
	y, m, d := civilFromDays(day)
	diy := 365
	if isLeap(y) {
		diy = 366
	}
	doy := day - daysFromCivil(y, 1, 1) + 1
	return s.matchYearDay(doy, diy) && s.match(day, m, d, daysIn(y, m), doy, diy)
}

// checkReachable rejects BYHOUR/BYMINUTE values that stepping by INTERVAL from DTSTART
// never reaches (dateutil refuses the same rules), so that no search runs forever.
func (s *Series) checkReachable() error {
	r := s.rule
	if !s.hasByHour && !s.hasByMin {
		return nil
	}
	unit, span, phase := 60, 1440, s.start.sec/60 // MINUTELY: minutes of the day
	if r.Freq == Hourly {
		unit, span, phase = 3600, 24, s.start.sec/3600
	}
	g := gcd(r.Interval, span)
	for v := phase % g; v < span; v += g {
		sec := v * unit
		if (!s.hasByHour || s.byHour[sec/3600]) && (!s.hasByMin || s.byMinute[sec/60%60]) {
			return nil
		}
	}
	if r.Freq == Hourly {
		return invalid("BYHOUR: no listed hour is reached from DTSTART's hour %d in steps of INTERVAL=%d hours", phase, r.Interval)
	}
	return invalid("BYHOUR/BYMINUTE: no listed time is reached from DTSTART's %02d:%02d in steps of INTERVAL=%d minutes",
		phase/60, phase%60, r.Interval)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
