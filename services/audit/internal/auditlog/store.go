package auditlog

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/taskflow/taskflow-events/internal/pgmigrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the embedded schema migrations under pgmigrate's advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("open embedded migrations: %w", err)
	}
	return pgmigrate.Apply(ctx, pool, sub, "audit")
}

// chainLockKey is the transaction-scoped advisory lock that serialises appends to the
// chain (across every replica) and partition drops.
var chainLockKey = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("taskflow-audit-chain"))
	return int64(h.Sum64())
}()

// Store is the audit log in PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time

	mu    sync.Mutex
	parts map[time.Time]bool // months whose partition is known to exist
}

// NewStore returns a Store over a migrated database; now is the clock for received_at.
func NewStore(pool *pgxpool.Pool, now func() time.Time) *Store {
	return &Store{pool: pool, now: now, parts: map[time.Time]bool{}}
}

var jsonOpts = protojson.MarshalOptions{UseProtoNames: true}

// Append stores the records whose event_id is not stored yet, in one transaction, and
// returns how many it added. Records repeating an event_id (already stored, or earlier in
// recs) are skipped. On error nothing was stored.
func (s *Store) Append(ctx context.Context, recs []Record) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	received := s.now().UTC().Truncate(time.Microsecond)
	seen := make(map[string]bool, len(recs))
	rows := make([]*row, 0, len(recs))
	for _, rec := range recs {
		if seen[rec.EventID] {
			continue
		}
		seen[rec.EventID] = true
		js, err := jsonOpts.Marshal(rec.Payload)
		if err != nil {
			return 0, fmt.Errorf("encode payload of %s as JSON: %w", rec.EventID, err)
		}
		digest, err := payloadDigest(rec.Payload)
		if err != nil {
			return 0, fmt.Errorf("digest payload of %s: %w", rec.EventID, err)
		}
		rows = append(rows, &row{
			EventID: rec.EventID, Topic: rec.Topic, Kind: rec.Kind, CEType: rec.CEType,
			PayloadType: string(rec.Payload.ProtoReflect().Descriptor().FullName()),
			OccurredAt:  rec.OccurredAt.UTC().Truncate(time.Microsecond), ReceivedAt: received,
			ActorID: rec.ActorID, UserID: rec.UserID, TaskID: rec.TaskID, TraceID: rec.TraceID,
			PayloadJSON: js, Digest: digest,
		})
	}
	months := map[time.Time]bool{}
	for _, r := range rows {
		months[monthOf(r.OccurredAt)] = true
	}
	for attempt := 0; ; attempt++ {
		if err := s.ensureMonths(ctx, months); err != nil {
			return 0, err
		}
		n, err := s.appendTx(ctx, rows, months)
		var pgErr *pgconn.PgError
		if attempt == 0 && errors.As(err, &pgErr) && pgErr.Code == "23514" {
			// No partition for a row: retention dropped a month we had cached.
			s.forgetMonths(months)
			continue
		}
		return n, err
	}
}

var copyColumns = []string{"seq", "event_id", "topic", "kind", "ce_type", "payload_type", "occurred_at",
	"received_at", "actor_id", "user_id", "task_id", "payload", "trace_id", "prev_hash", "hash"}

func (s *Store) appendTx(ctx context.Context, rows []*row, months map[time.Time]bool) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin append: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.EventID
	}
	monthList := make([]time.Time, 0, len(months))
	for m := range months {
		monthList = append(monthList, m)
	}
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1)", chainLockKey)
	b.Queue(`INSERT INTO audit_event_ids (event_id, seq)
		SELECT id, nextval('audit_seq') FROM unnest($1::text[]) WITH ORDINALITY AS u(id, ord) ORDER BY ord
		ON CONFLICT DO NOTHING RETURNING event_id, seq`, ids)
	b.Queue("SELECT month, last_hash FROM audit_chain_heads WHERE month = ANY($1::date[])", monthList)
	br := tx.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return 0, fmt.Errorf("take chain lock: %w", err)
	}
	seqs := make(map[string]int64, len(rows))
	idRows, _ := br.Query()
	var id string
	var seq int64
	if _, err := pgx.ForEachRow(idRows, []any{&id, &seq}, func() error { seqs[id] = seq; return nil }); err != nil {
		br.Close()
		return 0, fmt.Errorf("reserve event ids: %w", err)
	}
	heads := map[time.Time][]byte{}
	headRows, _ := br.Query()
	var month time.Time
	var last []byte
	if _, err := pgx.ForEachRow(headRows, []any{&month, &last}, func() error {
		heads[monthOf(month)] = last
		return nil
	}); err != nil {
		br.Close()
		return 0, fmt.Errorf("read chain heads: %w", err)
	}
	if err := br.Close(); err != nil {
		return 0, fmt.Errorf("append batch: %w", err)
	}
	if len(seqs) == 0 {
		return 0, tx.Commit(ctx) // every event was a redelivery
	}

	fresh := make([]*row, 0, len(seqs))
	for _, r := range rows {
		if sq, ok := seqs[r.EventID]; ok {
			r.Seq = sq
			fresh = append(fresh, r)
		}
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].Seq < fresh[j].Seq })
	headSeq := map[time.Time]int64{}
	for _, r := range fresh {
		m := monthOf(r.OccurredAt)
		prev, ok := heads[m]
		if !ok {
			prev = genesis(m)
		}
		r.PrevHash = prev
		r.Hash = rowHash(r)
		heads[m], headSeq[m] = r.Hash, r.Seq
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, copyColumns, pgx.CopyFromSlice(len(fresh), func(i int) ([]any, error) {
		r := fresh[i]
		return []any{r.Seq, r.EventID, r.Topic, r.Kind, r.CEType, r.PayloadType, r.OccurredAt, r.ReceivedAt,
			r.ActorID, r.UserID, r.TaskID, r.PayloadJSON, r.TraceID, r.PrevHash, r.Hash}, nil
	})); err != nil {
		return 0, fmt.Errorf("copy %d audit rows: %w", len(fresh), err)
	}
	hm, hs, hh := make([]time.Time, 0, len(headSeq)), make([]int64, 0, len(headSeq)), make([][]byte, 0, len(headSeq))
	for m, sq := range headSeq {
		hm, hs, hh = append(hm, m), append(hs, sq), append(hh, heads[m])
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_chain_heads (month, last_seq, last_hash)
		SELECT * FROM unnest($1::date[], $2::bigint[], $3::bytea[])
		ON CONFLICT (month) DO UPDATE SET last_seq = excluded.last_seq, last_hash = excluded.last_hash`, hm, hs, hh); err != nil {
		return 0, fmt.Errorf("advance chain heads: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit append: %w", err)
	}
	return len(fresh), nil
}
