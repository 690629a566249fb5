package loadtest

import (
	"fmt"
	"reflect"
	"sort"
	"time"
)

// Effect names, as they appear in reports.
const (
	EffAudit  = "audit row"
	EffNext   = "next occurrence"
	EffLedger = "ledger in_app+email delivered"
	EffMail   = "e-mail"
	// In-app-only reminders (Event.InAppOnly): the ledger holds in_app alone, and "no
	// e-mail" counts 1 + the e-mails sent (more than once is an e-mail that should not be).
	EffLedgerInApp = "ledger in_app delivered"
	EffNoMail      = "no e-mail"
	EffAuditInApp  = "audited in-app notification"
	EffWSNotif     = "in-app notification frame"
	EffWSUpdate    = "task_change frame"
)

// Expected lists the effects ev must cause, each with the number of times it happened.
func Expected(ev Event, e Effects) map[string]int {
	if ev.Malformed {
		return nil
	}
	m := map[string]int{EffAudit: e.Audit[ev.ID]}
	switch ev.Kind {
	case Completion:
		m[EffNext] = e.Series[ev.SeriesID]
	case Reminder:
		l := e.Ledger[ev.ID]
		switch {
		case ev.InAppOnly:
			// No e-mail target: one ledger row, in-app, and no e-mail at all.
			m[EffLedgerInApp] = 0
			if l["in_app"] == "delivered" && len(l) == 1 {
				m[EffLedgerInApp] = 1
			}
			m[EffNoMail] = 1 + e.Mail[ev.TaskID]
		default:
			m[EffLedger] = 0
			if l["in_app"] == "delivered" && l["email"] == "delivered" && len(l) == 2 {
				m[EffLedger] = 1
			}
			m[EffMail] = e.Mail[ev.TaskID]
		}
		m[EffAuditInApp] = e.AuditInApp[ev.TaskID]
		m[EffWSNotif] = e.WSNotif[ev.TaskID]
	case Update:
		m[EffWSUpdate] = e.WSUpdate[ev.ID]
	}
	return m
}

// Tally is the outcome of checking a set of events against the effects.
type Tally struct {
	Expected   int
	Missing    int
	Duplicated int
	// Leaked counts effects of malformed events (there must be none).
	Leaked   int
	Problems []string
}

// OK reports whether every effect happened exactly once.
func (t Tally) OK() bool { return t.Missing == 0 && t.Duplicated == 0 && t.Leaked == 0 }

func (t Tally) String() string {
	return fmt.Sprintf("%d effects expected: %d missing, %d duplicated, %d from malformed events", t.Expected, t.Missing, t.Duplicated, t.Leaked)
}

// Check counts every expected effect of events: missing, exactly once or duplicated.
// At most maxProblems problems are listed.
func Check(events []Event, e Effects, maxProblems int) Tally {
	var t Tally
	note := func(format string, args ...any) {
		if len(t.Problems) < maxProblems {
			t.Problems = append(t.Problems, fmt.Sprintf(format, args...))
		}
	}
	for _, ev := range events {
		if ev.Malformed {
			if n := e.Audit[ev.ID] + e.WSUpdate[ev.ID] + e.Series[ev.SeriesID] + e.Mail[ev.TaskID]; n > 0 {
				t.Leaked += n
				note("malformed %s %s had %d effects", ev.Kind, ev.ID, n)
			}
			continue
		}
		exp := Expected(ev, e)
		names := make([]string, 0, len(exp))
		for name := range exp {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			t.Expected++
			switch n := exp[name]; {
			case n == 0:
				t.Missing++
				note("%s %s (task %s): %s missing", ev.Kind, ev.ID, ev.TaskID, name)
			case n > 1:
				t.Duplicated++
				note("%s %s (task %s): %s %d times", ev.Kind, ev.ID, ev.TaskID, name, n)
			}
		}
	}
	return t
}

// DiffDatabaseEffects names the first difference between the effects a and b read from
// PostgreSQL (the audit log and the notification ledger), or returns "".
func DiffDatabaseEffects(a, b Effects) string {
	for _, d := range []struct {
		name string
		a, b any
	}{
		{"audit rows", a.Audit, b.Audit}, {"audited in-app notifications", a.AuditInApp, b.AuditInApp},
		{"ledger statuses", a.Ledger, b.Ledger}, {"ledger attempts", a.Attempts, b.Attempts},
	} {
		if !reflect.DeepEqual(d.a, d.b) {
			return d.name + " differ"
		}
	}
	for _, d := range []struct {
		name string
		a, b map[string]time.Time
	}{{"audit times", a.AuditAt, b.AuditAt}, {"delivery times", a.LedgerAt, b.LedgerAt}} {
		if len(d.a) != len(d.b) {
			return fmt.Sprintf("%s: %d against %d", d.name, len(d.a), len(d.b))
		}
		for k, t := range d.a {
			if u, ok := d.b[k]; !ok || !u.Equal(t) {
				return fmt.Sprintf("%s of %s: %v against %v", d.name, k, t, u)
			}
		}
	}
	return ""
}
