package auditlog

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
)

var dbCount int

// newStore creates a fresh migrated database on pg and returns a Store over it and the
// superuser DSN of that database.
func newStore(t *testing.T, pg *testenv.Postgres, now func() time.Time) (*Store, string) {
	t.Helper()
	dbCount++
	dsn := pg.CreateDatabase(t, fmt.Sprintf("auditlog_%d", dbCount))
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := Migrate(context.Background(), pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return NewStore(pool, now), dsn
}

func taskEvent(id, user, task string, at time.Time) *eventsv1.TaskEvent {
	return &eventsv1.TaskEvent{
		EventId: id, Kind: eventsv1.TaskEventKind_TASK_EVENT_KIND_UPDATED, OccurredAt: timestamppb.New(at), ActorId: user,
		Task: &eventsv1.Task{Id: task, UserId: user, Title: "title of " + id, Tags: []string{"a", "b"}},
	}
}

func records(t *testing.T, msgs ...*eventsv1.TaskEvent) []Record {
	t.Helper()
	var out []Record
	for _, m := range msgs {
		r, err := NewRecord("task-events", "taskflow.task.updated.v1", "", time.Time{}, time.Now(), m)
		if err != nil {
			t.Fatalf("NewRecord(%s): %v", m.GetEventId(), err)
		}
		out = append(out, r)
	}
	return out
}

func mustVerify(t *testing.T, s *Store) Verification {
	t.Helper()
	v, err := s.Verify(context.Background(), 0, 0)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return v
}

func TestStore(t *testing.T) {
	pg := testenv.StartPostgres(t)
	ctx := context.Background()
	base := time.Date(2026, 3, 14, 9, 0, 0, 123456789, time.UTC)

	t.Run("redeliveries and in-batch duplicates add nothing", func(t *testing.T) {
		s, _ := newStore(t, pg, time.Now)
		first := records(t, taskEvent("e1", "u1", "t1", base), taskEvent("e2", "u1", "t1", base), taskEvent("e1", "u1", "t1", base))
		if n, err := s.Append(ctx, first); err != nil || n != 2 {
			t.Fatalf("Append(e1, e2, e1) = %d, %v, want 2, nil", n, err)
		}
		// A batch mixing a stored event with new ones across months still stores the new ones.
		second := records(t, taskEvent("e2", "u1", "t1", base), taskEvent("e3", "u2", "t2", base.AddDate(0, -2, 0)),
			taskEvent("e4", "u2", "t2", base.AddDate(1, 0, 0)))
		if n, err := s.Append(ctx, second); err != nil || n != 2 {
			t.Fatalf("Append(e2, e3, e4) = %d, %v, want 2, nil", n, err)
		}
		if n, err := s.Append(ctx, second); err != nil || n != 0 {
			t.Fatalf("Append(redelivery) = %d, %v, want 0, nil", n, err)
		}
		if v := mustVerify(t, s); v.Break != nil || v.RowsChecked != 4 {
			t.Errorf("Verify = %+v (break %+v), want 4 rows and no break", v, v.Break)
		}
	})

	t.Run("update, delete and truncate are rejected", func(t *testing.T) {
		s, _ := newStore(t, pg, time.Now)
		if _, err := s.Append(ctx, records(t, taskEvent("e1", "u1", "t1", base))); err != nil {
			t.Fatal(err)
		}
		part := "audit_events_" + base.Format("2006_01")
		for _, stmt := range []string{
			"UPDATE audit_events SET user_id = 'mallory'",
			"DELETE FROM audit_events",
			"TRUNCATE audit_events",
			"UPDATE " + part + " SET user_id = 'mallory'",
			"DELETE FROM " + part,
			"TRUNCATE " + part,
			"DELETE FROM audit_event_ids",
			"TRUNCATE audit_event_ids",
		} {
			_, err := s.pool.Exec(ctx, stmt)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: error %v, want the append-only rejection", stmt, err)
			}
		}
		if v := mustVerify(t, s); v.Break != nil || v.RowsChecked != 1 {
			t.Errorf("Verify = %+v, want 1 intact row", v)
		}
	})

	t.Run("tampering names the row", func(t *testing.T) {
		var msgs []*eventsv1.TaskEvent
		for i := range 30 {
			msgs = append(msgs, taskEvent(fmt.Sprintf("e%02d", i), "u1", "t1", base.Add(time.Duration(i)*time.Minute)))
		}
		for _, tc := range []struct {
			name, sql, wantID string
			want              BreakReason
		}{
			{"payload altered", `UPDATE audit_events SET payload = jsonb_set(payload, '{task,title}', '"forged"') WHERE event_id = 'e17'`, "e17", ContentMismatch},
			{"column altered", `UPDATE audit_events SET user_id = 'mallory' WHERE event_id = 'e05'`, "e05", ContentMismatch},
			{"row removed", `DELETE FROM audit_events WHERE event_id = 'e11'`, "e12", PrevMismatch},
			{"chain tail removed", `DELETE FROM audit_events WHERE event_id = 'e29'`, "e28", HeadMismatch},
			{"payload garbled", `UPDATE audit_events SET payload = '{"bogus": 1}' WHERE event_id = 'e03'`, "e03", Unreadable},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, dsn := newStore(t, pg, time.Now)
				if _, err := s.Append(ctx, records(t, msgs[:15]...)); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Append(ctx, records(t, msgs[15:]...)); err != nil {
					t.Fatal(err)
				}
				if v := mustVerify(t, s); v.Break != nil {
					t.Fatalf("Verify before tampering: break %+v", v.Break)
				}
				conn, err := pgx.Connect(ctx, dsn) // superuser, behind the service's back
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				if _, err := conn.Exec(ctx, "SET session_replication_role = replica"); err != nil {
					t.Fatal(err)
				}
				if tag, err := conn.Exec(ctx, tc.sql); err != nil || tag.RowsAffected() != 1 {
					t.Fatalf("%s: %v, %d rows", tc.sql, err, tag.RowsAffected())
				}
				v := mustVerify(t, s)
				if v.Break == nil || v.Break.EventID != tc.wantID || v.Break.Reason != tc.want {
					t.Errorf("Verify after %s = break %+v, want reason %d at %s", tc.name, v.Break, tc.want, tc.wantID)
				}
			})
		}
	})

	t.Run("retention drops whole months and the rest still verifies", func(t *testing.T) {
		s, _ := newStore(t, pg, time.Now)
		old := taskEvent("old", "u1", "t1", base.AddDate(0, -6, 0))
		// A late event: stored after newer ones, into an old month.
		if _, err := s.Append(ctx, records(t, taskEvent("n1", "u1", "t1", base), old)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, records(t, taskEvent("n2", "u1", "t1", base), taskEvent("old2", "u1", "t1", base.AddDate(0, -6, 1)))); err != nil {
			t.Fatal(err)
		}
		if err := s.EnsurePartitions(ctx, base, 2); err != nil {
			t.Fatalf("EnsurePartitions: %v", err)
		}
		dropped, err := s.DropBefore(ctx, base.AddDate(0, -3, 0))
		if err != nil || len(dropped) != 1 || !dropped[0].Equal(monthOf(old.GetOccurredAt().AsTime())) {
			t.Fatalf("DropBefore = %v, %v, want the month of the old events", dropped, err)
		}
		if v := mustVerify(t, s); v.Break != nil || v.RowsChecked != 2 {
			t.Errorf("Verify after retention = %+v (break %+v), want 2 intact rows", v, v.Break)
		}
		// A redelivery of a dropped event is still recognised; a new old event recreates its month.
		if n, err := s.Append(ctx, records(t, old, taskEvent("old3", "u1", "t1", base.AddDate(0, -6, 0)))); err != nil || n != 1 {
			t.Errorf("Append after retention = %d, %v, want 1, nil", n, err)
		}
		if v := mustVerify(t, s); v.Break != nil || v.RowsChecked != 3 {
			t.Errorf("Verify = %+v (break %+v), want 3 intact rows", v, v.Break)
		}
	})

	t.Run("listing pages newest first in one snapshot", func(t *testing.T) {
		s, _ := newStore(t, pg, time.Now)
		var msgs []*eventsv1.TaskEvent
		for i := range 25 {
			msgs = append(msgs, taskEvent(fmt.Sprintf("e%02d", i), fmt.Sprintf("u%d", i%2), "t1", base.Add(time.Duration(i%10)*time.Second)))
		}
		if _, err := s.Append(ctx, records(t, msgs...)); err != nil {
			t.Fatal(err)
		}
		snap, err := s.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c := Cursor{Snapshot: snap}
		var got []string
		var prev *Event
		for page := 0; ; page++ {
			evs, err := s.List(ctx, Filter{UserID: "u0"}, c, 4)
			if err != nil {
				t.Fatal(err)
			}
			if page == 0 { // inserted after the first page: not part of this listing
				if _, err := s.Append(ctx, records(t, taskEvent("late", "u0", "t1", base))); err != nil {
					t.Fatal(err)
				}
			}
			for i := range evs {
				e := evs[i]
				if prev != nil && (e.OccurredAt.After(prev.OccurredAt) || e.OccurredAt.Equal(prev.OccurredAt) && e.Seq > prev.Seq) {
					t.Errorf("%s listed after %s, want newest first", e.EventID, prev.EventID)
				}
				prev = &e
				got = append(got, e.EventID)
			}
			if len(evs) < 4 {
				break
			}
			c = Cursor{Snapshot: snap, OccurredAt: evs[len(evs)-1].OccurredAt, Seq: evs[len(evs)-1].Seq}
		}
		if len(got) != 13 {
			t.Errorf("listed %d events of u0 (%v), want 13", len(got), got)
		}
	})
}
