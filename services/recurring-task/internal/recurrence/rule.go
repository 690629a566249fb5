// Package recurrence evaluates RFC 5545 recurrence rules (RRULE plus RDATE and EXDATE) in
// an IANA time zone. Occurrences are expanded per period in local wall-clock fields and
// only then converted to instants, so the time of day is kept across DST changes. It has
// no dependency on Dapr, gRPC or the event schemas.
package recurrence

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidRule is wrapped by every error about a rule that cannot be evaluated.
var ErrInvalidRule = errors.New("invalid recurrence rule")

// Freq is the FREQ of a rule.
type Freq int

// The supported frequencies. SECONDLY is rejected: see ParseRule.
const (
	Daily Freq = iota + 1
	Weekly
	Monthly
	Yearly
	Hourly
	Minutely
)

func (f Freq) String() string {
	switch f {
	case Daily:
		return "DAILY"
	case Weekly:
		return "WEEKLY"
	case Monthly:
		return "MONTHLY"
	case Yearly:
		return "YEARLY"
	case Hourly:
		return "HOURLY"
	case Minutely:
		return "MINUTELY"
	}
	return "Freq(" + strconv.Itoa(int(f)) + ")"
}

// subDaily reports whether the period is shorter than a day.
func (f Freq) subDaily() bool { return f == Hourly || f == Minutely }

// WeekdayNum is one BYDAY entry: a weekday with an optional ordinal (3MO, -1FR); N is 0
// for every such weekday in the period.
type WeekdayNum struct {
	N   int
	Day time.Weekday
}

// Until is the UNTIL part: either an instant (20250101T000000Z), a local wall-clock time
// (20250101T090000, read in the series' zone) or a date (20250101, inclusive: every
// occurrence on that local day is included).
type Until struct {
	Instant time.Time // set for the UTC form
	local   *wall     // set for the floating and the date forms
	date    bool      // the date form
}

// IsZero reports whether no UNTIL was given.
func (u Until) IsZero() bool { return u.Instant.IsZero() && u.local == nil }

// Rule is a parsed RRULE.
type Rule struct {
	Freq       Freq
	Interval   int // >= 1
	Count      int // 0 for no COUNT
	Until      Until
	ByDay      []WeekdayNum
	ByMonthDay []int
	ByMonth    []int
	ByYearDay  []int
	ByWeekNo   []int
	ByHour     []int
	ByMinute   []int
	BySecond   []int
	BySetPos   []int
	Wkst       time.Weekday
}

var weekdayCodes = map[string]time.Weekday{
	"SU": time.Sunday, "MO": time.Monday, "TU": time.Tuesday, "WE": time.Wednesday,
	"TH": time.Thursday, "FR": time.Friday, "SA": time.Saturday,
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRule, fmt.Sprintf(format, args...))
}

// ParseRule parses an RRULE value such as "FREQ=WEEKLY;BYDAY=MO,TH" (an "RRULE:" prefix
// is allowed). It rejects unknown, unsupported, repeated and contradictory parts with a
// message naming the part and the reason.
func ParseRule(s string) (Rule, error) {
	s = strings.TrimSpace(s)
	if len(s) >= 6 && strings.EqualFold(s[:6], "RRULE:") {
		s = s[6:]
	}
	r := Rule{Interval: 1, Wkst: time.Monday}
	if s == "" {
		return r, invalid("empty rule")
	}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ";") {
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		name = strings.ToUpper(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if !ok || value == "" {
			return r, invalid("part %q: want NAME=VALUE", part)
		}
		if seen[name] {
			return r, invalid("%s given twice", name)
		}
		seen[name] = true
		if err := r.setPart(name, value); err != nil {
			return r, err
		}
	}
	return r, r.validate()
}

