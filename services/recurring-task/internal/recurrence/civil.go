package recurrence

import "time"

// Wall-clock arithmetic on civil dates, free of time zones and DST.
// A date is a day number: days since 1970-01-01 in the proleptic Gregorian calendar.

// daysFromCivil returns the day number of y-m-d (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int) (y, m, d int) {
	z += 719468
	era := z
	if era < 0 {
		era -= 146096
	}
	era /= 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// weekdayOf returns the weekday of a day number (1970-01-01 was a Thursday).
func weekdayOf(day int) time.Weekday {
	w := (day + 4) % 7
	if w < 0 {
		w += 7
	}
	return time.Weekday(w)
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, m int) int {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}

// wall is a local date and time of day without a zone.
type wall struct {
	day int // day number
	sec int // seconds since local midnight
}

func (w wall) less(o wall) bool { return w.day < o.day || (w.day == o.day && w.sec < o.sec) }

func wallOf(t time.Time) wall {
	y, m, d := t.Date()
	hh, mm, ss := t.Clock()
	return wall{day: daysFromCivil(y, int(m), d), sec: hh*3600 + mm*60 + ss}
}

// unixOfWall returns the Unix seconds of w read as if it were UTC.
func (w wall) unixUTC() int64 { return int64(w.day)*86400 + int64(w.sec) }

// offsetAt returns loc's UTC offset in seconds at the Unix instant u.
func offsetAt(loc *time.Location, u int64) int64 {
	_, off := time.Unix(u, 0).In(loc).Zone()
	return int64(off)
}

// instant converts a wall-clock time in loc to an instant.
//
//   - A time that exists once maps to that instant.
//   - An ambiguous time (clocks set back) maps to its first instance, the one with the
//     earlier UTC offset still in effect (PEP 495 fold=0, as python-dateutil).
//   - A time that does not exist (clocks set forward) is shifted forward by the length of
//     the gap: it is read with the UTC offset in effect before the transition. This is
//     RFC 5545 §3.3.5 for DATE-TIME with TZID and what dateutil's tz.resolve_imaginary does;
//     02:30 on a spring-forward day in New York becomes 03:30 EDT.
func (w wall) instant(loc *time.Location) time.Time {
	u, _ := w.resolve(loc)
	if loc == time.UTC {
		return time.Unix(u, 0).UTC()
	}
	return time.Unix(u, 0).In(loc)
}

// resolve returns the Unix seconds of w in loc by the rules of instant, and whether w
// fell in a gap (and so was moved forward, possibly past later wall times).
func (w wall) resolve(loc *time.Location) (int64, bool) {
	local := w.unixUTC()
	if loc == time.UTC {
		return local, false
	}
	before := offsetAt(loc, local-86400) // offset in effect before any transition that day
	c1 := local - before
	if offsetAt(loc, c1) == before {
		// Valid with the earlier offset: unique, or the first instance of an ambiguous time.
		return c1, false
	}
	after := offsetAt(loc, local+86400) // offset in effect after it
	if c2 := local - after; offsetAt(loc, c2) == after {
		return c2, false
	}
	// In a gap: keep the offset from before the transition, which moves the wall time
	// forward by the size of the gap.
	return c1, true
}
