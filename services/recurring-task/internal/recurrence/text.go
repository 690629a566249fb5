package recurrence

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Text renders the series' rule in English, with the parts RFC 5545 takes from DTSTART
// filled in: "every week on Monday and Thursday at 09:00", "every 2 hours at :00 past
// the hour, during hours 8, 10 and 12", "every month on the last Friday at 17:00, 6 times".
// RDATEs and EXDATEs are not part of the text.
func (s *Series) Text() string {
	r := s.rule
	parts := []string{every(r.Freq, r.Interval)}
	if len(s.weekNos) > 0 {
		parts = append(parts, "in "+weekNoText(s.weekNos))
	}
	if len(s.yearDays) > 0 {
		parts = append(parts, "on "+nthList(s.yearDays, "day", "days")+" of the year")
	}
	parts = append(parts, s.dayText()...)
	if t := s.timeText(); t != "" {
		parts = append(parts, t)
	}
	text := strings.Join(parts, " ")
	if len(r.BySetPos) > 0 {
		text += ", only the " + ordinalList(sorted(r.BySetPos)) + " of each " + periodName(r.Freq)
	}
	switch {
	case r.Count == 1:
		text += ", once"
	case r.Count > 1:
		text += ", " + strconv.Itoa(r.Count) + " times"
	case !r.Until.IsZero():
		text += ", until " + untilText(r.Until)
	}
	if r.Wkst != time.Monday && (len(s.weekNos) > 0 || (r.Freq == Weekly && r.Interval > 1)) {
		text += " (weeks start on " + r.Wkst.String() + ")"
	}
	return text
}

func every(f Freq, n int) string {
	unit := map[Freq]string{Yearly: "year", Monthly: "month", Weekly: "week", Daily: "day",
		Hourly: "hour", Minutely: "minute"}[f]
	if n == 1 {
		return "every " + unit
	}
	return "every " + strconv.Itoa(n) + " " + unit + "s"
}

func periodName(f Freq) string {
	return map[Freq]string{Yearly: "year", Monthly: "month", Weekly: "week", Daily: "day",
		Hourly: "hour", Minutely: "minute"}[f]
}

// dayText describes BYMONTHDAY, BYDAY and BYMONTH (defaults from DTSTART included).
func (s *Series) dayText() []string {
	var out []string
	var months []string
	for m := 1; m <= 12; m++ {
		if s.byMonth[m] {
			months = append(months, time.Month(m).String())
		}
	}
	of := " of the month"
	if len(months) > 0 {
		of = " of " + list(months)
	} else if s.rule.Freq == Monthly {
		of = ""
	}
	if len(s.monthDays) > 0 {
		out = append(out, "on the "+ordinalList(sorted(s.monthDays))+" day"+of)
		of = ""
	}
	plain := s.plainDayText("and")
	if len(s.ordinals) > 0 {
		ofOrd := of
		if s.rule.Freq == Yearly && len(months) == 0 {
			ofOrd = " of the year"
		}
		ords := slices.Clone(s.ordinals)
		slices.SortStableFunc(ords, func(a, b WeekdayNum) int { return positiveFirst(a.N, b.N) })
		var days []string
		for _, o := range ords {
			days = append(days, "the "+ordinal(o.N)+" "+o.Day.String())
		}
		if plain != "" {
			// A plain weekday next to ordinals adds every such day (a union).
			days = append(days, "every "+plain)
		}
		out = append(out, "on "+list(days)+ofOrd)
		of = ""
	} else if plain != "" && len(s.monthDays) > 0 {
		// BYDAY then limits the days of the month.
		out = append(out, "if it is a "+s.plainDayText("or"))
	} else if plain != "" {
		out = append(out, "on "+plain)
	}
	if of != "" && len(months) > 0 {
		out = append(out, "in "+list(months))
	}
	return out
}

