package auditlog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taskflow/taskflow-events/services/audit/auditsig"
)

// headJSON is a head as stored in audit_checkpoints.heads.
type headJSON struct {
	Month   string `json:"month"` // YYYY-MM
	LastSeq int64  `json:"last_seq"`
	Hash    []byte `json:"last_hash"` // base64
}

// Checkpoint signs and stores a checkpoint of the log as it is now, unless the newest
// stored checkpoint already covers the newest seq (then it returns nil). Replicas may
// race; one of them stores the checkpoint of a seq, the others return nil.
func (s *Store) Checkpoint(ctx context.Context) (*auditsig.Checkpoint, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("begin checkpoint: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	cp := auditsig.Checkpoint{CreatedAt: s.now().UTC().Truncate(time.Microsecond), KeyID: s.signer.KeyID()}
	if err := tx.QueryRow(ctx, "SELECT last_seq FROM audit_state").Scan(&cp.Seq); err != nil {
		return nil, fmt.Errorf("read the newest seq: %w", err)
	}
	prev, err := readNewestCheckpoint(ctx, tx)
	if err != nil {
		return nil, err
	}
	if cp.Seq == 0 || prev != nil && prev.Seq >= cp.Seq {
		return nil, nil
	}
	heads, err := readHeads(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, h := range heads {
		cp.Heads = append(cp.Heads, h.Head)
	}
	sort.Slice(cp.Heads, func(i, j int) bool { return cp.Heads[i].Month.Before(cp.Heads[j].Month) })
	cp.Signature = s.signer.Sign(auditsig.CheckpointMessage(cp))
	js := make([]headJSON, len(cp.Heads))
	for i, h := range cp.Heads {
		js[i] = headJSON{Month: h.Month.Format("2006-01"), LastSeq: h.LastSeq, Hash: h.Hash}
	}
	tag, err := tx.Exec(ctx, `INSERT INTO audit_checkpoints (seq, created_at, heads, key_id, signature)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING`, cp.Seq, cp.CreatedAt, js, cp.KeyID, cp.Signature)
	if err != nil {
		return nil, fmt.Errorf("store checkpoint at seq %d: %w", cp.Seq, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit checkpoint at seq %d: %w", cp.Seq, err)
	}
	if tag.RowsAffected() == 0 {
		return nil, nil
	}
	return &cp, nil
}

func readNewestCheckpoint(ctx context.Context, tx pgx.Tx) (*auditsig.Checkpoint, error) {
	var cp auditsig.Checkpoint
	var js []headJSON
	err := tx.QueryRow(ctx, `SELECT seq, created_at, heads, key_id, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`).
		Scan(&cp.Seq, &cp.CreatedAt, &js, &cp.KeyID, &cp.Signature)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read the newest checkpoint: %w", err)
	}
	cp.CreatedAt = cp.CreatedAt.UTC()
	for _, h := range js {
		m, err := time.Parse("2006-01", h.Month)
		if err != nil {
			return nil, fmt.Errorf("checkpoint at seq %d: head month %q: %w", cp.Seq, h.Month, err)
		}
		cp.Heads = append(cp.Heads, auditsig.Head{Month: m, LastSeq: h.LastSeq, Hash: h.Hash})
	}
	return &cp, nil
}
