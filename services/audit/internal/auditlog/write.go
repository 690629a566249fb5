package auditlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/taskflow/taskflow-events/services/audit/auditsig"
)

// write appends rows in one transaction; fresh rows get their Seq set.
//
// It first assumes every event is new and copies the ids in (COPY: no ON CONFLICT, no
// RETURNING, the cheap path; redeliveries are rare); when one was stored before, the
// transaction fails on the primary key and is redone with the deduplicating insert.
func (s *Store) write(ctx context.Context, rows []*row) (int, error) {
	months := map[time.Time]bool{}
	for _, r := range rows {
		months[monthOf(r.ReceivedAt)] = true
	}
	refreshed, dedupe := false, false
	for {
		if err := s.ensureMonths(ctx, months); err != nil {
			return 0, err
		}
		for _, r := range rows {
			r.Seq = 0
		}
		n, err := s.appendTx(ctx, rows, months, dedupe)
		var pgErr *pgconn.PgError
		switch {
		case !errors.As(err, &pgErr):
		case pgErr.Code == "23514" && !refreshed:
			// No partition for a row: retention dropped a month we had cached.
			s.forgetMonths(months)
			refreshed = true
			continue
		case pgErr.Code == "23505" && pgErr.ConstraintName == "audit_event_ids_pkey" && !dedupe:
			dedupe = true // a redelivery: skip the ids stored before
			continue
		}
		if err != nil {
			for _, r := range rows {
				r.Seq = 0
			}
		}
		return n, err
	}
}

var copyColumns = []string{"seq", "event_id", "topic", "kind", "ce_type", "payload_type", "occurred_at",
	"received_at", "occurred_out_of_window", "actor_id", "user_id", "task_id", "payload", "trace_id", "prev_hash", "hash"}

// appendTx writes rows in one transaction: it takes the chain lock and reads the chain
// state, records the event ids, links the fresh rows into their months' chains, copies
// them and advances the chain heads. It returns how many rows were fresh.
//
// The transaction takes two round trips plus two COPYs: BEGIN, the lock and the state
// reads go in one pipeline (with the deduplicating id insert on a redelivery), then the
// COPY of the ids, then the COPY of the rows, then the advance and COMMIT in a second
// pipeline. On a saturated machine every round trip is also a wake-up of the
// backend and of this goroutine, so their number shows in the throughput.
func (s *Store) appendTx(ctx context.Context, rows []*row, months map[time.Time]bool, dedupe bool) (int, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin append: %w", err)
	}
	// A connection given back inside a transaction (a failed ROLLBACK) is closed by the pool.
	defer conn.Release()
	done := false
	defer func() {
		if !done {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK") // the error that matters is returned
		}
	}()

	// Under the chain lock no other writer (of any replica) inserts ids or advances the
	// log. With dedupe the ids are inserted with ON CONFLICT DO NOTHING and the ones
	// returned are the fresh rows; without, every row is fresh or the insert fails. Fresh
	// rows get the next seqs in batch order, so seq stays dense (a gap is always a removed
	// row). The conflict check is a probe of the primary key by
	// construction: an "event_id = ANY($1)" lookup was planned as a sequential scan while
	// the table had no statistics yet, which made every append cost O(table).
	lastSeq, heads, isFresh, err := lockChain(ctx, conn.Conn(), rows, months, dedupe)
	if err != nil {
		return 0, err
	}
	if len(isFresh) == 0 { // every event was a redelivery
		err := commit(ctx, conn.Conn(), nil)
		done = err == nil
		return 0, err
	}
	fresh, headSeq, lastSeq := link(rows, isFresh, lastSeq, heads)
	if err := copyRows(ctx, conn.Conn(), fresh); err != nil {
		return 0, err
	}
	if err := commit(ctx, conn.Conn(), s.advance(lastSeq, heads, headSeq)); err != nil {
		return 0, err
	}
	done = true
	return len(fresh), nil
}

