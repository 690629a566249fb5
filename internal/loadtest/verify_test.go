package loadtest

import "testing"

func TestCheckCountsMissingAndDuplicatedEffects(t *testing.T) {
	t.Parallel()
	g := Gen{User: "u1", Email: "u1@example.com"}
	done, dup, lost, bad := g.Next(Completion), g.Next(Update), g.Next(Reminder), g.Malformed(Update)
	inAppGen := Gen{User: "u1"}
	inApp, mailed := inAppGen.Next(Reminder), inAppGen.Next(Reminder)
	e := Effects{
		Audit:    map[string]int{done.ID: 1, dup.ID: 2, bad.ID: 1, inApp.ID: 1, mailed.ID: 1},
		Series:   map[string]int{done.SeriesID: 1},
		WSUpdate: map[string]int{dup.ID: 1},
		Ledger: map[string]map[string]string{lost.ID: {"in_app": "delivered", "email": "sending"},
			inApp.ID: {"in_app": "delivered"}, mailed.ID: {"in_app": "delivered", "email": "delivered"}},
		Mail:       map[string]int{lost.TaskID: 1, mailed.TaskID: 1},
		AuditInApp: map[string]int{inApp.TaskID: 1, mailed.TaskID: 1}, WSNotif: map[string]int{inApp.TaskID: 1, mailed.TaskID: 1},
	}
	tests := []struct {
		name   string
		events []Event
		want   Tally
	}{
		{"exactly once", []Event{done}, Tally{Expected: 2}},
		{"duplicated audit row", []Event{dup}, Tally{Expected: 2, Duplicated: 1}},
		// Reminder: audit, ledger (email still sending), audited in-app and frame missing.
		{"lost reminder effects", []Event{lost}, Tally{Expected: 5, Missing: 4}},
		{"malformed event audited", []Event{bad}, Tally{Leaked: 1}},
		{"in-app-only reminder delivered", []Event{inApp}, Tally{Expected: 5}},
		// An in-app-only reminder that was e-mailed anyway, and one whose ledger has an e-mail row.
		{"in-app-only reminder e-mailed", []Event{mailed}, Tally{Expected: 5, Duplicated: 1, Missing: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Check(tt.events, e, 0)
			if got.Expected != tt.want.Expected || got.Missing != tt.want.Missing || got.Duplicated != tt.want.Duplicated || got.Leaked != tt.want.Leaked {
				t.Errorf("Check(%s) = %+v, want %+v", tt.name, got, tt.want)
			}
		})
	}
}

func TestGrewMoreAtTheLimit(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, z float64
		want bool
	}{{20, 22, false}, {20, 23, true}, {100, 110, false}, {100, 111, true}, {0, 5, false}} {
		if _, got := grewMore(c.a, c.z, 0.10); got != c.want {
			t.Errorf("grewMore(%v, %v, 0.10) = %v, want %v", c.a, c.z, got, c.want)
		}
	}
}
