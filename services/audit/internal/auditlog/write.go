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
func (s *Store) write(ctx context.Context, rows []*row) (int, error) {
	months := map[time.Time]bool{}
	for _, r := range rows {
		months[monthOf(r.ReceivedAt)] = true
	}
	for attempt := 0; ; attempt++ {
		if err := s.ensureMonths(ctx, months); err != nil {
			return 0, err
		}
		for _, r := range rows {
			r.Seq = 0
		}
		n, err := s.appendTx(ctx, rows, months)
		var pgErr *pgconn.PgError
		if attempt == 0 && errors.As(err, &pgErr) && pgErr.Code == "23514" {
			// No partition for a row: retention dropped a month we had cached.
			s.forgetMonths(months)
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
func (s *Store) appendTx(ctx context.Context, rows []*row, months map[time.Time]bool) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin append: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	// Under the chain lock no other writer (of any replica) inserts ids or advances the
	// log. The ids are inserted with ON CONFLICT DO NOTHING; the ones returned are the
	// fresh rows, which get the next seqs in batch order, so seq stays dense (a gap is
	// always a removed row). The conflict check is a probe of the primary key by
	// construction: an "event_id = ANY($1)" lookup was planned as a sequential scan while
	// the table had no statistics yet, which made every append cost O(table).
	lastSeq, heads, err := lockChain(ctx, tx, months)
	if err != nil {
		return 0, err
	}
	isFresh, err := insertEventIDs(ctx, tx, rows)
	if err != nil {
		return 0, err
	}
	if len(isFresh) == 0 {
		return 0, tx.Commit(ctx) // every event was a redelivery
	}
	fresh, headSeq, lastSeq := link(rows, isFresh, lastSeq, heads)
	if err := copyRows(ctx, tx, fresh); err != nil {
		return 0, err
	}
	if err := s.advanceHeads(ctx, tx, lastSeq, heads, headSeq); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit append: %w", err)
	}
	return len(fresh), nil
}

// lockChain takes the chain lock in tx and reads the newest seq and the heads of the
// months' chains (a month without a head is absent), in one round trip.
func lockChain(ctx context.Context, tx pgx.Tx, months map[time.Time]bool) (int64, map[time.Time][]byte, error) {
	monthList := make([]time.Time, 0, len(months))
	for m := range months {
		monthList = append(monthList, m)
	}
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1)", chainLockKey)
	b.Queue("SELECT last_seq FROM audit_state")
	b.Queue("SELECT month, last_hash FROM audit_chain_heads WHERE month = ANY($1::date[])", monthList)
	br := tx.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close() // the error that matters is the one returned below
		return 0, nil, fmt.Errorf("take chain lock: %w", err)
	}
	var lastSeq int64
	if err := br.QueryRow().Scan(&lastSeq); err != nil {
		_ = br.Close() // the error that matters is the one returned below
		return 0, nil, fmt.Errorf("read the newest seq: %w", err)
	}
	heads := map[time.Time][]byte{}
	headRows, _ := br.Query()
	var month time.Time
	var last []byte
	if _, err := pgx.ForEachRow(headRows, []any{&month, &last}, func() error {
		heads[monthOf(month)] = last
		return nil
	}); err != nil {
		_ = br.Close() // the error that matters is the one returned below
		return 0, nil, fmt.Errorf("read chain heads: %w", err)
	}
	if err := br.Close(); err != nil {
		return 0, nil, fmt.Errorf("append batch: %w", err)
	}
	return lastSeq, heads, nil
}

// insertEventIDs records the rows' event ids and returns the ones not recorded before:
// the fresh rows.
func insertEventIDs(ctx context.Context, tx pgx.Tx, rows []*row) (map[string]bool, error) {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.EventID
	}
	idRows, _ := tx.Query(ctx, `INSERT INTO audit_event_ids (event_id) SELECT * FROM unnest($1::text[])
		ON CONFLICT (event_id) DO NOTHING RETURNING event_id`, ids)
	isFresh := make(map[string]bool, len(rows))
	var id string
	if _, err := pgx.ForEachRow(idRows, []any{&id}, func() error { isFresh[id] = true; return nil }); err != nil {
		return nil, fmt.Errorf("record %d event ids: %w", len(rows), err)
	}
	return isFresh, nil
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
func copyRows(ctx context.Context, tx pgx.Tx, fresh []*row) error {
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, copyColumns, pgx.CopyFromSlice(len(fresh), func(i int) ([]any, error) {
		r := fresh[i]
		return []any{r.Seq, r.EventID, r.Topic, r.Kind, r.CEType, r.PayloadType, r.OccurredAt, r.ReceivedAt,
			r.OccurredOutOfWindow, r.ActorID, r.UserID, r.TaskID, r.PayloadJSON, r.TraceID, r.PrevHash, r.Hash}, nil
	})); err != nil {
		return fmt.Errorf("copy %d audit rows: %w", len(fresh), err)
	}
	return nil
}

// advanceHeads signs the new head of every month in headSeq and records the heads and
// the newest seq.
func (s *Store) advanceHeads(ctx context.Context, tx pgx.Tx, lastSeq int64, heads map[time.Time][]byte, headSeq map[time.Time]int64) error {
	n := len(headSeq)
	hm, hs, hh, hk, sig := make([]time.Time, 0, n), make([]int64, 0, n), make([][]byte, 0, n), make([]string, 0, n), make([][]byte, 0, n)
	for m, sq := range headSeq {
		h := auditsig.Head{Month: m, LastSeq: sq, Hash: heads[m]}
		hm, hs, hh = append(hm, m), append(hs, sq), append(hh, h.Hash)
		hk, sig = append(hk, s.signer.KeyID()), append(sig, s.signer.Sign(auditsig.HeadMessage(h)))
	}
	if _, err := tx.Exec(ctx, "SELECT audit_advance($1, $2::date[], $3::bigint[], $4::bytea[], $5::text[], $6::bytea[])",
		lastSeq, hm, hs, hh, hk, sig); err != nil {
		return fmt.Errorf("advance chain heads: %w", err)
	}
	return nil
}
