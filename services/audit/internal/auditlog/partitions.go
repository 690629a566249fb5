package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/taskflow/taskflow-events/services/audit/auditsig"
)

// ensureMonths creates the partitions of months not known to exist yet.
func (s *Store) ensureMonths(ctx context.Context, months map[time.Time]bool) error {
	for m := range months {
		s.mu.Lock()
		known := s.parts[m]
		s.mu.Unlock()
		if known {
			continue
		}
		// 42P07: another transaction created it between the function's existence check and
		// its CREATE TABLE (two replicas, or two writers of one Store, both seeing the month
		// first): the partition exists, which is all this asks. The function's advisory lock
		// does not make the second caller see the first one's table, since taking an
		// advisory lock does not refresh the catalog the function checks.
		var pgErr *pgconn.PgError
		if _, err := s.pool.Exec(ctx, "SELECT audit_ensure_partition($1::date)", m); err != nil &&
			(!errors.As(err, &pgErr) || pgErr.Code != "42P07") {
			return fmt.Errorf("create partition for %s: %w", m.Format("2006-01"), err)
		}
		s.mu.Lock()
		s.parts[m] = true
		s.mu.Unlock()
	}
	return nil
}

func (s *Store) forgetMonths(months map[time.Time]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for m := range months {
		delete(s.parts, m)
	}
}

// EnsurePartitions creates the partitions from the month of now through ahead months later.
func (s *Store) EnsurePartitions(ctx context.Context, now time.Time, ahead int) error {
	months := map[time.Time]bool{}
	m := monthOf(now)
	for i := 0; i <= ahead; i++ {
		months[m.AddDate(0, i, 0)] = true
	}
	return s.ensureMonths(ctx, months)
}

// DropBefore drops every partition whose whole month lies before cutoff. Each month's
// chain is verified first (retention must not launder tampering: a month that does not
// verify is kept and reported), then a signed retention record is written and the
// partition dropped, both by audit_drop_month. Rows are never deleted one by one. It
// returns the months dropped.
func (s *Store) DropBefore(ctx context.Context, cutoff time.Time) ([]time.Time, error) {
	months, err := partitionMonths(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	var dropped []time.Time
	for _, m := range months {
		if m.AddDate(0, 1, 0).After(cutoff) {
			continue
		}
		if err := s.dropMonth(ctx, m); err != nil {
			return dropped, err
		}
		dropped = append(dropped, m)
	}
	return dropped, nil
}

func (s *Store) dropMonth(ctx context.Context, m time.Time) error {
	name := m.Format("2006-01")
	if brk, err := s.verifyMonth(ctx, m); err != nil {
		return err
	} else if brk != nil {
		return fmt.Errorf("%s not dropped: its chain does not verify: %s", name, brk)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin drop of %s: %w", name, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", chainLockKey); err != nil {
		return fmt.Errorf("take chain lock: %w", err)
	}
	r := auditsig.Retention{Month: m, LastHash: []byte{}}
	err = tx.QueryRow(ctx, `SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) FROM audit_events
		WHERE received_at >= $1 AND received_at < $2`, m, m.AddDate(0, 1, 0)).Scan(&r.Rows, &r.FirstSeq, &r.LastSeq)
	if err != nil {
		return fmt.Errorf("count the rows of %s: %w", name, err)
	}
	if r.Rows > 0 {
		if err := tx.QueryRow(ctx, "SELECT last_hash FROM audit_chain_heads WHERE month = $1", m).Scan(&r.LastHash); err != nil {
			return fmt.Errorf("read the chain head of %s: %w", name, err)
		}
	}
	r.KeyID, r.Signature = s.signer.KeyID(), s.signer.Sign(auditsig.RetentionMessage(r))
	if _, err := tx.Exec(ctx, "SELECT audit_drop_month($1, $2, $3, $4, $5, $6, $7)",
		m, r.Rows, r.FirstSeq, r.LastSeq, r.LastHash, r.KeyID, r.Signature); err != nil {
		return fmt.Errorf("drop %s: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit drop of %s: %w", name, err)
	}
	s.forgetMonths(map[time.Time]bool{m: true})
	return nil
}

// verifyMonth walks one month's chain from its genesis to its signed head and returns the
// first finding, if any.
func (s *Store) verifyMonth(ctx context.Context, m time.Time) (*Break, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("begin verification of %s: %w", m.Format("2006-01"), err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	prev, after := genesis(m), int64(0)
	var lastSeq int64
	for {
		rs, err := tx.Query(ctx, `SELECT `+rowColumns+` FROM audit_events WHERE received_at >= $1 AND received_at < $2 AND seq > $3 ORDER BY seq LIMIT $4`,
			m, m.AddDate(0, 1, 0), after, verifyChunk)
		if err != nil {
			return nil, fmt.Errorf("read rows of %s: %w", m.Format("2006-01"), err)
		}
		chunk, err := pgx.CollectRows(rs, scanRow)
		if err != nil {
			return nil, fmt.Errorf("read rows of %s: %w", m.Format("2006-01"), err)
		}
		for _, r := range chunk {
			if brk := checkContent(r); brk != nil {
				return brk, nil
			}
			if !bytes.Equal(r.PrevHash, prev) {
				return &Break{Seq: r.Seq, EventID: r.EventID, Month: m, Reason: PrevMismatch, Detail: "prev_hash is not the previous row's hash"}, nil
			}
			prev, after, lastSeq = r.Hash, r.Seq, r.Seq
		}
		if len(chunk) < verifyChunk {
			break
		}
	}
	if lastSeq == 0 {
		return nil, nil
	}
	heads, err := readHeads(ctx, tx)
	if err != nil {
		return nil, err
	}
	h := heads[m]
	switch {
	case h == nil:
		return &Break{Month: m, Reason: HeadMismatch, Detail: "no chain head"}, nil
	case h.LastSeq != lastSeq || !bytes.Equal(h.Hash, prev):
		return &Break{Seq: lastSeq, Month: m, Reason: HeadMismatch, Detail: fmt.Sprintf("chain ends at seq %d, its head is seq %d", lastSeq, h.LastSeq)}, nil
	}
	if err := s.keys.Check(h.keyID, auditsig.HeadMessage(h.Head), h.sig); err != nil {
		return &Break{Seq: h.LastSeq, Month: m, Reason: HeadSignatureInvalid, Detail: err.Error()}, nil
	}
	return nil, nil
}
