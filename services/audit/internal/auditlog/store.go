package auditlog

import (
	"context"
	"crypto/ed25519"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/taskflow/taskflow-events/internal/pgmigrate"
	"github.com/taskflow/taskflow-events/services/audit/auditsig"
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
	pool   *pgxpool.Pool
	now    func() time.Time
	signer *auditsig.Signer
	keys   auditsig.KeyRing // what Verify checks signatures against by default

	mu    sync.Mutex
	parts map[time.Time]bool // months whose partition is known to exist

	gmu     sync.Mutex // guards the group commit queue
	queue   []*appendReq
	writing bool // a caller is writing the queue
}

// NewStore returns a Store over a migrated database; now is the clock for received_at,
// signer signs chain heads, checkpoints and retention records, and retired are the public
// keys of earlier signing keys, still accepted by Verify.
func NewStore(pool *pgxpool.Pool, now func() time.Time, signer *auditsig.Signer, retired ...ed25519.PublicKey) *Store {
	keys := auditsig.NewKeyRing(append(retired, signer.PublicKey())...)
	return &Store{pool: pool, now: now, signer: signer, keys: keys, parts: map[time.Time]bool{}}
}

// Keys is the key ring Verify uses by default: the signing key and the retired ones.
func (s *Store) Keys() auditsig.KeyRing { return s.keys }

// OccurredWindow is how far occurred_at may lie before and after received_at. An event
// outside it is stored with OccurredOutOfWindow set; it never decides a partition.
var OccurredWindow = struct{ Past, Future time.Duration }{Past: 366 * 24 * time.Hour, Future: 24 * time.Hour}

var jsonOpts = protojson.MarshalOptions{UseProtoNames: true}

// maxGroupRows bounds how many rows one group commit writes.
const maxGroupRows = 5000

// appendReq is one caller's share of a group commit.
type appendReq struct {
	rows []*row
	done chan appendResult
}

type appendResult struct {
	n    int
	err  error
	lead bool // the caller becomes the writer for the queued requests
}

// Append stores the records whose event_id is not stored yet and returns how many it
// added. Records repeating an event_id (already stored, or earlier in recs) are skipped.
// On error none of recs was stored.
//
// Concurrent calls are group-committed: while one transaction is being written, arriving
// calls queue up, and the next transaction writes all of them (up to maxGroupRows) at once.
// The chain is serialised anyway, so this turns many small transactions into few big ones.
func (s *Store) Append(ctx context.Context, recs []Record) (int, error) {
	rows, err := s.prepare(recs)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	req := &appendReq{rows: rows, done: make(chan appendResult, 1)}
	s.gmu.Lock()
	s.queue = append(s.queue, req)
	lead := !s.writing
	s.writing = true
	s.gmu.Unlock()
	for {
		if lead {
			s.writeQueued(ctx, req)
		}
		select {
		case r := <-req.done:
			if r.lead {
				lead = true
				continue
			}
			return r.n, r.err
		case <-ctx.Done():
			s.abandon(req)
			return 0, fmt.Errorf("append %d audit records: %w", len(rows), ctx.Err())
		}
	}
}

// groupWriteTimeout bounds one group-commit transaction, independently of the context of
// the caller that happens to write it.
const groupWriteTimeout = 30 * time.Second

// writeQueued writes groups of queued requests until own is written, then hands the
// writer role to the oldest queued request, if any.
func (s *Store) writeQueued(ctx context.Context, own *appendReq) {
	for written := false; !written; {
		s.gmu.Lock()
		var group []*appendReq
		n := 0
		for len(s.queue) > 0 && (len(group) == 0 || n+len(s.queue[0].rows) <= maxGroupRows) {
			group = append(group, s.queue[0])
			n += len(s.queue[0].rows)
			s.queue = s.queue[1:]
		}
		s.gmu.Unlock()
		var all []*row
		seen := make(map[string]bool, n)
		for _, r := range group {
			written = written || r == own
			for _, x := range r.rows {
				if !seen[x.EventID] {
					seen[x.EventID] = true
					all = append(all, x)
				}
			}
		}
		// The group holds other callers' rows: one caller's deadline must not abort them.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupWriteTimeout)
		_, err := s.write(wctx, all)
		cancel()
		for _, r := range group {
			res := appendResult{err: err}
			for _, x := range r.rows {
				if x.Seq != 0 {
					res.n++
				}
			}
			r.done <- res
		}
	}
	s.gmu.Lock()
	defer s.gmu.Unlock()
	if len(s.queue) == 0 {
		s.writing = false
		return
	}
	s.queue[0].done <- appendResult{lead: true}
}

