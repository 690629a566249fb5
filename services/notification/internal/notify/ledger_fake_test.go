package notify

import (
	"context"
	"slices"
	"sync"
	"time"
)

// memLedger is an in-memory Ledger with the same rules as the PostgreSQL one
// (ledger/store_postgres.go): rows are written on first sight or when not final and due;
// Sending rows are leased and count an attempt when claimed; Finish only touches Sending
// rows and takes the attempt back for an outcome decided without sending; Due leases due
// rows.
type memLedger struct {
	mu    sync.Mutex
	lease time.Duration
	rows  map[outcomeKey]*memRow
}

type memRow struct {
	Plan
	attempts int
	since    time.Time
	next     time.Time
	req      Request
}

func newMemLedger() *memLedger { return &memLedger{lease: time.Minute, rows: map[outcomeKey]*memRow{}} }

func (l *memLedger) Begin(_ context.Context, reqs []Request, now time.Time) ([]Claim, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var todo []Claim
	for _, r := range reqs {
		for _, p := range r.Plans {
			k := outcomeKey{r.Key.EventID, p.Channel}
			row, ok := l.rows[k]
			if !ok {
				row = &memRow{since: now, req: r}
				l.rows[k] = row
			} else if row.Status.Final() || row.next.After(now) {
				continue
			}
			row.Plan = p
			row.next = p.NextAttempt
			if p.Status == Sending {
				row.next = now.Add(l.lease)
				row.attempts++
				todo = append(todo, Claim{EventID: k.eventID, Channel: k.channel, Since: row.since, Attempts: row.attempts - 1})
			}
		}
	}
	return todo, nil
}

func (l *memLedger) Finish(_ context.Context, outcomes []Outcome, _ time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range outcomes {
		row := l.rows[outcomeKey{o.EventID, o.Channel}]
		if row == nil || row.Status != Sending {
			continue
		}
		row.Plan, row.next = o.Plan, o.NextAttempt
		if !o.Attempted {
			row.attempts--
		}
	}
	return nil
}

func (l *memLedger) Due(_ context.Context, now time.Time, limit int) ([]DueClaim, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var keys []outcomeKey
	for k, row := range l.rows {
		if !row.Status.Final() && !row.next.After(now) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b outcomeKey) int { return l.rows[a].next.Compare(l.rows[b].next) })
	var out []DueClaim
	for _, k := range keys[:min(limit, len(keys))] {
		row := l.rows[k]
		row.Status, row.next = Sending, now.Add(l.lease)
		row.attempts++
		out = append(out, DueClaim{Claim: Claim{EventID: k.eventID, Channel: k.channel, Since: row.since, Attempts: row.attempts - 1},
			Reminder: row.req.Reminder, StaleAfter: row.req.StaleAfter})
	}
	return out, nil
}

func (l *memLedger) row(eventID string, c Channel) memRow {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := l.rows[outcomeKey{eventID, c}]; r != nil {
		return *r
	}
	return memRow{}
}

func (l *memLedger) statuses(eventID string) map[Channel]Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[Channel]Status{}
	for k, r := range l.rows {
		if k.eventID == eventID {
			out[k.channel] = r.Status
		}
	}
	return out
}

// memPrefs is a PreferenceStore over a map.
type memPrefs map[string]Preferences

func (m memPrefs) Preferences(_ context.Context, users []string) (map[string]Preferences, error) {
	out := map[string]Preferences{}
	for _, u := range users {
		if p, ok := m[u]; ok {
			out[u] = p
		}
	}
	return out, nil
}

// memPlanner is a Ledger, PreferenceStore and DefaultsBeginner over a memLedger and
// memPrefs, as ledger.Store is all three over PostgreSQL. beginErr fails every Begin (the
// second round trip, for the users with preferences).
type memPlanner struct {
	*memLedger
	memPrefs
	calls    int
	beginErr error
}

func (m *memPlanner) Begin(ctx context.Context, reqs []Request, now time.Time) ([]Claim, error) {
	if m.beginErr != nil {
		return nil, m.beginErr
	}
	return m.memLedger.Begin(ctx, reqs, now)
}

func (m *memPlanner) BeginDefaults(ctx context.Context, reqs []Request, now time.Time) ([]Claim, map[string]Preferences, error) {
	m.calls++
	var defaults []Request
	prefs := map[string]Preferences{}
	for _, r := range reqs {
		if p, ok := m.memPrefs[r.Key.UserID]; ok {
			prefs[r.Key.UserID] = p
		} else {
			defaults = append(defaults, r)
		}
	}
	claims, err := m.memLedger.Begin(ctx, defaults, now)
	return claims, prefs, err
}
