package recurrence

import (
	"testing"
	"time"
)

// BenchmarkNext: Next one year (sub-daily rules with COUNT: 100 days) into a series that
// starts Monday 2024-01-01 09:00 in New York. The first two are the cases from before
// sub-daily rules existed.
func BenchmarkNext(b *testing.B) {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, rule string
		days       int
	}{
		{"weekly/no_count", "FREQ=WEEKLY;BYDAY=MO,WE,FR", 366},
		{"weekly/count", "FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=1000", 366},
		{"daily_two_times", "FREQ=DAILY;BYHOUR=9,18;BYMINUTE=0", 366},
		{"yearly_weekno", "FREQ=YEARLY;BYWEEKNO=1,27;BYDAY=MO", 366},
		{"hourly_medication", "FREQ=HOURLY;INTERVAL=2;BYHOUR=9,11,13,15,17,19", 366},
		{"minutely_workday_15min", "FREQ=MINUTELY;INTERVAL=15;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9,10,11,12,13,14,15,16", 366},
		{"hourly_medication/count", "FREQ=HOURLY;INTERVAL=2;BYHOUR=9,11,13,15,17,19;COUNT=1000", 100},
		{"minutely_15min/count", "FREQ=MINUTELY;INTERVAL=15;COUNT=20000", 100},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rule, err := ParseRule(bc.rule)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Date(2024, 1, 1, 9, 0, 0, 0, loc)
			s, err := NewSeries(rule, start, loc, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			after := start.AddDate(0, 0, bc.days).Add(time.Hour)
			b.ReportAllocs()
			for b.Loop() {
				if _, ok, err := s.Next(after); !ok || err != nil {
					b.Fatal("no next occurrence", err)
				}
			}
		})
	}
}
