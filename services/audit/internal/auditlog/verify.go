package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/taskflow/taskflow-events/services/audit/auditsig"
)

// BreakReason says what is wrong.
type BreakReason int

// The findings of a verification.
const (
	// ContentMismatch: the row does not hash to its stored hash (it was altered).
	ContentMismatch BreakReason = iota + 1
	// PrevMismatch: prev_hash is not the previous row's hash (a row was removed or inserted).
	PrevMismatch
	// HeadMismatch: a chain does not end at its recorded head, or has no head.
	HeadMismatch
	// Unreadable: the stored payload does not parse as its payload type.
	Unreadable
	// HeadSignatureInvalid: a chain head's signature does not verify (it was forged).
	HeadSignatureInvalid
	// MonthMissing: a month that a head or checkpoint vouches for has no rows and no signed
	// retention record (it was removed, not retained).
	MonthMissing
	// SeqGap: sequence numbers are missing and no retention record accounts for them.
	SeqGap
	// RetentionInvalid: a retention record's signature does not verify, or rows remain.
	RetentionInvalid
	// CheckpointMismatch: a checkpoint's signature does not verify, or the log disagrees
	// with a signed checkpoint (rows or heads changed or removed since).
	CheckpointMismatch
)

var reasonNames = map[BreakReason]string{
	ContentMismatch: "content mismatch", PrevMismatch: "prev mismatch", HeadMismatch: "head mismatch",
	Unreadable: "unreadable", HeadSignatureInvalid: "head signature invalid", MonthMissing: "month missing",
	SeqGap: "seq gap", RetentionInvalid: "retention invalid", CheckpointMismatch: "checkpoint mismatch",
}

func (r BreakReason) String() string { return reasonNames[r] }

// Break is one finding: a row, a month or a range that does not verify.
type Break struct {
	Seq     int64
	EventID string
	// Month is the chain the finding is about; zero when it is not about one chain.
	Month  time.Time
	Reason BreakReason
	Detail string
}

func (b Break) String() string {
	s := b.Reason.String()
	if !b.Month.IsZero() {
		s += " in " + b.Month.Format("2006-01")
	}
	if b.Seq != 0 {
		s += fmt.Sprintf(" at seq %d", b.Seq)
	}
	if b.EventID != "" {
		s += " (" + b.EventID + ")"
	}
	return s + ": " + b.Detail
}

// maxBreaks bounds the findings one verification reports.
const maxBreaks = 100

// VerifyOptions selects what Verify checks.
type VerifyOptions struct {
	// FromSeq..ToSeq is the range of rows to walk; 0 means from the first / to the end.
	// Only a walk that reaches the end (ToSeq 0) runs the whole-log checks: heads,
	// retention records, checkpoints and missing rows at the end.
	FromSeq, ToSeq int64
	// MaxRows and Until bound one call: the walk stops after the chunk that reaches either,
	// and Verification.Next says where to continue. Zero means unbounded.
	MaxRows int64
	Until   time.Time
	// Keys to check signatures with; nil means the store's own (Store.Keys).
	Keys auditsig.KeyRing
	// Checkpoints from outside the database (an auditor's copy) to check the log against,
	// besides the newest one stored.
	Checkpoints []auditsig.Checkpoint
}

// Verification is the result of Verify.
type Verification struct {
	RowsChecked int64
	FirstSeq    int64
	LastSeq     int64
	// Breaks are the findings, in the order found, at most maxBreaks.
	Breaks []Break
	// Next is non-zero when the walk stopped at a bound: call again with FromSeq = Next.
	Next int64
}

// OK says whether everything checked verified.
func (v *Verification) OK() bool { return len(v.Breaks) == 0 }

func (v *Verification) add(b Break) {
	if len(v.Breaks) < maxBreaks {
		v.Breaks = append(v.Breaks, b)
	}
}

// rowColumns are the columns scanRow reads, in its order.
const rowColumns = `seq, event_id, topic, kind, ce_type, payload_type, occurred_at, received_at, occurred_out_of_window,
	actor_id, user_id, task_id, payload::text, trace_id, prev_hash, hash`

// scanRow reads a row selected with rowColumns.
func scanRow(r pgx.CollectableRow) (*row, error) {
	var x row
	var payload string
	err := r.Scan(&x.Seq, &x.EventID, &x.Topic, &x.Kind, &x.CEType, &x.PayloadType, &x.OccurredAt, &x.ReceivedAt,
		&x.OccurredOutOfWindow, &x.ActorID, &x.UserID, &x.TaskID, &payload, &x.TraceID, &x.PrevHash, &x.Hash)
	x.PayloadJSON = []byte(payload)
	return &x, err
}

// verifyChunk is how many rows Verify reads per query.
const verifyChunk = 2000