// lockChain begins a transaction on conn, takes the chain lock, reads the newest seq and
// the heads of the months' chains (a month without a head is absent) and records the
// rows' event ids, returning the ones not recorded before (the fresh rows).
// Without dedupe the ids are copied in after the pipeline, and one recorded before fails
// the COPY: COPY costs PostgreSQL about half of what an INSERT … SELECT unnest(…) does per
// id (no executor per row, one WAL record per page; 2 µs of its CPU per event less in
// make bench-audit, where this insert was the largest cost beyond raw COPY's).
func lockChain(ctx context.Context, conn *pgx.Conn, rows []*row, months map[time.Time]bool, dedupe bool) (int64, map[time.Time][]byte, map[string]bool, error) {
	monthList := make([]time.Time, 0, len(months))
	for m := range months {
		monthList = append(monthList, m)
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.EventID
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SELECT pg_advisory_xact_lock($1)", chainLockKey)
	b.Queue("SELECT last_seq FROM audit_state")
	b.Queue("SELECT month, last_hash FROM audit_chain_heads WHERE month = ANY($1::date[])", monthList)
	if dedupe {
		b.Queue(`INSERT INTO audit_event_ids (event_id) SELECT * FROM unnest($1::text[])
			ON CONFLICT (event_id) DO NOTHING RETURNING event_id`, ids)
	}
	br := conn.SendBatch(ctx, b)
	fail := func(what string, err error) (int64, map[time.Time][]byte, map[string]bool, error) {
		_ = br.Close() // the error that matters is the one returned
		return 0, nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	if _, err := br.Exec(); err != nil {
		return fail("begin append", err)
	}
	if _, err := br.Exec(); err != nil {
		return fail("take chain lock", err)
	}
	var lastSeq int64
	if err := br.QueryRow().Scan(&lastSeq); err != nil {
		return fail("read the newest seq", err)
	}
	heads := map[time.Time][]byte{}
	headRows, _ := br.Query()
	var month time.Time
	var last []byte
	if _, err := pgx.ForEachRow(headRows, []any{&month, &last}, func() error {
		heads[monthOf(month)] = last
		return nil
	}); err != nil {
		return fail("read chain heads", err)
	}
	isFresh := make(map[string]bool, len(rows))
	if dedupe {
		idRows, _ := br.Query()
		var id string
		if _, err := pgx.ForEachRow(idRows, []any{&id}, func() error { isFresh[id] = true; return nil }); err != nil {
			return fail(fmt.Sprintf("record %d event ids", len(rows)), err)
		}
	}
	if err := br.Close(); err != nil {
		return 0, nil, nil, fmt.Errorf("append batch: %w", err)
	}
	if !dedupe {
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_event_ids"}, []string{"event_id"},
			pgx.CopyFromSlice(len(ids), func(i int) ([]any, error) { return []any{ids[i]}, nil })); err != nil {
			return 0, nil, nil, fmt.Errorf("record %d event ids: %w", len(ids), err)
		}
		for _, id := range ids {
			isFresh[id] = true
		}
	}
	return lastSeq, heads, isFresh, nil
}

// link gives the fresh rows, in batch order, the seqs after lastSeq and chains each to its
// month's head, which it advances in heads. It returns the fresh rows, the new head seq of
// each month it advanced and the new newest seq.
func link(rows []*row, isFresh map[string]bool, lastSeq int64, heads map[time.Time][]byte) ([]*row, map[time.Time]int64, int64) {
	fresh := make([]*row, 0, len(isFresh))
	for _, r := range rows {
		if isFresh[r.EventID] {
			lastSeq++
			r.Seq = lastSeq
			fresh = append(fresh, r)
		}
	}
	headSeq := map[time.Time]int64{}
	for _, r := range fresh {
		m := monthOf(r.ReceivedAt)
		prev, ok := heads[m]
		if !ok {
			prev = genesis(m)
		}
		r.PrevHash = prev
		r.Hash = rowHash(r)
		heads[m], headSeq[m] = r.Hash, r.Seq
	}
	return fresh, headSeq, lastSeq
}

// copyRows writes the fresh rows with COPY.
func copyRows(ctx context.Context, conn *pgx.Conn, fresh []*row) error {
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_events"}, copyColumns, pgx.CopyFromSlice(len(fresh), func(i int) ([]any, error) {
		r := fresh[i]
		return []any{r.Seq, r.EventID, r.Topic, r.Kind, r.CEType, r.PayloadType, r.OccurredAt, r.ReceivedAt,
			r.OccurredOutOfWindow, r.ActorID, r.UserID, r.TaskID, r.PayloadJSON, r.TraceID, r.PrevHash, r.Hash}, nil
	})); err != nil {
		return fmt.Errorf("copy %d audit rows: %w", len(fresh), err)
	}
	return nil
}

// advance signs the new head of every month in headSeq and returns the statement that
// records the heads and the newest seq.
func (s *Store) advance(lastSeq int64, heads map[time.Time][]byte, headSeq map[time.Time]int64) *pgx.QueuedQuery {
	n := len(headSeq)
	hm, hs, hh, hk, sig := make([]time.Time, 0, n), make([]int64, 0, n), make([][]byte, 0, n), make([]string, 0, n), make([][]byte, 0, n)
	for m, sq := range headSeq {
		h := auditsig.Head{Month: m, LastSeq: sq, Hash: heads[m]}
		hm, hs, hh = append(hm, m), append(hs, sq), append(hh, h.Hash)
		hk, sig = append(hk, s.signer.KeyID()), append(sig, s.signer.Sign(auditsig.HeadMessage(h)))
	}
	return &pgx.QueuedQuery{SQL: "SELECT audit_advance($1, $2::date[], $3::bigint[], $4::bytea[], $5::text[], $6::bytea[])",
		Arguments: []any{lastSeq, hm, hs, hh, hk, sig}}
}

// commit runs advance (when not nil) and COMMIT in one round trip. A failed advance
// leaves the transaction aborted (PostgreSQL skips the COMMIT of the pipeline).
func commit(ctx context.Context, conn *pgx.Conn, advance *pgx.QueuedQuery) error {
	b := &pgx.Batch{}
	if advance != nil {
		b.QueuedQueries = append(b.QueuedQueries, advance)
	}
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	if advance != nil {
		if _, err := br.Exec(); err != nil {
			_ = br.Close() // the error that matters is the one returned
			return fmt.Errorf("advance chain heads: %w", err)
		}
	}
	tag, err := br.Exec()
	if err == nil && tag.String() != "COMMIT" {
		err = fmt.Errorf("transaction ended with %s", tag)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("commit append: %w", err)
	}
	return nil
}
