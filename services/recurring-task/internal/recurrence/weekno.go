package recurrence

import (
	"slices"
	"time"
)

// weekNoMask returns, for each day of year y (index 0 is January 1), whether it lies in
// one of the BYWEEKNO weeks. Week 1 is the first week (starting on wkst) with at least
// four days in the year (ISO 8601 with WKST); negative numbers count from the year's last
// week. Days of this year that belong to week 1 of the next year, or to the last week of
// the previous one, match those numbers too. This follows python-dateutil's rrule
// (_iterinfo.rebuild) step by step, so that the two agree on every year; weekdays here
// are 0 for Monday as in Python.
func weekNoMask(y int, weekNos []int, wkst time.Weekday) []bool {
	wy := newWeekYear(y, wkst)
	mask := make([]bool, wy.yearLen+14)
	for _, n := range weekNos {
		if n < 0 {
			n += wy.numWeeks + 1
		}
		if n <= 0 || n > wy.numWeeks {
			continue
		}
		i := wy.no1wkst
		if n > 1 {
			i = wy.weekIndex(n)
		}
		wy.markWeek(mask, i)
	}
	if slices.Contains(weekNos, 1) {
		// Week 1 of the next year may begin in this one.
		if i := wy.weekIndex(wy.numWeeks + 1); i < wy.yearLen {
			wy.markWeek(mask, i)
		}
	}
	if wy.no1wkst > 0 {
		// The days before this year's week 1 belong to the last week of the previous year.
		lastWeeks := -1
		if !slices.Contains(weekNos, -1) {
			lastWeeks = wy.prevYearLastWeek()
		}
		if slices.Contains(weekNos, lastWeeks) {
			for i := range wy.no1wkst {
				mask[i] = true
			}
		}
	}
	return mask[:wy.yearLen]
}

// weekYear is the week layout of one year, named as in dateutil's _iterinfo.rebuild.
type weekYear struct {
	y           int
	ws          int // wkst, 0 for Monday
	first       int // day number of January 1
	yearLen     int
	yearWeekday int // weekday of January 1, 0 for Monday
	no1wkst     int // day of year where week 1 begins (0 when on or before January 1)
	firstwkst   int // day of year of the first wkst
	numWeeks    int
}

func newWeekYear(y int, wkst time.Weekday) weekYear {
	wy := weekYear{y: y, ws: mondayFirst(wkst), first: daysFromCivil(y, 1, 1), yearLen: 365}
	if isLeap(y) {
		wy.yearLen = 366
	}
	wy.yearWeekday = pyWeekday(wy.first)
	wy.no1wkst = (7 - wy.yearWeekday + wy.ws) % 7
	wy.firstwkst = wy.no1wkst
	var wyearLen int
	if wy.no1wkst >= 4 {
		wy.no1wkst = 0
		wyearLen = wy.yearLen + (wy.yearWeekday-wy.ws+7)%7
	} else {
		wyearLen = wy.yearLen - wy.no1wkst
	}
	wy.numWeeks = wyearLen/7 + (wyearLen%7)/4
	return wy
}

// pyWeekday is the weekday of a day number, 0 for Monday as in Python.
func pyWeekday(day int) int { return mondayFirst(weekdayOf(day)) }

// weekIndex is the day of year where week n (> 1) starts.
func (wy weekYear) weekIndex(n int) int {
	i := wy.no1wkst + (n-1)*7
	if wy.no1wkst != wy.firstwkst {
		i -= 7 - wy.firstwkst
	}
	return i
}

// markWeek marks the days from day of year i up to the next week start, seven at most.
func (wy weekYear) markWeek(mask []bool, i int) {
	for range 7 {
		mask[i] = true
		i++
		if pyWeekday(wy.first+i) == wy.ws {
			break
		}
	}
}

// prevYearLastWeek is the number of the previous year's last week.
func (wy weekYear) prevYearLastWeek() int {
	lYearWeekday := pyWeekday(daysFromCivil(wy.y-1, 1, 1))
	lno1wkst := (7 - lYearWeekday + wy.ws) % 7
	lYearLen := 365
	if isLeap(wy.y - 1) {
		lYearLen = 366
	}
	if lno1wkst >= 4 {
		return 52 + (lYearLen+(lYearWeekday-wy.ws+7)%7)%7/4
	}
	// dateutil uses this year's length here; kept for agreement.
	return 52 + (wy.yearLen-wy.no1wkst)%7/4
}
