package auditlog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/services/audit/auditsig"
)

var dbCount int

// testKey is the signing key of the tests' stores.
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// testDB is one store's database: the Store runs as the runtime role, as the service does.
type testDB struct {
	owner, runtime, super string // DSNs
}

// newStore creates a fresh database migrated by its owner role and returns a Store that
// runs as the runtime role, with the DSNs of the three roles.
func newStore(t *testing.T, pg *testenv.Postgres, now func() time.Time) (*Store, testDB) {
	t.Helper()
	dbCount++
	name := fmt.Sprintf("auditlog_%d", dbCount)
	var db testDB
	db.owner, db.runtime = pg.OwnedDatabase(t, name)
	db.super = pg.DSN
	if u, err := url.Parse(pg.DSN); err == nil {
		u.Path = "/" + name
		db.super = u.String()
	}
	ctx := context.Background()
	owner, err := pgxpool.New(ctx, db.owner)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if _, err := Migrate(ctx, owner); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	pc, _ := pgxpool.ParseConfig(db.runtime)
	if err := Grant(ctx, owner, pc.ConnConfig.User); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	pool, err := pgxpool.New(ctx, db.runtime)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := CheckRuntimeRole(ctx, pool); err != nil {
		t.Fatalf("CheckRuntimeRole: %v", err)
	}
	return NewStore(pool, now, auditsig.NewSigner(testKey)), db
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
	return verifyWith(t, s, VerifyOptions{})
}

func verifyWith(t *testing.T, s *Store, opts VerifyOptions) Verification {
	t.Helper()
	v, err := s.Verify(context.Background(), opts)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return v
}

// hasBreak reports whether v has a finding with reason about eventID (any when "") in
// month (any when zero).
func hasBreak(v Verification, reason BreakReason, eventID string, month time.Time) bool {
	for _, b := range v.Breaks {
		if b.Reason == reason && (eventID == "" || b.EventID == eventID) && (month.IsZero() || b.Month.Equal(month)) {
			return true
		}
	}
	return false
}

