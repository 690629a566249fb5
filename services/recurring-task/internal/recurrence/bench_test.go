package recurrence

import (
	"testing"
	"time"
)

// BenchmarkNextWeekly: Next for a weekly BYDAY rule one year into the series.
func BenchmarkNextWeekly(b *testing.B) {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, rule string }{
		{"no_count", "FREQ=WEEKLY;BYDAY=MO,WE,FR"},
		{"count", "FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=1000"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rule, err := ParseRule(bc.rule)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Date(2024, 1, 1, 9, 0, 0, 0, loc)
			s, err := NewSeries(rule, start, loc, nil)
			if err != nil {
				b.Fatal(err)
			}
			after := start.AddDate(1, 0, 0).Add(time.Hour)
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := s.Next(after); !ok {
					b.Fatal("no next occurrence")
				}
			}
		})
	}
}
