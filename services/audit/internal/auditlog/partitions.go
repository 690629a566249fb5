package auditlog

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
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
		if _, err := s.pool.Exec(ctx, "SELECT audit_ensure_partition($1::date)", m); err != nil {
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

// DropBefore drops every partition whose whole month lies before cutoff, with its chain
// head, and records the drop in audit_retention_log. Rows are never deleted one by one.
// It returns the months dropped.
func (s *Store) DropBefore(ctx context.Context, cutoff time.Time) ([]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'audit_events'::regclass ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list audit partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list audit partitions: %w", err)
	}
	var dropped []time.Time
	for _, name := range names {
		m, err := time.Parse("audit_events_2006_01", name)
		if err != nil || m.AddDate(0, 1, 0).After(cutoff) {
			continue
		}
		if err := s.dropMonth(ctx, name, m); err != nil {
			return dropped, err
		}
		dropped = append(dropped, m)
	}
	return dropped, nil
}

func (s *Store) dropMonth(ctx context.Context, name string, m time.Time) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin drop of %s: %w", name, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", chainLockKey); err != nil {
		return fmt.Errorf("take chain lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_retention_log (month, last_seq)
		VALUES ($1, (SELECT last_seq FROM audit_chain_heads WHERE month = $1))
		ON CONFLICT (month) DO UPDATE SET last_seq = excluded.last_seq, dropped_at = now()`, m); err != nil {
		return fmt.Errorf("record drop of %s: %w", name, err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM audit_chain_heads WHERE month = $1", m); err != nil {
		return fmt.Errorf("remove chain head of %s: %w", name, err)
	}
	if _, err := tx.Exec(ctx, "DROP TABLE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("drop partition %s: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit drop of %s: %w", name, err)
	}
	s.forgetMonths(map[time.Time]bool{m: true})
	return nil
}