// abandon takes a waiting request out of the queue. A request already being written
// stays (a redelivery of its events is deduplicated); a writer role handed to it is passed on.
func (s *Store) abandon(req *appendReq) {
	s.gmu.Lock()
	defer s.gmu.Unlock()
	for i, r := range s.queue {
		if r == req {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			break
		}
	}
	select {
	case r := <-req.done:
		if !r.lead {
			return
		}
		if len(s.queue) == 0 {
			s.writing = false
		} else {
			s.queue[0].done <- appendResult{lead: true}
		}
	default:
	}
}

// prepare turns records into rows (payload JSON and digest computed), dropping repeats.
func (s *Store) prepare(recs []Record) ([]*row, error) {
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
			return nil, fmt.Errorf("encode payload of %s as JSON: %w", rec.EventID, err)
		}
		digest, err := payloadDigest(rec.Payload)
		if err != nil {
			return nil, fmt.Errorf("digest payload of %s: %w", rec.EventID, err)
		}
		occurred := rec.OccurredAt.UTC().Truncate(time.Microsecond)
		rows = append(rows, &row{Event: Event{
			EventID: rec.EventID, Topic: rec.Topic, Kind: rec.Kind, CEType: rec.CEType,
			PayloadType: string(rec.Payload.ProtoReflect().Descriptor().FullName()),
			OccurredAt:  occurred, ReceivedAt: received,
			OccurredOutOfWindow: occurred.Before(received.Add(-OccurredWindow.Past)) || occurred.After(received.Add(OccurredWindow.Future)),
			ActorID:             rec.ActorID, UserID: rec.UserID, TaskID: rec.TaskID, TraceID: rec.TraceID,
			PayloadJSON: js,
		}, Digest: digest})
	}
	return rows, nil
}

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

func (s *Store) appendTx(ctx context.Context, rows []*row, months map[time.Time]bool) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin append: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	monthList := make([]time.Time, 0, len(months))
	for m := range months {
		monthList = append(monthList, m)
	}
	// Under the chain lock no other writer (of any replica) inserts ids or advances the
	// log. The ids are inserted with ON CONFLICT DO NOTHING; the ones returned are the
	// fresh rows, which get the next seqs in batch order, so seq stays dense (a gap is
	// always a removed row). The conflict check is a probe of the primary key by
	// construction: an "event_id = ANY($1)" lookup was planned as a sequential scan while
	// the table had no statistics yet, which made every append cost O(table).
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1)", chainLockKey)
	b.Queue("SELECT last_seq FROM audit_state")
	b.Queue("SELECT month, last_hash FROM audit_chain_heads WHERE month = ANY($1::date[])", monthList)
	br := tx.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return 0, fmt.Errorf("take chain lock: %w", err)
	}
	var lastSeq int64
	if err := br.QueryRow().Scan(&lastSeq); err != nil {
		br.Close()
		return 0, fmt.Errorf("read the newest seq: %w", err)
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

	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.EventID
	}
	idRows, _ := tx.Query(ctx, `INSERT INTO audit_event_ids (event_id) SELECT * FROM unnest($1::text[])
		ON CONFLICT (event_id) DO NOTHING RETURNING event_id`, ids)
	isFresh := make(map[string]bool, len(rows))
	var id string
	if _, err := pgx.ForEachRow(idRows, []any{&id}, func() error { isFresh[id] = true; return nil }); err != nil {
		return 0, fmt.Errorf("record %d event ids: %w", len(rows), err)
	}
	if len(isFresh) == 0 {
		return 0, tx.Commit(ctx) // every event was a redelivery
	}
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
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, copyColumns, pgx.CopyFromSlice(len(fresh), func(i int) ([]any, error) {
		r := fresh[i]
		return []any{r.Seq, r.EventID, r.Topic, r.Kind, r.CEType, r.PayloadType, r.OccurredAt, r.ReceivedAt,
			r.OccurredOutOfWindow, r.ActorID, r.UserID, r.TaskID, r.PayloadJSON, r.TraceID, r.PrevHash, r.Hash}, nil
	})); err != nil {
		return 0, fmt.Errorf("copy %d audit rows: %w", len(fresh), err)
	}
	n := len(headSeq)
	hm, hs, hh, hk, sig := make([]time.Time, 0, n), make([]int64, 0, n), make([][]byte, 0, n), make([]string, 0, n), make([][]byte, 0, n)
	for m, sq := range headSeq {
		h := auditsig.Head{Month: m, LastSeq: sq, Hash: heads[m]}
		hm, hs, hh = append(hm, m), append(hs, sq), append(hh, h.Hash)
		hk, sig = append(hk, s.signer.KeyID()), append(sig, s.signer.Sign(auditsig.HeadMessage(h)))
	}
	if _, err := tx.Exec(ctx, "SELECT audit_advance($1, $2::date[], $3::bigint[], $4::bytea[], $5::text[], $6::bytea[])",
		lastSeq, hm, hs, hh, hk, sig); err != nil {
		return 0, fmt.Errorf("advance chain heads: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit append: %w", err)
	}
	return len(fresh), nil
}