func breaks(v Verification) string {
	var out []string
	for _, b := range v.Breaks {
		out = append(out, b.String())
	}
	return strings.Join(out, "\n  ")
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec(t *testing.T, conn *pgx.Conn, sql string, args ...any) int64 {
	t.Helper()
	tag, err := conn.Exec(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return tag.RowsAffected()
}

// clock is a settable store clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func seqEvents(n int, prefix string, at time.Time) []*eventsv1.TaskEvent {
	var msgs []*eventsv1.TaskEvent
	for i := range n {
		msgs = append(msgs, taskEvent(fmt.Sprintf("%s%02d", prefix, i), "u1", "t1", at.Add(time.Duration(i)*time.Minute)))
	}
	return msgs
}

func TestStore(t *testing.T) {
	pg := testenv.StartPostgres(t)
	ctx := context.Background()
	base := time.Date(2026, 3, 14, 9, 0, 0, 123456789, time.UTC)
	thisMonth := monthOf(time.Now())

	t.Run("redeliveries and in-batch duplicates add nothing, seq stays dense", func(t *testing.T) {
		s, db := newStore(t, pg, time.Now)
		first := records(t, taskEvent("e1", "u1", "t1", base), taskEvent("e2", "u1", "t1", base), taskEvent("e1", "u1", "t1", base))
		if n, err := s.Append(ctx, first); err != nil || n != 2 {
			t.Fatalf("Append(e1, e2, e1) = %d, %v, want 2, nil", n, err)
		}
		second := records(t, taskEvent("e2", "u1", "t1", base), taskEvent("e3", "u2", "t2", base.AddDate(0, -2, 0)),
			taskEvent("e4", "u2", "t2", base.AddDate(1, 0, 0)))
		if n, err := s.Append(ctx, second); err != nil || n != 2 {
			t.Fatalf("Append(e2, e3, e4) = %d, %v, want 2, nil", n, err)
		}
		if n, err := s.Append(ctx, second); err != nil || n != 0 {
			t.Fatalf("Append(redelivery) = %d, %v, want 0, nil", n, err)
		}
		if v := mustVerify(t, s); !v.OK() || v.RowsChecked != 4 {
			t.Errorf("Verify = %d rows, findings:\n  %s\nwant 4 rows and none", v.RowsChecked, breaks(v))
		}
		var seqs []int64
		rows, _ := connect(t, db.super).Query(ctx, "SELECT seq FROM audit_events ORDER BY seq")
		seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil || fmt.Sprint(seqs) != "[1 2 3 4]" {
			t.Errorf("seqs = %v, %v, want [1 2 3 4] (dense: a redelivery takes no seq)", seqs, err)
		}
	})

	t.Run("the runtime role cannot change history", func(t *testing.T) {
		s, db := newStore(t, pg, time.Now)
		if _, err := s.Append(ctx, records(t, seqEvents(3, "e", base)...)); err != nil {
			t.Fatal(err)
		}
		part := "audit_events_" + thisMonth.Format("2006_01")
		for _, stmt := range []string{
			"UPDATE audit_events SET user_id = 'mallory'",
			"DELETE FROM audit_events",
			"TRUNCATE audit_events",
			"UPDATE " + part + " SET user_id = 'mallory'",
			"DELETE FROM " + part,
			"TRUNCATE " + part,
			"DROP TABLE " + part,
			"ALTER TABLE audit_events DETACH PARTITION " + part,
			"ALTER TABLE audit_events DISABLE TRIGGER ALL",
			"ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
			"ALTER TABLE " + part + " DISABLE TRIGGER ALL",
			"DROP TRIGGER audit_events_append_only ON audit_events",
			"UPDATE audit_chain_heads SET last_seq = 1",
			"DELETE FROM audit_chain_heads",
			"INSERT INTO audit_chain_heads VALUES ('1999-01-01', 1, '', '', '')",
			"UPDATE audit_state SET last_seq = 0",
			"UPDATE audit_event_ids SET event_id = 'x'",
			"DELETE FROM audit_event_ids",
			"TRUNCATE audit_event_ids",
			"DELETE FROM audit_checkpoints",
			"INSERT INTO audit_retention_log (month, row_count, first_seq, last_seq, last_hash, key_id, signature) VALUES ('1999-01-01', 0, 0, 0, '', '', '')",
			"CREATE TABLE mallory (x int)",
		} {
			_, err := s.pool.Exec(ctx, stmt)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
				t.Errorf("runtime role: %s: error %v, want PostgreSQL's insufficient_privilege (42501)", stmt, err)
			}
		}
		// What the runtime role may execute cannot be bent either.
		for _, stmt := range []string{
			"SELECT audit_advance(1, '{}', '{}', '{}', '{}', '{}')",                          // move the log back
			"SELECT audit_ensure_partition('1700-01-01')",                                    // a partition far from now
			"SELECT audit_drop_month(date_trunc('month', now())::date, 0, 0, 0, '', '', '')", // drop a recent month
		} {
			_, err := s.pool.Exec(ctx, stmt)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "22023" {
				t.Errorf("runtime role: %s: error %v, want the function's refusal (22023)", stmt, err)
			}
		}
		// The owner's mistakes are stopped by the triggers (its intent, by the signatures).
		owner := connect(t, db.owner)
		for _, stmt := range []string{"UPDATE audit_events SET user_id = 'mallory'", "DELETE FROM " + part, "TRUNCATE audit_events", "DELETE FROM audit_event_ids"} {
			if _, err := owner.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("owner: %s: error %v, want the append-only rejection", stmt, err)
			}
		}
		if v := mustVerify(t, s); !v.OK() || v.RowsChecked != 3 {
			t.Errorf("Verify = %d rows, findings:\n  %s\nwant 3 intact rows", v.RowsChecked, breaks(v))
		}
	})

	t.Run("a service role that could rewrite history is refused", func(t *testing.T) {
		_, db := newStore(t, pg, time.Now)
		for name, dsn := range map[string]string{"owner": db.owner, "superuser": db.super} {
			pool, err := pgxpool.New(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			err = CheckRuntimeRole(ctx, pool)
			pool.Close()
			if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
				t.Errorf("CheckRuntimeRole as the %s = %v, want a refusal naming DATABASE_URL", name, err)
			}
		}
		rc, err := pgx.ParseConfig(db.runtime)
		if err != nil {
			t.Fatal(err)
		}
		exec(t, connect(t, db.owner), "GRANT UPDATE ON audit_events TO "+pgx.Identifier{rc.User}.Sanitize())
		pool, _ := pgxpool.New(ctx, db.runtime)
		defer pool.Close()
		if err := CheckRuntimeRole(ctx, pool); err == nil || !strings.Contains(err.Error(), "audit_events UPDATE") {
			t.Errorf("CheckRuntimeRole with UPDATE granted = %v, want a refusal naming audit_events UPDATE", err)
		}
	})

	t.Run("tampering is named", func(t *testing.T) {
		msgs := seqEvents(30, "e", base)
		for _, tc := range []struct {
			name, sql, wantID string
			want              BreakReason
		}{
			{"payload altered", `UPDATE audit_events SET payload = jsonb_set(payload, '{task,title}', '"forged"') WHERE event_id = 'e17'`, "e17", ContentMismatch},
			{"column altered", `UPDATE audit_events SET user_id = 'mallory' WHERE event_id = 'e05'`, "e05", ContentMismatch},
			{"row removed", `DELETE FROM audit_events WHERE event_id = 'e11'`, "e12", PrevMismatch},
			{"row removed leaves a gap", `DELETE FROM audit_events WHERE event_id = 'e11'`, "e12", SeqGap},
			{"chain tail removed", `DELETE FROM audit_events WHERE event_id = 'e29'`, "e28", HeadMismatch},
			{"payload garbled", `UPDATE audit_events SET payload = '{"bogus": 1}' WHERE event_id = 'e03'`, "e03", Unreadable},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, db := newStore(t, pg, time.Now)
				if _, err := s.Append(ctx, records(t, msgs[:15]...)); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Append(ctx, records(t, msgs[15:]...)); err != nil {
					t.Fatal(err)
				}
				if v := mustVerify(t, s); !v.OK() {
					t.Fatalf("Verify before tampering:\n  %s", breaks(v))
				}
				conn := connect(t, db.super) // a superuser, behind the service's back
				exec(t, conn, "SET session_replication_role = replica")
				if n := exec(t, conn, tc.sql); n != 1 {
					t.Fatalf("%s: %d rows", tc.sql, n)
				}
				month := thisMonth
				if tc.want == SeqGap {
					month = time.Time{} // the month of a missing row is not known
				}
				if v := mustVerify(t, s); !hasBreak(v, tc.want, tc.wantID, month) {
					t.Errorf("Verify after %s, findings:\n  %s\nwant %s at %s", tc.name, breaks(v), tc.want, tc.wantID)
				}
			})
		}
	})

	t.Run("the owner rewriting a row and recomputing every hash and head is named", func(t *testing.T) {
		s, db := newStore(t, pg, time.Now)
		for _, batch := range [][]*eventsv1.TaskEvent{seqEvents(15, "e", base), seqEvents(15, "f", base)} {
			if _, err := s.Append(ctx, records(t, batch...)); err != nil {
				t.Fatal(err)
			}
		}
		if cp, err := s.Checkpoint(ctx); err != nil || cp == nil {
			t.Fatalf("Checkpoint = %v, %v", cp, err)
		}
		owner := connect(t, db.owner)
		part := "audit_events_" + thisMonth.Format("2006_01")
		exec(t, owner, "ALTER TABLE "+part+" DISABLE TRIGGER USER")
		exec(t, owner, `UPDATE audit_events SET payload = jsonb_set(payload, '{task,title}', '"forged"'), user_id = 'mallory' WHERE event_id = 'e07'`)
		// Recompute the chain from the forged row on, exactly as the service would.
		rs, err := owner.Query(ctx, "SELECT "+rowColumns+" FROM audit_events ORDER BY seq")
		if err != nil {
			t.Fatal(err)
		}
		all, err := pgx.CollectRows(rs, scanRow)
		if err != nil {
			t.Fatal(err)
		}
		prev := genesis(thisMonth)
		for _, r := range all {
			if brk := checkContent(r); brk != nil && brk.Reason != ContentMismatch {
				t.Fatal(brk)
			}
			r.PrevHash = prev
			r.Hash = rowHash(r)
			prev = r.Hash
			exec(t, owner, "UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE seq = $3", r.PrevHash, r.Hash, r.Seq)
		}
		exec(t, owner, "UPDATE audit_chain_heads SET last_hash = $1 WHERE month = $2", prev, thisMonth)
		v := mustVerify(t, s)
		if hasBreak(v, ContentMismatch, "", time.Time{}) || hasBreak(v, PrevMismatch, "", time.Time{}) {
			t.Errorf("the forgery is row-consistent, yet rows were flagged:\n  %s", breaks(v))
		}
		if !hasBreak(v, HeadSignatureInvalid, "", thisMonth) {
			t.Errorf("Verify after the forgery, findings:\n  %s\nwant the forged head of %s named", breaks(v), thisMonth.Format("2006-01"))
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

func TestIntegrity(t *testing.T) {
	pg := testenv.StartPostgres(t)
	ctx := context.Background()
	now := time.Now().UTC()
	thisMonth := monthOf(now)
	oldMonth := thisMonth.AddDate(0, -4, 0)

	// twoMonths stores 10 events received in oldMonth and 10 received now, and checkpoints.
	twoMonths := func(t *testing.T) (*Store, testDB, *clock) {
		t.Helper()
		c := &clock{t: oldMonth.Add(36 * time.Hour)}
		s, db := newStore(t, pg, c.now)
		if _, err := s.Append(ctx, records(t, seqEvents(10, "old", c.t)...)); err != nil {
			t.Fatal(err)
		}
		c.t = now
		if _, err := s.Append(ctx, records(t, seqEvents(10, "new", now)...)); err != nil {
			t.Fatal(err)
		}
		if cp, err := s.Checkpoint(ctx); err != nil || cp == nil || cp.Seq != 20 || len(cp.Heads) != 2 {
			t.Fatalf("Checkpoint = %+v, %v, want seq 20 with 2 heads", cp, err)
		}
		return s, db, c
	}

	t.Run("real retention verifies clean", func(t *testing.T) {
		s, _, _ := twoMonths(t)
		dropped, err := s.DropBefore(ctx, thisMonth.AddDate(0, -2, 0))
		if err != nil || len(dropped) != 1 || !dropped[0].Equal(oldMonth) {
			t.Fatalf("DropBefore = %v, %v, want [%s]", dropped, err, oldMonth.Format("2006-01"))
		}
		if v := mustVerify(t, s); !v.OK() || v.RowsChecked != 10 || v.FirstSeq != 11 {
			t.Errorf("Verify after retention = %d rows from seq %d, findings:\n  %s\nwant rows 11-20 and none", v.RowsChecked, v.FirstSeq, breaks(v))
		}
		// A redelivery of a dropped event is still recognised, and a new checkpoint verifies.
		if n, err := s.Append(ctx, records(t, seqEvents(1, "old", oldMonth)...)); err != nil || n != 0 {
			t.Errorf("Append(redelivery of a dropped event) = %d, %v, want 0, nil", n, err)
		}
		if _, err := s.Append(ctx, records(t, seqEvents(1, "late", oldMonth)...)); err != nil {
			t.Fatal(err)
		}
		if cp, err := s.Checkpoint(ctx); err != nil || cp == nil {
			t.Fatalf("Checkpoint = %v, %v", cp, err)
		}
		if v := mustVerify(t, s); !v.OK() || v.RowsChecked != 11 {
			t.Errorf("Verify = %d rows, findings:\n  %s\nwant 11 rows and none", v.RowsChecked, breaks(v))
		}
	})

	t.Run("a month dropped with its head is missing, not retained", func(t *testing.T) {
		s, db, _ := twoMonths(t)
		owner := connect(t, db.owner)
		exec(t, owner, "DROP TABLE audit_events_"+oldMonth.Format("2006_01"))
		exec(t, owner, "DELETE FROM audit_chain_heads WHERE month = $1", oldMonth)
		v := mustVerify(t, s)
		if !hasBreak(v, MonthMissing, "", oldMonth) || !hasBreak(v, SeqGap, "new00", time.Time{}) {
			t.Errorf("Verify, findings:\n  %s\nwant %s reported missing and seqs 1-10 as a gap", breaks(v), oldMonth.Format("2006-01"))
		}
		if hasBreak(v, RetentionInvalid, "", time.Time{}) {
			t.Errorf("a removal reported as a retention problem:\n  %s", breaks(v))
		}
	})

	t.Run("a month whose chain does not verify is not dropped", func(t *testing.T) {
		s, db, _ := twoMonths(t)
		part := "audit_events_" + oldMonth.Format("2006_01")
		owner := connect(t, db.owner)
		exec(t, owner, "ALTER TABLE "+part+" DISABLE TRIGGER USER")
		exec(t, owner, "UPDATE "+part+" SET user_id = 'mallory' WHERE event_id = 'old03'")
		if dropped, err := s.DropBefore(ctx, thisMonth.AddDate(0, -2, 0)); err == nil || len(dropped) != 0 || !strings.Contains(err.Error(), "old03") {
			t.Errorf("DropBefore = %v, %v, want a refusal naming old03", dropped, err)
		}
		if v := mustVerify(t, s); !hasBreak(v, ContentMismatch, "old03", oldMonth) {
			t.Errorf("Verify, findings:\n  %s\nwant old03 named", breaks(v))
		}
	})

	t.Run("a wrong public key makes every head invalid, naming the key id", func(t *testing.T) {
		s, _, _ := twoMonths(t)
		other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
		v := verifyWith(t, s, VerifyOptions{Keys: auditsig.NewKeyRing(other.Public().(ed25519.PublicKey))})
		id := auditsig.NewSigner(testKey).KeyID()
		for _, m := range []time.Time{oldMonth, thisMonth} {
			if !hasBreak(v, HeadSignatureInvalid, "", m) {
				t.Errorf("head of %s not reported invalid; findings:\n  %s", m.Format("2006-01"), breaks(v))
			}
		}
		for _, b := range v.Breaks {
			if !strings.Contains(b.Detail, id) {
				t.Errorf("finding %s does not name the signing key id %s", b, id)
			}
		}
		if !hasBreak(v, CheckpointMismatch, "", time.Time{}) {
			t.Errorf("the stored checkpoint verified under the wrong key; findings:\n  %s", breaks(v))
		}
	})

	t.Run("rolling the log back is caught by the auditor's checkpoint copy", func(t *testing.T) {
		c := &clock{t: now}
		s, db := newStore(t, pg, c.now)
		if _, err := s.Append(ctx, records(t, seqEvents(5, "a", now)...)); err != nil {
			t.Fatal(err)
		}
		owner := connect(t, db.owner)
		var head, sig []byte
		var keyID string
		if err := owner.QueryRow(ctx, "SELECT last_hash, key_id, signature FROM audit_chain_heads").Scan(&head, &keyID, &sig); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, records(t, seqEvents(5, "b", now)...)); err != nil {
			t.Fatal(err)
		}
		copied, err := s.Checkpoint(ctx) // published: the auditor keeps it
		if err != nil || copied == nil {
			t.Fatalf("Checkpoint = %v, %v", copied, err)
		}
		// The owner removes the newest rows and everything that mentions them, and puts
		// back the old head with its genuine signature.
		for _, tbl := range []string{"audit_events_" + thisMonth.Format("2006_01"), "audit_checkpoints"} {
			exec(t, owner, "ALTER TABLE "+tbl+" DISABLE TRIGGER USER")
		}
		exec(t, owner, "DELETE FROM audit_events WHERE seq > 5")
		exec(t, owner, "DELETE FROM audit_checkpoints")
		exec(t, owner, "UPDATE audit_state SET last_seq = 5")
		exec(t, owner, "UPDATE audit_chain_heads SET last_seq = 5, last_hash = $1, key_id = $2, signature = $3", head, keyID, sig)
		if v := mustVerify(t, s); !v.OK() {
			t.Logf("the database alone: findings:\n  %s", breaks(v))
		}
		v := verifyWith(t, s, VerifyOptions{Checkpoints: []auditsig.Checkpoint{*copied}})
		if !hasBreak(v, CheckpointMismatch, "", time.Time{}) {
			t.Errorf("Verify with the auditor's checkpoint, findings:\n  %s\nwant the checkpoint at seq 10 reported ahead of the log", breaks(v))
		}
	})

	t.Run("occurred_at over 500 years creates only the partitions of receipt", func(t *testing.T) {
		c := &clock{t: now}
		s, db := newStore(t, pg, c.now)
		start := time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC)
		step := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).Sub(start) / 10000
		var recs []Record
		inWindow := 0
		for i := range 10000 {
			at := start.Add(time.Duration(i) * step)
			if !at.Before(now.Add(-OccurredWindow.Past)) && !at.After(now.Add(OccurredWindow.Future)) {
				inWindow++
			}
			recs = append(recs, records(t, taskEvent(fmt.Sprintf("y%05d", i), "u1", "t1", at))...)
		}
		for i := 0; i < len(recs); i += 1000 {
			if _, err := s.Append(ctx, recs[i:i+1000]); err != nil {
				t.Fatal(err)
			}
		}
		super := connect(t, db.super)
		var parts, flagged int
		if err := super.QueryRow(ctx, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit_events'::regclass").Scan(&parts); err != nil {
			t.Fatal(err)
		}
		if err := super.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE occurred_out_of_window").Scan(&flagged); err != nil {
			t.Fatal(err)
		}
		if parts != 1 {
			t.Errorf("%d partitions, want 1 (the month of receipt)", parts)
		}
		if flagged != 10000-inWindow {
			t.Errorf("%d events flagged out of window, want %d", flagged, 10000-inWindow)
		}
		if v := mustVerify(t, s); !v.OK() || v.RowsChecked != 10000 {
			t.Errorf("Verify = %d rows, findings:\n  %s", v.RowsChecked, breaks(v))
		}
	})

	t.Run("verification is bounded per call and continues", func(t *testing.T) {
		s, _, _ := twoMonths(t)
		var total int64
		opts := VerifyOptions{MaxRows: 1}
		calls := 0
		for {
			calls++
			v := verifyWith(t, s, opts)
			if !v.OK() {
				t.Fatalf("findings:\n  %s", breaks(v))
			}
			total += v.RowsChecked
			if v.Next == 0 {
				break
			}
			opts.FromSeq = v.Next
		}
		if total != 20 || calls < 2 {
			t.Errorf("%d rows in %d calls, want 20 rows in several calls", total, calls)
		}
	})
}
