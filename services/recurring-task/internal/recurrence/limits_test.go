package recurrence

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A rule whose next occurrence lies thousands of years of candidates away fails with
// ErrLimit instead of searching until year 9999.
func TestNextLimit(t *testing.T) {
	t.Parallel()
	rule, err := ParseRule("FREQ=MINUTELY;INTERVAL=997;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;BYHOUR=5;BYMINUTE=7")
	if err != nil {
		t.Fatalf("ParseRule error: %v", err)
	}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := NewSeries(rule, start, time.UTC, nil, nil)
	if err != nil {
		t.Fatalf("NewSeries error: %v", err)
	}
	began := time.Now()
	got, ok, err := s.Next(start)
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("Next(%v) = %v, %v, %v, want ErrLimit", start, got, ok, err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("Next took %v before giving up", d)
	}
	if _, err := s.Take(start, 5); !errors.Is(err, ErrLimit) {
		t.Errorf("Take(%v, 5) error = %v, want ErrLimit", start, err)
	}
}

// BYHOUR/BYMINUTE values that stepping by INTERVAL never reaches are refused up front
// (dateutil refuses them too), naming the part.
func TestNewSeriesRejectsUnreachable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rule    string
		start   time.Time
		wantMsg string
	}{
		{"FREQ=HOURLY;INTERVAL=2;BYHOUR=9,11", time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC), "BYHOUR: no listed hour is reached"},
		{"FREQ=MINUTELY;INTERVAL=30;BYMINUTE=15", time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC), "BYHOUR/BYMINUTE"},
		{"FREQ=MINUTELY;INTERVAL=120;BYHOUR=9", time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC), "INTERVAL=120"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			t.Parallel()
			rule, err := ParseRule(tt.rule)
			if err != nil {
				t.Fatalf("ParseRule(%q) error: %v", tt.rule, err)
			}
			_, err = NewSeries(rule, tt.start, time.UTC, nil, nil)
			if !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("NewSeries(%q) error = %v, want ErrInvalidRule mentioning %q", tt.rule, err, tt.wantMsg)
			}
		})
	}
}

// With COUNT, Next far into a sub-daily series counts whole days at once; it must agree
// with walking the series from DTSTART.
func TestNextCountsWholeDays(t *testing.T) {
	t.Parallel()
	ny := mustLoc(t, "America/New_York")
	start := time.Date(2024, 3, 1, 9, 0, 0, 0, ny)
	for _, r := range []string{
		"FREQ=MINUTELY;INTERVAL=15;COUNT=5000",
		"FREQ=HOURLY;INTERVAL=2;BYHOUR=9,11,13,15,17,19;COUNT=300",
		"FREQ=HOURLY;INTERVAL=5;BYMINUTE=0,30;COUNT=700",
		"FREQ=MINUTELY;INTERVAL=7;BYHOUR=1,2,3;BYDAY=SU;COUNT=900",
	} {
		t.Run(r, func(t *testing.T) {
			t.Parallel()
			rule, err := ParseRule(r)
			if err != nil {
				t.Fatalf("ParseRule error: %v", err)
			}
			s, err := NewSeries(rule, start, ny, nil, nil)
			if err != nil {
				t.Fatalf("NewSeries error: %v", err)
			}
			all, err := s.Take(start.Add(-time.Second), rule.Count+1)
			if err != nil {
				t.Fatalf("Take error: %v", err)
			}
			for _, days := range []int{3, 10, 40, 200} {
				after := start.AddDate(0, 0, days).Add(17 * time.Minute)
				var want time.Time
				for _, o := range all {
					if o.After(after) {
						want = o
						break
					}
				}
				got, ok, err := s.Next(after)
				if err != nil || ok == want.IsZero() || !got.Equal(want) {
					t.Errorf("Next(%v) = %v, %v, %v, want %v", after, got, ok, err, want)
				}
			}
		})
	}
}
