package recurrence

import (
	"testing"
	"time"
)

// TestText: the English text and the normalised RRULE of rules anchored at Monday
// 2024-01-01 09:00 UTC (parts RFC 5545 takes from DTSTART show up in the text).
func TestText(t *testing.T) {
	t.Parallel()
	start := time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		in, normalised, text string
	}{
		{"FREQ=DAILY", "FREQ=DAILY", "every day at 09:00"},
		{"FREQ=DAILY;INTERVAL=3", "FREQ=DAILY;INTERVAL=3", "every 3 days at 09:00"},
		{"FREQ=WEEKLY", "FREQ=WEEKLY", "every week on Monday at 09:00"},
		{"FREQ=WEEKLY;BYDAY=TH,MO", "FREQ=WEEKLY;BYDAY=MO,TH", "every week on Monday and Thursday at 09:00"},
		{"FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR;WKST=SU", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR;WKST=SU", "every 2 weeks on weekdays at 09:00 (weeks start on Sunday)"},
		{"FREQ=WEEKLY;BYDAY=SA,SU;BYHOUR=10;BYMINUTE=30", "FREQ=WEEKLY;BYDAY=SA,SU;BYHOUR=10;BYMINUTE=30", "every week on weekends at 10:30"},
		{"FREQ=MONTHLY", "FREQ=MONTHLY", "every month on the 1st day at 09:00"},
		{"FREQ=MONTHLY;BYMONTHDAY=1,15", "FREQ=MONTHLY;BYMONTHDAY=1,15", "every month on the 1st and 15th day at 09:00"},
		{"FREQ=MONTHLY;BYMONTHDAY=-1", "FREQ=MONTHLY;BYMONTHDAY=-1", "every month on the last day at 09:00"},
		{"FREQ=MONTHLY;BYMONTHDAY=-2,1", "FREQ=MONTHLY;BYMONTHDAY=-2,1", "every month on the 1st and 2nd last day at 09:00"},
		{"FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=17;BYMINUTE=0", "FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=17;BYMINUTE=0", "every month on the last Friday at 17:00"},
		{"FREQ=MONTHLY;BYDAY=3MO", "FREQ=MONTHLY;BYDAY=3MO", "every month on the 3rd Monday at 09:00"},
		{"FREQ=MONTHLY;BYDAY=1MO,-1MO", "FREQ=MONTHLY;BYDAY=-1MO,1MO", "every month on the 1st Monday and the last Monday at 09:00"},
		{"FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "every month on weekdays at 09:00, only the last of each month"},
		{"FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", "FREQ=MONTHLY;BYMONTHDAY=13;BYDAY=FR", "every month on the 13th day if it is a Friday at 09:00"},
		{"FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=1;COUNT=4", "FREQ=MONTHLY;INTERVAL=3;COUNT=4;BYMONTHDAY=1", "every 3 months on the 1st day at 09:00, 4 times"},
		{"FREQ=YEARLY", "FREQ=YEARLY", "every year on the 1st day of January at 09:00"},
		{"FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", "every year on the 4th Thursday of November at 09:00"},
		{"FREQ=YEARLY;BYDAY=20MO", "FREQ=YEARLY;BYDAY=20MO", "every year on the 20th Monday of the year at 09:00"},
		{"FREQ=YEARLY;BYMONTH=1,7;BYMONTHDAY=1", "FREQ=YEARLY;BYMONTH=1,7;BYMONTHDAY=1", "every year on the 1st day of January and July at 09:00"},
		{"FREQ=YEARLY;BYWEEKNO=1;BYDAY=MO", "FREQ=YEARLY;BYWEEKNO=1;BYDAY=MO", "every year in week 1 on Monday at 09:00"},
		{"FREQ=YEARLY;BYWEEKNO=-1;BYDAY=FR;WKST=SU", "FREQ=YEARLY;BYWEEKNO=-1;BYDAY=FR;WKST=SU", "every year in the last week of the year on Friday at 09:00 (weeks start on Sunday)"},
		{"FREQ=YEARLY;BYWEEKNO=1,26", "FREQ=YEARLY;BYWEEKNO=1,26", "every year in weeks 1 and 26 at 09:00"},
		{"FREQ=YEARLY;BYYEARDAY=100", "FREQ=YEARLY;BYYEARDAY=100", "every year on day 100 of the year at 09:00"},
		{"FREQ=YEARLY;BYYEARDAY=1,-1", "FREQ=YEARLY;BYYEARDAY=-1,1", "every year on the 1st and last day of the year at 09:00"},
		{"FREQ=DAILY;BYHOUR=9,18;BYMINUTE=0", "FREQ=DAILY;BYHOUR=9,18;BYMINUTE=0", "every day at 09:00 and 18:00"},
		{"FREQ=DAILY;BYHOUR=8;BYMINUTE=0;BYSECOND=0,30", "FREQ=DAILY;BYHOUR=8;BYMINUTE=0;BYSECOND=0,30", "every day at 08:00 and 08:00:30"},
		{"FREQ=DAILY;BYMONTH=12;UNTIL=20241231T235959Z", "FREQ=DAILY;UNTIL=20241231T235959Z;BYMONTH=12", "every day in December at 09:00, until 2024-12-31 23:59:59 UTC"},
		{"FREQ=DAILY;UNTIL=20241231", "FREQ=DAILY;UNTIL=20241231", "every day at 09:00, until 2024-12-31 (inclusive)"},
		{"FREQ=DAILY;UNTIL=20241231T170000", "FREQ=DAILY;UNTIL=20241231T170000", "every day at 09:00, until 2024-12-31 17:00:00 local time"},
		{"FREQ=HOURLY", "FREQ=HOURLY", "every hour at :00 past the hour"},
		{"FREQ=HOURLY;INTERVAL=2;BYHOUR=9,11,13,15,17", "FREQ=HOURLY;INTERVAL=2;BYHOUR=9,11,13,15,17", "every 2 hours at :00 past the hour, during hours 9, 11, 13, 15 and 17"},
		{"FREQ=HOURLY;BYMINUTE=0,30", "FREQ=HOURLY;BYMINUTE=0,30", "every hour at :00 and :30 past the hour"},
		{"FREQ=MINUTELY;INTERVAL=15", "FREQ=MINUTELY;INTERVAL=15", "every 15 minutes"},
		{"FREQ=MINUTELY;INTERVAL=30;BYHOUR=9,10;BYDAY=MO,TU,WE,TH,FR", "FREQ=MINUTELY;INTERVAL=30;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9,10", "every 30 minutes on weekdays during hours 9 and 10"},
		{"FREQ=MINUTELY;BYMINUTE=0,30;BYSECOND=15", "FREQ=MINUTELY;BYMINUTE=0,30;BYSECOND=15", "every minute at second 15, in minutes :00 and :30"},
		{"FREQ=HOURLY;BYYEARDAY=1;COUNT=1", "FREQ=HOURLY;COUNT=1;BYYEARDAY=1", "every hour on day 1 of the year at :00 past the hour, once"},
		{"FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9;BYMINUTE=0", "FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9;BYMINUTE=0", "every day at 10 times of day from 00:00 to 09:00"},
		{"FREQ=DAILY;BYHOUR=9,12,15;BYSETPOS=-1", "FREQ=DAILY;BYHOUR=9,12,15;BYSETPOS=-1", "every day at 09:00, 12:00 and 15:00, only the last of each day"},
		{"FREQ=MONTHLY;BYDAY=1MO,FR", "FREQ=MONTHLY;BYDAY=1MO,FR", "every month on the 1st Monday and every Friday at 09:00"},
		{"FREQ=MONTHLY;BYMONTHDAY=1,2,3;BYDAY=SA,SU", "FREQ=MONTHLY;BYMONTHDAY=1,2,3;BYDAY=SA,SU", "every month on the 1st, 2nd and 3rd day if it is a Saturday or Sunday at 09:00"},
		{"rrule:freq=weekly;wkst=mo;interval=1;byday=mo", "FREQ=WEEKLY;BYDAY=MO", "every week on Monday at 09:00"},
	}
	if len(tests) < 30 {
		t.Fatalf("%d text cases, want at least 30", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			rule, err := ParseRule(tt.in)
			if err != nil {
				t.Fatalf("ParseRule(%q) error: %v", tt.in, err)
			}
			if got := rule.String(); got != tt.normalised {
				t.Errorf("ParseRule(%q).String() = %q, want %q", tt.in, got, tt.normalised)
			}
			again, err := ParseRule(rule.String())
			if err != nil || again.String() != rule.String() {
				t.Errorf("ParseRule(%q) = %q, %v, want the same rule back", rule.String(), again.String(), err)
			}
			s, err := NewSeries(rule, start, time.UTC, nil, nil)
			if err != nil {
				t.Fatalf("NewSeries(%q) error: %v", tt.in, err)
			}
			if got := s.Text(); got != tt.text {
				t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.text)
			}
		})
	}
}
