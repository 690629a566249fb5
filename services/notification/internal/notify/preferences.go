package notify

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/taskflow/taskflow-events/internal/zoneinfo"
)

// Preferences are one user's delivery choices. The zero value is the default: every
// channel on, no quiet hours.
type Preferences struct {
	// Disabled lists the channels the user turned off: reminders skip them.
	Disabled []Channel
	// Quiet, when set, holds reminders (unless urgent) until the quiet hours end.
	Quiet *QuietHours
}

// Off reports whether the user turned channel c off.
func (p Preferences) Off(c Channel) bool { return slices.Contains(p.Disabled, c) }

// QuietHours is a daily window, in the user's time zone, in which reminders wait. Start
// and End are minutes after local midnight; Start > End spans midnight (22:00 to 07:00).
type QuietHours struct {
	Start, End int
	// TimeZone is an IANA zone; empty means UTC.
	TimeZone string
}

// Validate reports what is wrong with q, or nil.
func (q QuietHours) Validate() error {
	switch {
	case q.Start < 0 || q.Start >= 24*60 || q.End < 0 || q.End >= 24*60:
		return fmt.Errorf("quiet hours %s to %s: want times from 00:00 to 23:59", Clock(q.Start), Clock(q.End))
	case q.Start == q.End:
		return fmt.Errorf("quiet hours %s to %s: start and end must differ", Clock(q.Start), Clock(q.End))
	}
	if _, err := zoneinfo.Load(q.TimeZone); err != nil {
		return fmt.Errorf("quiet hours time zone %q: not an IANA time zone", q.TimeZone)
	}
	return nil
}

// Until returns the end of the quiet period now falls in, and false when now is outside
// the quiet hours. The end is the local wall-clock time End on the right day; on a day
// whose clocks skip that time it is the instant after the gap (Go's time.Date rule).
func (q QuietHours) Until(now time.Time) (time.Time, bool) {
	loc, err := zoneinfo.Load(q.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	local := now.In(loc)
	m := local.Hour()*60 + local.Minute()
	y, mo, d := local.Date()
	endToday := time.Date(y, mo, d, q.End/60, q.End%60, 0, 0, loc)
	switch {
	case q.Start < q.End && m >= q.Start && m < q.End:
		return endToday, true
	case q.Start > q.End && m >= q.Start:
		return time.Date(y, mo, d+1, q.End/60, q.End%60, 0, 0, loc), true
	case q.Start > q.End && m < q.End:
		return endToday, true
	}
	return time.Time{}, false
}

// Clock renders minutes after midnight as "HH:MM".
func Clock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// ParseClock reads "HH:MM" (24-hour) as minutes after midnight.
func ParseClock(s string) (int, error) {
	var h, m int
	if n, err := fmt.Sscanf(s, "%2d:%2d", &h, &m); err != nil || n != 2 || len(s) != 5 || h > 23 || m > 59 || h < 0 || m < 0 {
		return 0, fmt.Errorf("%q: want HH:MM from 00:00 to 23:59", s)
	}
	return h*60 + m, nil
}

// DefaultsBeginner is a Ledger that is also the PreferenceStore (ledger.Store):
// BeginDefaults does what Begin does for the requests of users without stored preferences
// (planned with the defaults) and returns the preferences of the other users, whose
// requests it leaves unrecorded — one round trip for a batch where reading the preferences
// first takes two.
type DefaultsBeginner interface {
	BeginDefaults(ctx context.Context, reqs []Request, now time.Time) ([]Claim, map[string]Preferences, error)
}

// PreferenceStore reads users' preferences.
type PreferenceStore interface {
	// Preferences returns the preferences of the users that have any; users without a
	// row are missing from the map (defaults).
	Preferences(ctx context.Context, userIDs []string) (map[string]Preferences, error)
}
