package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taskflow/taskflow-events/services/audit/auditsig"
)

// logCheck runs the whole-log checks at the end of a walk.
type logCheck struct {
	tx       pgx.Tx
	keys     auditsig.KeyRing
	retained map[time.Time]auditsig.Retention
	v        *Verification
	tails    map[time.Time]*tailRow
}

type tailRow struct {
	seq  int64
	id   string
	hash []byte
}

func (c *logCheck) run(ctx context.Context, walkedTo int64, extra []auditsig.Checkpoint) error {
	var newest int64
	if err := c.tx.QueryRow(ctx, "SELECT last_seq FROM audit_state").Scan(&newest); err != nil {
		return fmt.Errorf("read the newest seq: %w", err)
	}
	if walkedTo < newest {
		if lo, hi, ok := uncovered(walkedTo+1, newest, c.retained); !ok {
			c.v.add(Break{Seq: lo, Reason: SeqGap,
				Detail: fmt.Sprintf("seqs %d to %d at the end of the log (newest seq %d) are missing and no retention record accounts for them", lo, hi, newest)})
		}
	}
	heads, err := readHeads(ctx, c.tx)
	if err != nil {
		return err
	}
	if c.tails, err = readTails(ctx, c.tx); err != nil {
		return err
	}
	months := map[time.Time]bool{}
	for m := range heads {
		months[m] = true
	}
	for m := range c.tails {
		months[m] = true
	}
	for m := range c.retained {
		months[m] = true
	}
	for _, m := range sortedMonths(months) {
		c.month(m, heads[m])
	}
	cps := extra
	stored, err := readNewestCheckpoint(ctx, c.tx)
	if err != nil {
		return err
	}
	if stored != nil {
		cps = append([]auditsig.Checkpoint{*stored}, cps...)
	}
	for _, cp := range cps {
		if err := c.checkpoint(ctx, cp, newest); err != nil {
			return err
		}
	}
	return nil
}

// month checks one month's head, tail and retention record against each other.
func (c *logCheck) month(m time.Time, head *signedHead) {
	tail, ret := c.tails[m], c.retained[m]
	_, isRetained := c.retained[m]
	if head != nil {
		if err := c.keys.Check(head.keyID, auditsig.HeadMessage(head.Head), head.sig); err != nil {
			c.v.add(Break{Seq: head.LastSeq, Month: m, Reason: HeadSignatureInvalid, Detail: "chain head: " + err.Error()})
		}
	}
	if isRetained {
		if err := c.keys.Check(ret.KeyID, auditsig.RetentionMessage(ret), ret.Signature); err != nil {
			c.v.add(Break{Month: m, Reason: RetentionInvalid, Detail: "retention record: " + err.Error()})
		}
	}
	switch {
	case tail != nil && head == nil:
		c.v.add(Break{Seq: tail.seq, EventID: tail.id, Month: m, Reason: HeadMismatch,
			Detail: fmt.Sprintf("the chain of %s has rows up to seq %d but no chain head", m.Format("2006-01"), tail.seq)})
	case tail != nil && (tail.seq != head.LastSeq || !bytes.Equal(tail.hash, head.Hash)):
		c.v.add(Break{Seq: tail.seq, EventID: tail.id, Month: m, Reason: HeadMismatch,
			Detail: fmt.Sprintf("the chain of %s ends at seq %d, its head is seq %d", m.Format("2006-01"), tail.seq, head.LastSeq)})
	case tail != nil && isRetained:
		c.v.add(Break{Month: m, Reason: RetentionInvalid, Detail: fmt.Sprintf("%s was dropped by retention but has rows", m.Format("2006-01"))})
	case tail == nil && !isRetained && head != nil:
		c.v.add(Break{Seq: head.LastSeq, Month: m, Reason: MonthMissing,
			Detail: fmt.Sprintf("%s has a chain head at seq %d but no rows and no retention record: removed, not retained", m.Format("2006-01"), head.LastSeq)})
	case tail == nil && isRetained && head != nil && ret.Rows > 0 && (ret.LastSeq != head.LastSeq || !bytes.Equal(ret.LastHash, head.Hash)):
		c.v.add(Break{Seq: head.LastSeq, Month: m, Reason: RetentionInvalid,
			Detail: fmt.Sprintf("retention record of %s ends at seq %d, its chain head at seq %d", m.Format("2006-01"), ret.LastSeq, head.LastSeq)})
	}
}

