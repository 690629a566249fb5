package auditlog

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// BreakReason says how a link is broken.
type BreakReason int

// The ways a chain can break.
const (
	// ContentMismatch: the row does not hash to its stored hash (it was altered).
	ContentMismatch BreakReason = iota + 1
	// PrevMismatch: prev_hash is not the previous row's hash (a row was removed or inserted).
	PrevMismatch
	// HeadMismatch: the chain ends before its recorded head (rows at its end were removed).
	HeadMismatch
	// Unreadable: the stored payload does not parse as its payload type.
	Unreadable
)

// Break is the first broken link found.
type Break struct {
	Seq     int64
	EventID string
	Reason  BreakReason
	Detail  string
}

// Verification is the result of Verify.
type Verification struct {
	RowsChecked int64
	FirstSeq    int64
	LastSeq     int64
	Break       *Break // nil when the range verified
}

// verifyChunk is how many rows Verify reads per query.
const verifyChunk = 2000

// Verify recomputes the chain over rows with fromSeq <= seq <= toSeq (toSeq 0: to the end,
// and then also checks that each chain ends at its recorded head) and reports the first
// broken link. It reads one consistent snapshot.
func (s *Store) Verify(ctx context.Context, fromSeq, toSeq int64) (Verification, error) {
	var v Verification
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return v, fmt.Errorf("begin verification: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	type tail struct {
		seq  int64
		id   string
		hash []byte
	}
	last := map[time.Time]tail{} // per month: the last row verified
	after := fromSeq - 1
	for {
		q := `SELECT seq, event_id, topic, kind, ce_type, payload_type, occurred_at, received_at, actor_id,
			user_id, task_id, payload::text, trace_id, prev_hash, hash
			FROM audit_events WHERE seq > $1 AND ($2 = 0 OR seq <= $2) ORDER BY seq LIMIT $3`
		rs, err := tx.Query(ctx, q, after, toSeq, verifyChunk)
		if err != nil {
			return v, fmt.Errorf("read audit rows after seq %d: %w", after, err)
		}
		chunk, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (*row, error) {
			var x row
			var payload string
			err := r.Scan(&x.Seq, &x.EventID, &x.Topic, &x.Kind, &x.CEType, &x.PayloadType, &x.OccurredAt, &x.ReceivedAt,
				&x.ActorID, &x.UserID, &x.TaskID, &payload, &x.TraceID, &x.PrevHash, &x.Hash)
			x.PayloadJSON = []byte(payload)
			return &x, err
		})
		if err != nil {
			return v, fmt.Errorf("read audit rows after seq %d: %w", after, err)
		}
		for _, r := range chunk {
			if v.FirstSeq == 0 {
				v.FirstSeq = r.Seq
			}
			v.LastSeq, after = r.Seq, r.Seq
			v.RowsChecked++
			m := monthOf(r.OccurredAt)
			if brk := checkContent(r); brk != nil {
				v.Break = brk
				return v, nil
			}
			want, ok := last[m]
			if !ok {
				h, err := predecessorHash(ctx, tx, m, r.Seq)
				if err != nil {
					return v, err
				}
				want.hash = h
			}
			if !bytes.Equal(r.PrevHash, want.hash) {
				v.Break = &Break{Seq: r.Seq, EventID: r.EventID, Reason: PrevMismatch,
					Detail: fmt.Sprintf("prev_hash %x, want %x (hash of the previous row of %s)", r.PrevHash, want.hash, m.Format("2006-01"))}
				return v, nil
			}
			last[m] = tail{seq: r.Seq, id: r.EventID, hash: r.Hash}
		}
		if len(chunk) < verifyChunk {
			break
		}
	}
	if toSeq != 0 {
		return v, nil
	}
	rs, err := tx.Query(ctx, "SELECT month, last_seq, last_hash FROM audit_chain_heads WHERE last_seq >= $1 ORDER BY last_seq", fromSeq)
	if err != nil {
		return v, fmt.Errorf("read chain heads: %w", err)
	}
	var month time.Time
	var headSeq int64
	var headHash []byte
	var brk *Break
	_, err = pgx.ForEachRow(rs, []any{&month, &headSeq, &headHash}, func() error {
		t := last[monthOf(month)]
		if brk == nil && (t.seq != headSeq || !bytes.Equal(t.hash, headHash)) {
			brk = &Break{Seq: t.seq, EventID: t.id, Reason: HeadMismatch,
				Detail: fmt.Sprintf("chain of %s ends at seq %d, its head is seq %d", monthOf(month).Format("2006-01"), t.seq, headSeq)}
		}
		return nil
	})
	if err != nil {
		return v, fmt.Errorf("read chain heads: %w", err)
	}
	v.Break = brk
	return v, nil
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
	err := tx.QueryRow(ctx, `SELECT hash FROM audit_events WHERE occurred_at >= $1 AND occurred_at < $2 AND seq < $3
		ORDER BY seq DESC LIMIT 1`, month, month.AddDate(0, 1, 0), seq).Scan(&h)
	switch {
	case err == pgx.ErrNoRows:
		return genesis(month), nil
	case err != nil:
		return nil, fmt.Errorf("read predecessor of seq %d: %w", seq, err)
	}
	return h, nil
}