// plainDayText lists the weekdays without ordinal, joined by conj ("and", "or").
func (s *Series) plainDayText(conj string) string {
	var names []string
	n := 0
	for _, d := range []time.Weekday{1, 2, 3, 4, 5, 6, 0} {
		if s.plainDays[d] {
			names = append(names, d.String())
			n++
		}
	}
	weekdays := n == 5 && !s.plainDays[time.Saturday] && !s.plainDays[time.Sunday]
	switch {
	case n == 0:
		return ""
	case conj == "or":
	case weekdays:
		return "weekdays"
	case n == 2 && s.plainDays[time.Saturday] && s.plainDays[time.Sunday]:
		return "weekends"
	}
	if conj == "or" && len(names) > 1 {
		return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	}
	return list(names)
}

// timeText describes the times of day (DAILY and coarser) or within the period.
func (s *Series) timeText() string {
	switch s.rule.Freq {
	case Hourly:
		var marks []string
		for _, off := range s.times {
			marks = append(marks, clockPart(off/60, off%60))
		}
		out := "at " + list(marks) + " past the hour"
		if h := s.hourText(); h != "" {
			out += ", " + h
		}
		return out
	case Minutely:
		var out []string
		if len(s.times) > 1 || s.times[0] != 0 {
			out = append(out, "at second "+list(intStrings(s.times)))
		}
		if s.hasByMin {
			var mins []string
			for m := range 60 {
				if s.byMinute[m] {
					mins = append(mins, fmt.Sprintf(":%02d", m))
				}
			}
			out = append(out, "in minutes "+list(mins))
		}
		if h := s.hourText(); h != "" {
			out = append(out, h)
		}
		return strings.Join(out, ", ")
	}
	if len(s.times) > 8 {
		return fmt.Sprintf("at %d times of day from %s to %s", len(s.times),
			clock(s.times[0]), clock(s.times[len(s.times)-1]))
	}
	clocks := make([]string, len(s.times))
	for i, t := range s.times {
		clocks[i] = clock(t)
	}
	return "at " + list(clocks)
}

func (s *Series) hourText() string {
	if !s.hasByHour {
		return ""
	}
	var hours []int
	for h := range 24 {
		if s.byHour[h] {
			hours = append(hours, h)
		}
	}
	if len(hours) == 1 {
		return "during hour " + strconv.Itoa(hours[0])
	}
	return "during hours " + list(intStrings(hours))
}

func clock(sec int) string {
	if sec%60 != 0 {
		return fmt.Sprintf("%02d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%02d:%02d", sec/3600, sec/60%60)
}

func clockPart(m, sec int) string {
	if sec != 0 {
		return fmt.Sprintf(":%02d:%02d", m, sec)
	}
	return fmt.Sprintf(":%02d", m)
}

func untilText(u Until) string {
	switch {
	case u.local == nil:
		return u.Instant.UTC().Format("2006-01-02 15:04:05 UTC")
	case u.date:
		return u.local.format("2006-01-02") + " (inclusive)"
	default:
		return u.local.format("2006-01-02 15:04:05") + " local time"
	}
}

func weekNoText(weeks []int) string {
	if len(weeks) == 1 && weeks[0] == -1 {
		return "the last week of the year"
	}
	if slices.ContainsFunc(weeks, func(n int) bool { return n < 0 }) {
		return "the " + ordinalList(sorted(weeks)) + " week of the year"
	}
	if len(weeks) == 1 {
		return "week " + strconv.Itoa(weeks[0])
	}
	return "weeks " + list(intStrings(sorted(weeks)))
}

// nthList renders day numbers: "day 100", "days 1 and 100", "the last day".
func nthList(ns []int, one, many string) string {
	ns = sorted(ns)
	if slices.ContainsFunc(ns, func(n int) bool { return n < 0 }) {
		return "the " + ordinalList(ns) + " " + one
	}
	if len(ns) == 1 {
		return one + " " + strconv.Itoa(ns[0])
	}
	return many + " " + list(intStrings(ns))
}
