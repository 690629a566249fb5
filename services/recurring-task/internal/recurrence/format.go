package recurrence

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var weekdayCode = [7]string{"SU", "MO", "TU", "WE", "TH", "FR", "SA"}

// String returns the rule in normalised form: parts in the order FREQ, INTERVAL, COUNT,
// UNTIL, BYMONTH, BYWEEKNO, BYYEARDAY, BYMONTHDAY, BYDAY, BYHOUR, BYMINUTE, BYSECOND,
// BYSETPOS, WKST; INTERVAL=1 and WKST=MO left out; numbers sorted ascending (negative
// first), BYDAY from Monday to Sunday. ParseRule(r.String()) equals r up to that order.
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString("FREQ=" + r.Freq.String())
	if r.Interval > 1 {
		b.WriteString(";INTERVAL=" + strconv.Itoa(r.Interval))
	}
	if r.Count > 0 {
		b.WriteString(";COUNT=" + strconv.Itoa(r.Count))
	}
	if !r.Until.IsZero() {
		b.WriteString(";UNTIL=" + r.Until.String())
	}
	for _, p := range []struct {
		name string
		list []int
	}{
		{"BYMONTH", r.ByMonth}, {"BYWEEKNO", r.ByWeekNo}, {"BYYEARDAY", r.ByYearDay},
		{"BYMONTHDAY", r.ByMonthDay}, {"BYDAY", nil}, {"BYHOUR", r.ByHour},
		{"BYMINUTE", r.ByMinute}, {"BYSECOND", r.BySecond}, {"BYSETPOS", r.BySetPos},
	} {
		if p.name == "BYDAY" {
			if len(r.ByDay) > 0 {
				b.WriteString(";BYDAY=" + byDayString(r.ByDay))
			}
			continue
		}
		if len(p.list) > 0 {
			b.WriteString(";" + p.name + "=" + joinInts(sorted(p.list), ","))
		}
	}
	if r.Wkst != time.Monday {
		b.WriteString(";WKST=" + weekdayCode[r.Wkst])
	}
	return b.String()
}

// String returns the UNTIL value as it was given: 20060102T150405Z, a local
// 20060102T150405 or a date 20060102.
func (u Until) String() string {
	switch {
	case u.local == nil:
		return u.Instant.UTC().Format("20060102T150405Z")
	case u.date:
		return u.local.format("20060102")
	default:
		return u.local.format("20060102T150405")
	}
}

func (w wall) format(layout string) string {
	y, m, d := civilFromDays(w.day)
	return time.Date(y, time.Month(m), d, w.sec/3600, w.sec/60%60, w.sec%60, 0, time.UTC).Format(layout)
}

func sorted(list []int) []int {
	out := slices.Clone(list)
	slices.Sort(out)
	return out
}

func joinInts(list []int, sep string) string {
	parts := make([]string, len(list))
	for i, v := range list {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, sep)
}

// mondayFirst orders weekdays Monday to Sunday.
func mondayFirst(d time.Weekday) int { return (int(d) + 6) % 7 }

func sortedByDay(days []WeekdayNum) []WeekdayNum {
	out := slices.Clone(days)
	slices.SortFunc(out, func(a, b WeekdayNum) int {
		if c := cmp.Compare(mondayFirst(a.Day), mondayFirst(b.Day)); c != 0 {
			return c
		}
		return cmp.Compare(a.N, b.N)
	})
	return out
}

func byDayString(days []WeekdayNum) string {
	parts := make([]string, 0, len(days))
	for _, wd := range sortedByDay(days) {
		s := weekdayCode[wd.Day]
		if wd.N != 0 {
			s = strconv.Itoa(wd.N) + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}
