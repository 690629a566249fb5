package recurrence

import "time"

// weekNoMask returns, for each day of year y (index 0 is January 1), whether it lies in
// one of the BYWEEKNO weeks. Week 1 is the first week (starting on wkst) with at least
// four days in the year (ISO 8601 with WKST); negative numbers count from the year's last
// week. Days of this year that belong to week 1 of the next year, or to the last week of
// the previous one, match those numbers too. This follows python-dateutil's rrule
// (_iterinfo.rebuild) step by step, so that the two agree on every year; weekdays here
// are 0 for Monday as in Python.
func weekNoMask(y int, weekNos []int, wkst time.Weekday) []bool {
	pyWeekday := func(day int) int { return (int(weekdayOf(day)) + 6) % 7 }
	ws := (int(wkst) + 6) % 7
	first := daysFromCivil(y, 1, 1)
	yearLen := 365
	if isLeap(y) {
		yearLen = 366
	}
	yearWeekday := pyWeekday(first)
	mask := make([]bool, yearLen+14)
	markWeek := func(i int) {
		for range 7 {
			mask[i] = true
			i++
			if pyWeekday(first+i) == ws {
				break
			}
		}
	}
	no1wkst := (7 - yearWeekday + ws) % 7
	firstwkst := no1wkst
	var wyearLen int
	if no1wkst >= 4 {
		no1wkst = 0
		wyearLen = yearLen + (yearWeekday-ws+7)%7
	} else {
		wyearLen = yearLen - no1wkst
	}
	numWeeks := wyearLen/7 + (wyearLen%7)/4
	weekIndex := func(n int) int {
		i := no1wkst + (n-1)*7
		if no1wkst != firstwkst {
			i -= 7 - firstwkst
		}
		return i
	}
	has := func(n int) bool {
		for _, v := range weekNos {
			if v == n {
				return true
			}
		}
		return false
	}
	for _, n := range weekNos {
		if n < 0 {
			n += numWeeks + 1
		}
		if n <= 0 || n > numWeeks {
			continue
		}
		i := no1wkst
		if n > 1 {
			i = weekIndex(n)
		}
		markWeek(i)
	}
	if has(1) {
		// Week 1 of the next year may begin in this one.
		if i := weekIndex(numWeeks + 1); i < yearLen {
			markWeek(i)
		}
	}
	if no1wkst > 0 {
		// The days before this year's week 1 belong to the last week of the previous year.
		lastWeeks := -1
		if !has(-1) {
			prevFirst := daysFromCivil(y-1, 1, 1)
			lYearWeekday := pyWeekday(prevFirst)
			lno1wkst := (7 - lYearWeekday + ws) % 7
			lYearLen := 365
			if isLeap(y - 1) {
				lYearLen = 366
			}
			if lno1wkst >= 4 {
				lastWeeks = 52 + (lYearLen+(lYearWeekday-ws+7)%7)%7/4
			} else {
				// dateutil uses this year's length here; kept for agreement.
				lastWeeks = 52 + (yearLen-no1wkst)%7/4
			}
		}
		if has(lastWeeks) {
			for i := 0; i < no1wkst; i++ {
				mask[i] = true
			}
		}
	}
	return mask[:yearLen]
}
