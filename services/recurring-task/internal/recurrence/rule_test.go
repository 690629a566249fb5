package recurrence

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Rule
	}{
		{"weekly byday", "FREQ=WEEKLY;BYDAY=MO,TH", Rule{Freq: Weekly, Interval: 1, Wkst: time.Monday,
			ByDay: []WeekdayNum{{Day: time.Monday}, {Day: time.Thursday}}}},
		{"prefix and lower case", "rrule:freq=monthly;byday=3mo,-1fr", Rule{Freq: Monthly, Interval: 1, Wkst: time.Monday,
			ByDay: []WeekdayNum{{N: 3, Day: time.Monday}, {N: -1, Day: time.Friday}}}},
		{"all parts", "FREQ=YEARLY;INTERVAL=2;COUNT=10;BYMONTH=1,2;BYMONTHDAY=-1;BYSETPOS=1;WKST=SU",
			Rule{Freq: Yearly, Interval: 2, Count: 10, ByMonth: []int{1, 2}, ByMonthDay: []int{-1}, BySetPos: []int{1}, Wkst: time.Sunday}},
		{"until utc", "FREQ=DAILY;UNTIL=20240131T235959Z", Rule{Freq: Daily, Interval: 1, Wkst: time.Monday,
			Until: Until{Instant: time.Date(2024, 1, 31, 23, 59, 59, 0, time.UTC)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRule(tt.in)
			if err != nil {
				t.Fatalf("ParseRule(%q) error: %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty(), cmp.AllowUnexported(Until{})); diff != "" {
				t.Errorf("ParseRule(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseRuleRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, wantMsg string
	}{
		{"", "empty rule"},
		{"BYDAY=MO", "FREQ is required"},
		{"FREQ=DAILY;COUNT=3;UNTIL=20240101T000000Z", "COUNT and UNTIL together"},
		{"FREQ=SECONDLY", "FREQ=SECONDLY is not supported"},
		{"FREQ=FORTNIGHTLY", "FREQ=FORTNIGHTLY"},
		{"FREQ=DAILY;INTERVAL=0", "INTERVAL=0"},
		{"FREQ=DAILY;COUNT=-1", "COUNT=-1"},
		{"FREQ=WEEKLY;BYDAY=XX", "BYDAY=XX"},
		{"FREQ=WEEKLY;BYDAY=0MO", "ordinal"},
		{"FREQ=WEEKLY;BYDAY=2MO", "only valid with FREQ=MONTHLY or YEARLY"},
		{"FREQ=HOURLY;BYDAY=1MO", "BYDAY ordinal 1 is only valid with FREQ=MONTHLY or YEARLY"},
		{"FREQ=YEARLY;BYWEEKNO=1;BYDAY=1MO", "BYDAY ordinal 1 is not valid together with BYWEEKNO"},
		{"FREQ=MONTHLY;BYDAY=6MO", "-5 to 5"},
		{"FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY=0"},
		{"FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY=32"},
		{"FREQ=YEARLY;BYMONTH=13", "BYMONTH=13"},
		{"FREQ=MONTHLY;BYSETPOS=1", "BYSETPOS needs another BYxxx part"},
		{"FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY is not valid with FREQ=WEEKLY"},
		{"FREQ=MONTHLY;BYWEEKNO=1", "BYWEEKNO is only valid with FREQ=YEARLY"},
		{"FREQ=DAILY;BYYEARDAY=100", "BYYEARDAY is not valid with FREQ=DAILY"},
		{"FREQ=MONTHLY;BYYEARDAY=100", "BYYEARDAY is not valid with FREQ=MONTHLY"},
		{"FREQ=YEARLY;BYWEEKNO=54", "BYWEEKNO=54"},
		{"FREQ=YEARLY;BYWEEKNO=0", "BYWEEKNO=0"},
		{"FREQ=YEARLY;BYYEARDAY=367", "BYYEARDAY=367"},
		{"FREQ=DAILY;BYHOUR=24", "BYHOUR=24"},
		{"FREQ=DAILY;BYMINUTE=60", "BYMINUTE=60"},
		{"FREQ=DAILY;BYSECOND=60", "BYSECOND=60"},
		{"FREQ=DAILY;BYHOUR=-1", "BYHOUR=-1"},
		{"FREQ=DAILY;RDATE=20240101T000000Z", "RDATE is not an RRULE part"},
		{"FREQ=DAILY;WKST=XY", "WKST=XY"},
		{"FREQ=DAILY;UNTIL=tomorrow", "UNTIL=tomorrow"},
		{"FREQ=DAILY;FOO=1", "unknown part FOO"},
		{"FREQ=DAILY;FREQ=WEEKLY", "FREQ given twice"},
		{"FREQ=DAILY;COUNT", "want NAME=VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			_, err := ParseRule(tt.in)
			if !errors.Is(err, ErrInvalidRule) {
				t.Fatalf("ParseRule(%q) error = %v, want ErrInvalidRule", tt.in, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("ParseRule(%q) error = %q, want it to mention %q", tt.in, err, tt.wantMsg)
			}
		})
	}
}

// Hand-written expectations for wall-clock to instant conversion.
func TestWallInstant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, zone string
		y, m, d    int
		hh, mm     int
		want       string
	}{
		{"ny gap shifts forward by one hour", "America/New_York", 2024, 3, 10, 2, 30, "2024-03-10T07:30:00Z"},
		{"ny overlap takes first (EDT)", "America/New_York", 2024, 11, 3, 1, 30, "2024-11-03T05:30:00Z"},
		{"ny ordinary", "America/New_York", 2024, 7, 1, 9, 0, "2024-07-01T13:00:00Z"},
		{"berlin gap", "Europe/Berlin", 2024, 3, 31, 2, 0, "2024-03-31T01:00:00Z"},
		{"berlin overlap takes CEST", "Europe/Berlin", 2024, 10, 27, 2, 30, "2024-10-27T00:30:00Z"},
		{"sydney gap", "Australia/Sydney", 2024, 10, 6, 2, 30, "2024-10-05T16:30:00Z"},
		{"sydney overlap takes AEDT", "Australia/Sydney", 2024, 4, 7, 2, 30, "2024-04-06T15:30:00Z"},
		{"lord howe half-hour gap", "Australia/Lord_Howe", 2024, 10, 6, 2, 15, "2024-10-05T15:45:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			loc := mustLoc(t, tt.zone)
			w := wall{day: daysFromCivil(tt.y, tt.m, tt.d), sec: tt.hh*3600 + tt.mm*60}
			if got := w.instant(loc).UTC().Format(time.RFC3339); got != tt.want {
				t.Errorf("instant(%d-%02d-%02d %02d:%02d %s) = %s, want %s", tt.y, tt.m, tt.d, tt.hh, tt.mm, tt.zone, got, tt.want)
			}
		})
	}
}

func TestCivilRoundTrip(t *testing.T) {
	t.Parallel()
	for day := daysFromCivil(1, 1, 1); day < daysFromCivil(9999, 12, 31); day += 97 {
		y, m, d := civilFromDays(day)
		if got := daysFromCivil(y, m, d); got != day {
			t.Fatalf("daysFromCivil(civilFromDays(%d)) = %d", day, got)
		}
		want := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
		if wd := weekdayOf(day); wd != want.Weekday() {
			t.Fatalf("weekdayOf(%d) = %v, want %v", day, wd, want.Weekday())
		}
		if got := want.Unix() / 86400; got != int64(day) {
			t.Fatalf("day of %v = %d, want %d", want, day, got)
		}
	}
}

func TestSeriesEnds(t *testing.T) {
	t.Parallel()
	start := time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name, rule string
	}{
		{"impossible date", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"},
		{"impossible daily", "FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31"},
		{"impossible hourly", "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30"},
		{"impossible minutely", "FREQ=MINUTELY;INTERVAL=15;BYYEARDAY=366;BYMONTHDAY=1"},
		{"count exhausted", "FREQ=DAILY;COUNT=2"},
		{"until passed", "FREQ=DAILY;UNTIL=20240102T090000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rule, err := ParseRule(tt.rule)
			if err != nil {
				t.Fatalf("ParseRule(%q) error: %v", tt.rule, err)
			}
			s, err := NewSeries(rule, start, time.UTC, nil, nil)
			if err != nil {
				t.Fatalf("NewSeries error: %v", err)
			}
			after := time.Date(2024, 1, 2, 9, 0, 0, 0, time.UTC)
			if got, ok, err := s.Next(after); ok || err != nil {
				t.Errorf("Next(%v) = %v, %v, %v, want end of series", after, got, ok, err)
			}
		})
	}
}
