package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	w := rowWalk{tx: tx, retained: retained, v: &v, expect: from, last: map[time.Time][]byte{}}
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
			after = r.Seq
			if err := w.check(ctx, r); err != nil {
				return v, err
			}
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
	c := logCheck{tx: tx, keys: keys, retained: retained, v: &v}
	// c.run adds the whole-log breaks to v: call it before v is read.
	err = c.run(ctx, w.expect-1, opts.Checkpoints)
	return v, err
}

// rowWalk checks the rows of a walk, one after the other in seq order.
type rowWalk struct {
	tx       pgx.Tx
	retained map[time.Time]auditsig.Retention
	v        *Verification
	expect   int64                // the next seq the walk should meet
	last     map[time.Time][]byte // per month, the hash of the last row walked
}

// check counts r in the verification and checks that no seq before it is missing
// unaccounted, that its content hashes to its hash and that its prev_hash is the hash of
// the previous row of its month (read from the database for a month's first row walked).
func (w *rowWalk) check(ctx context.Context, r *row) error {
	v := w.v
	if v.FirstSeq == 0 {
		v.FirstSeq = r.Seq
	}
	v.LastSeq = r.Seq
	v.RowsChecked++
	m := monthOf(r.ReceivedAt)
	switch {
	case r.Seq < w.expect:
		v.add(Break{Seq: r.Seq, EventID: r.EventID, Month: m, Reason: SeqGap, Detail: fmt.Sprintf("seq %d appears twice", r.Seq)})
	case r.Seq > w.expect:
		if lo, hi, ok := uncovered(w.expect, r.Seq-1, w.retained); !ok {
			v.add(Break{Seq: r.Seq, EventID: r.EventID, Reason: SeqGap,
				Detail: fmt.Sprintf("seqs %d to %d before this row are missing and no retention record accounts for them", lo, hi)})
		}
	}
	w.expect = r.Seq + 1
	if brk := checkContent(r); brk != nil {
		brk.Month = m
		v.add(*brk)
	}
	want, ok := w.last[m]
	if !ok {
		var err error
		if want, err = predecessorHash(ctx, w.tx, m, r.Seq); err != nil {
			return err
		}
	}
	if !bytes.Equal(r.PrevHash, want) {
		v.add(Break{Seq: r.Seq, EventID: r.EventID, Month: m, Reason: PrevMismatch,
			Detail: fmt.Sprintf("prev_hash %x, want %x (hash of the previous row of %s)", r.PrevHash, want, m.Format("2006-01"))})
	}
	w.last[m] = r.Hash
	return nil
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