// Verify walks rows FromSeq..ToSeq in seq order in one consistent snapshot: it recomputes
// each row's hash, checks each prev_hash against the previous row of the same month and
// checks that seq has no gap a signed retention record does not account for. A walk to the
// end then checks every chain head (signature and the row it names), every retention
// record, and the newest stored checkpoint plus opts.Checkpoints against the log.
func (s *Store) Verify(ctx context.Context, opts VerifyOptions) (Verification, error) {
	var v Verification
	keys := opts.Keys
	if keys == nil {
		keys = s.keys
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return v, fmt.Errorf("begin verification: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	retained, err := readRetention(ctx, tx)
	if err != nil {
		return v, err
	}
	from := max(opts.FromSeq, 1)
	expect := from // the next seq the walk should meet
	last := map[time.Time][]byte{}
	after := from - 1
	for {
		limit := int64(verifyChunk)
		if opts.MaxRows > 0 {
			limit = min(limit, max(opts.MaxRows-v.RowsChecked, 1))
		}
		q := `SELECT ` + rowColumns + ` FROM audit_events WHERE seq > $1 AND ($2 = 0 OR seq <= $2) ORDER BY seq LIMIT $3`
		rs, err := tx.Query(ctx, q, after, opts.ToSeq, limit)
		if err != nil {
			return v, fmt.Errorf("read audit rows after seq %d: %w", after, err)
		}
		chunk, err := pgx.CollectRows(rs, scanRow)
		if err != nil {
			return v, fmt.Errorf("read audit rows after seq %d: %w", after, err)
		}
		for _, r := range chunk {
			if v.FirstSeq == 0 {
				v.FirstSeq = r.Seq
			}
			v.LastSeq, after = r.Seq, r.Seq
			v.RowsChecked++
			m := monthOf(r.ReceivedAt)
			switch {
			case r.Seq < expect:
				v.add(Break{Seq: r.Seq, EventID: r.EventID, Month: m, Reason: SeqGap, Detail: fmt.Sprintf("seq %d appears twice", r.Seq)})
			case r.Seq > expect:
				if lo, hi, ok := uncovered(expect, r.Seq-1, retained); !ok {
					v.add(Break{Seq: r.Seq, EventID: r.EventID, Reason: SeqGap,
						Detail: fmt.Sprintf("seqs %d to %d before this row are missing and no retention record accounts for them", lo, hi)})
				}
			}
			expect = r.Seq + 1
			if brk := checkContent(r); brk != nil {
				brk.Month = m
				v.add(*brk)
			}
			want, ok := last[m]
			if !ok {
				if want, err = predecessorHash(ctx, tx, m, r.Seq); err != nil {
					return v, err
				}
			}
			if !bytes.Equal(r.PrevHash, want) {
				v.add(Break{Seq: r.Seq, EventID: r.EventID, Month: m, Reason: PrevMismatch,
					Detail: fmt.Sprintf("prev_hash %x, want %x (hash of the previous row of %s)", r.PrevHash, want, m.Format("2006-01"))})
			}
			last[m] = r.Hash
		}
		if int64(len(chunk)) < limit {
			break
		}
		if (opts.MaxRows > 0 && v.RowsChecked >= opts.MaxRows) || (!opts.Until.IsZero() && time.Now().After(opts.Until)) {
			v.Next = v.LastSeq + 1
			return v, nil
		}
	}
	if opts.ToSeq != 0 {
		return v, nil
	}
	w := logCheck{tx: tx, keys: keys, retained: retained, v: &v}
	return v, w.run(ctx, expect-1, opts.Checkpoints)
}

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
		return nil
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

// checkContent parses the stored payload back and recomputes the row's hash.
func checkContent(r *row) *Break {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(r.PayloadType))
	if err != nil {
		return &Break{Seq: r.Seq, EventID: r.EventID, Reason: Unreadable, Detail: fmt.Sprintf("unknown payload type %q", r.PayloadType)}
	}
	msg := mt.New().Interface()
	if err := protojson.Unmarshal(r.PayloadJSON, msg); err != nil {
		return &Break{Seq: r.Seq, EventID: r.EventID, Reason: Unreadable, Detail: fmt.Sprintf("payload is not a %s: %v", r.PayloadType, err)}
	}
	digest, err := payloadDigest(msg)
	if err != nil {
		return &Break{Seq: r.Seq, EventID: r.EventID, Reason: Unreadable, Detail: err.Error()}
	}
	r.Digest = digest
	if got := rowHash(r); !bytes.Equal(got, r.Hash) {
		return &Break{Seq: r.Seq, EventID: r.EventID, Reason: ContentMismatch,
			Detail: fmt.Sprintf("content hashes to %x, stored hash is %x", got, r.Hash)}
	}
	return nil
}

// predecessorHash returns the hash of the row before seq in month's chain, or the
// month's genesis value when seq is its first row.
func predecessorHash(ctx context.Context, tx pgx.Tx, month time.Time, seq int64) ([]byte, error) {
	var h []byte
	err := tx.QueryRow(ctx, `SELECT hash FROM audit_events WHERE received_at >= $1 AND received_at < $2 AND seq < $3
		ORDER BY seq DESC LIMIT 1`, month, month.AddDate(0, 1, 0), seq).Scan(&h)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return genesis(month), nil
	case err != nil:
		return nil, fmt.Errorf("read predecessor of seq %d: %w", seq, err)
	}
	return h, nil
}