// checkpoint checks a signed checkpoint against the log: every head it names must still be
// in the log (the row with that seq and hash) or be accounted for by retention.
func (c *logCheck) checkpoint(ctx context.Context, cp auditsig.Checkpoint, newest int64) error {
	name := fmt.Sprintf("checkpoint at seq %d (%s)", cp.Seq, cp.CreatedAt.UTC().Format(time.RFC3339))
	if err := auditsig.VerifyCheckpoint(cp, c.keys); err != nil {
		c.v.add(Break{Seq: cp.Seq, Reason: CheckpointMismatch, Detail: name + ": " + err.Error()})
		return nil //nolint:nilerr // a bad checkpoint is a finding in the report, not a failure of the check
	}
	if cp.Seq > newest {
		c.v.add(Break{Seq: cp.Seq, Reason: CheckpointMismatch,
			Detail: fmt.Sprintf("%s is ahead of the log, whose newest seq is %d: rows at the end were removed", name, newest)})
	}
	for _, h := range cp.Heads {
		if ret, ok := c.retained[h.Month]; ok {
			if ret.LastSeq < h.LastSeq || ret.LastSeq == h.LastSeq && !bytes.Equal(ret.LastHash, h.Hash) {
				c.v.add(Break{Seq: h.LastSeq, Month: h.Month, Reason: CheckpointMismatch,
					Detail: fmt.Sprintf("%s: the retention record of %s does not cover its head at seq %d", name, h.Month.Format("2006-01"), h.LastSeq)})
			}
			continue
		}
		if c.tails[h.Month] == nil {
			c.v.add(Break{Seq: h.LastSeq, Month: h.Month, Reason: MonthMissing,
				Detail: fmt.Sprintf("%s vouches for %s up to seq %d, which has no rows and no retention record: removed, not retained", name, h.Month.Format("2006-01"), h.LastSeq)})
			continue
		}
		var hash []byte
		var id string
		err := c.tx.QueryRow(ctx, "SELECT event_id, hash FROM audit_events WHERE seq = $1 AND received_at >= $2 AND received_at < $3",
			h.LastSeq, h.Month, h.Month.AddDate(0, 1, 0)).Scan(&id, &hash)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read row %d for a checkpoint: %w", h.LastSeq, err)
		}
		if !bytes.Equal(hash, h.Hash) {
			c.v.add(Break{Seq: h.LastSeq, EventID: id, Month: h.Month, Reason: CheckpointMismatch,
				Detail: fmt.Sprintf("%s: the row at seq %d of %s is missing or differs from the signed head", name, h.LastSeq, h.Month.Format("2006-01"))})
		}
	}
	return nil
}

// uncovered reports whether every seq in lo..hi lies in a retained month's seq range;
// if not, it returns the first uncovered stretch.
func uncovered(lo, hi int64, retained map[time.Time]auditsig.Retention) (int64, int64, bool) {
	rs := make([]auditsig.Retention, 0, len(retained))
	for _, r := range retained {
		if r.Rows > 0 {
			rs = append(rs, r)
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].FirstSeq < rs[j].FirstSeq })
	at := lo
	for _, r := range rs {
		if r.FirstSeq > at {
			break
		}
		if r.LastSeq >= at {
			at = r.LastSeq + 1
		}
		if at > hi {
			return 0, 0, true
		}
	}
	if at > hi {
		return 0, 0, true
	}
	end := hi
	for _, r := range rs {
		if r.FirstSeq > at && r.FirstSeq-1 < end {
			end = r.FirstSeq - 1
		}
	}
	return at, end, false
}

func sortedMonths(set map[time.Time]bool) []time.Time {
	out := make([]time.Time, 0, len(set))
	for m := range set {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

type signedHead struct {
	auditsig.Head
	keyID string
	sig   []byte
}

func readHeads(ctx context.Context, q pgx.Tx) (map[time.Time]*signedHead, error) {
	rs, err := q.Query(ctx, "SELECT month, last_seq, last_hash, key_id, signature FROM audit_chain_heads")
	if err != nil {
		return nil, fmt.Errorf("read chain heads: %w", err)
	}
	out := map[time.Time]*signedHead{}
	var h signedHead
	_, err = pgx.ForEachRow(rs, []any{&h.Month, &h.LastSeq, &h.Hash, &h.keyID, &h.sig}, func() error {
		x := h
		x.Month = monthOf(h.Month)
		out[x.Month] = &x
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read chain heads: %w", err)
	}
	return out, nil
}

func readRetention(ctx context.Context, q pgx.Tx) (map[time.Time]auditsig.Retention, error) {
	rs, err := q.Query(ctx, "SELECT month, row_count, first_seq, last_seq, last_hash, key_id, signature FROM audit_retention_log")
	if err != nil {
		return nil, fmt.Errorf("read retention records: %w", err)
	}
	out := map[time.Time]auditsig.Retention{}
	var r auditsig.Retention
	_, err = pgx.ForEachRow(rs, []any{&r.Month, &r.Rows, &r.FirstSeq, &r.LastSeq, &r.LastHash, &r.KeyID, &r.Signature}, func() error {
		r.Month = monthOf(r.Month)
		out[r.Month] = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read retention records: %w", err)
	}
	return out, nil
}

// readTails returns, per month that has rows, its row with the highest seq.
func readTails(ctx context.Context, q pgx.Tx) (map[time.Time]*tailRow, error) {
	months, err := partitionMonths(ctx, q)
	if err != nil {
		return nil, err
	}
	out := map[time.Time]*tailRow{}
	for _, m := range months {
		var t tailRow
		err := q.QueryRow(ctx, `SELECT seq, event_id, hash FROM audit_events WHERE received_at >= $1 AND received_at < $2
			ORDER BY seq DESC LIMIT 1`, m, m.AddDate(0, 1, 0)).Scan(&t.seq, &t.id, &t.hash)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return nil, fmt.Errorf("read the last row of %s: %w", m.Format("2006-01"), err)
		default:
			out[m] = &t
		}
	}
	return out, nil
}

// partitionMonths lists the months that have a partition.
func partitionMonths(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) ([]time.Time, error) {
	rows, err := q.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'audit_events'::regclass ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list audit partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list audit partitions: %w", err)
	}
	var out []time.Time
	for _, n := range names {
		if m, err := time.Parse("audit_events_2006_01", n); err == nil {
			out = append(out, m)
		}
	}
	return out, nil
}