// setPart parses one NAME=VALUE part into r.
func (r *Rule) setPart(name, value string) error {
	var err error
	switch name {
	case "FREQ":
		r.Freq, err = parseFreq(value)
	case "INTERVAL":
		r.Interval, err = parseInt(name, value, 1, 1000)
	case "COUNT":
		r.Count, err = parseInt(name, value, 1, 100000)
	case "UNTIL":
		r.Until, err = parseUntil(value)
	case "BYDAY":
		r.ByDay, err = parseByDay(value)
	case "BYMONTHDAY":
		r.ByMonthDay, err = parseIntList(name, value, -31, 31, false)
	case "BYMONTH":
		r.ByMonth, err = parseIntList(name, value, 1, 12, false)
	case "BYYEARDAY":
		r.ByYearDay, err = parseIntList(name, value, -366, 366, false)
	case "BYWEEKNO":
		r.ByWeekNo, err = parseIntList(name, value, -53, 53, false)
	case "BYHOUR":
		r.ByHour, err = parseIntList(name, value, 0, 23, true)
	case "BYMINUTE":
		r.ByMinute, err = parseIntList(name, value, 0, 59, true)
	case "BYSECOND":
		// RFC 5545 allows 60 for a leap second; no IANA zone has one, so 60 never occurs.
		r.BySecond, err = parseIntList(name, value, 0, 59, true)
	case "BYSETPOS":
		r.BySetPos, err = parseIntList(name, value, -366, 366, false)
	case "WKST":
		d, ok := weekdayCodes[strings.ToUpper(value)]
		if !ok {
			err = invalid("WKST=%s: want one of MO, TU, WE, TH, FR, SA, SU", value)
		}
		r.Wkst = d
	case "RDATE", "EXDATE", "DTSTART":
		err = invalid("%s is not an RRULE part: send it in its own field", name)
	default:
		err = invalid("unknown part %s", name)
	}
	return err
}

func parseFreq(v string) (Freq, error) {
	switch strings.ToUpper(v) {
	case "DAILY":
		return Daily, nil
	case "WEEKLY":
		return Weekly, nil
	case "MONTHLY":
		return Monthly, nil
	case "YEARLY":
		return Yearly, nil
	case "HOURLY":
		return Hourly, nil
	case "MINUTELY":
		return Minutely, nil
	case "SECONDLY":
		return 0, invalid("FREQ=SECONDLY is not supported: tasks are due at most once a minute (use MINUTELY, or BYSECOND with a coarser FREQ)")
	}
	return 0, invalid("FREQ=%s: want YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY or MINUTELY", v)
}

func parseInt(name, v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, invalid("%s=%s: want an integer from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// parseIntList parses a comma-separated list; zero is allowed only where it is a value
// (hours, minutes, seconds), not an ordinal. Duplicates are dropped.
func parseIntList(name, v string, lo, hi int, zero bool) ([]int, error) {
	var out []int
	for item := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(item))
		if err != nil || (n == 0 && !zero) || n < lo || n > hi {
			what := "a non-zero integer"
			if zero {
				what = "an integer"
			}
			return nil, invalid("%s=%s: %q is not %s from %d to %d", name, v, item, what, lo, hi)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func parseByDay(v string) ([]WeekdayNum, error) {
	var out []WeekdayNum
	for item := range strings.SplitSeq(v, ",") {
		item = strings.ToUpper(strings.TrimSpace(item))
		if len(item) < 2 {
			return nil, invalid("BYDAY=%s: %q is not a weekday such as MO, 3MO or -1FR", v, item)
		}
		day, ok := weekdayCodes[item[len(item)-2:]]
		if !ok {
			return nil, invalid("BYDAY=%s: %q is not a weekday such as MO, 3MO or -1FR", v, item)
		}
		n := 0
		if num := item[:len(item)-2]; num != "" {
			var err error
			n, err = strconv.Atoi(num)
			if err != nil || n == 0 || n < -53 || n > 53 {
				return nil, invalid("BYDAY=%s: ordinal in %q must be a non-zero integer from -53 to 53", v, item)
			}
		}
		wd := WeekdayNum{N: n, Day: day}
		if !slices.Contains(out, wd) {
			out = append(out, wd)
		}
	}
	return out, nil
}

func parseUntil(v string) (Until, error) {
	for _, layout := range []string{"20060102T150405Z", "20060102T150405", "20060102"} {
		t, err := time.Parse(layout, strings.ToUpper(v))
		if err != nil {
			continue
		}
		switch layout {
		case "20060102T150405Z":
			return Until{Instant: t}, nil
		case "20060102":
			w := wall{day: wallOf(t).day, sec: 86399}
			return Until{local: &w, date: true}, nil
		default:
			w := wallOf(t)
			return Until{local: &w}, nil
		}
	}
	return Until{}, invalid("UNTIL=%s: want 20060102T150405Z, a local 20060102T150405 or a date 20060102", v)
}
