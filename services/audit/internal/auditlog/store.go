package auditlog

import (
	"context"
	"crypto/ed25519"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sync"
	"time"

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
		js, err := payloadJSON(rec.Payload)
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
