package auditlog

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Filter selects events; zero fields match everything.
type Filter struct {
	UserID, TaskID string
	Kinds          []string
	// From is inclusive, To exclusive; zero means unbounded.
	From, To time.Time
}

// Cursor positions a listing: rows with seq <= Snapshot only (the newest stored row when
// the first page was read), strictly after (OccurredAt, Seq) in newest-first order.
// A zero After means the first page.
type Cursor struct {
	Snapshot   int64
	OccurredAt time.Time
	Seq        int64
}

// Event is one stored row.
type Event struct {
	Seq         int64
	EventID     string
	Topic       string
	Kind        string
	CEType      string
	PayloadType string
	OccurredAt  time.Time
	ReceivedAt  time.Time
	// OccurredOutOfWindow flags an occurred_at outside the plausible window around
	// received_at (see OccurredWindow); the event is stored all the same.
	OccurredOutOfWindow bool
	ActorID             string
	UserID              string
	TaskID              string
	PayloadJSON         []byte
	TraceID             string
	PrevHash            []byte
	Hash                []byte
}

// Snapshot returns the seq of the newest stored row (0 for an empty log). Appends are
// serialised and commit in seq order, so every row with a smaller seq is visible too.
func (s *Store) Snapshot(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, "SELECT last_seq FROM audit_state").Scan(&seq); err != nil {
		return 0, fmt.Errorf("read newest seq: %w", err)
	}
	return seq, nil
}

// List returns up to limit events matching f after c, newest first (occurred_at, then seq).
func (s *Store) List(ctx context.Context, f Filter, c Cursor, limit int) ([]Event, error) {
	var where []string
	args := []any{}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where = append(where, "seq <= "+arg(c.Snapshot))
	if f.UserID != "" {
		where = append(where, "user_id = "+arg(f.UserID))
	}
	if f.TaskID != "" {
		where = append(where, "task_id = "+arg(f.TaskID))
	}
	if len(f.Kinds) > 0 {
		where = append(where, "kind = ANY("+arg(f.Kinds)+"::text[])")
	}
	if !f.From.IsZero() {
		where = append(where, "occurred_at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "occurred_at < "+arg(f.To))
	}
	if c.Seq != 0 {
		where = append(where, "(occurred_at, seq) < ("+arg(c.OccurredAt)+", "+arg(c.Seq)+")")
	}
	q := `SELECT seq, event_id, topic, kind, ce_type, payload_type, occurred_at, received_at, occurred_out_of_window, actor_id, user_id,
		task_id, payload::text, trace_id, prev_hash, hash FROM audit_events WHERE ` + strings.Join(where, " AND ") +
		" ORDER BY occurred_at DESC, seq DESC LIMIT " + arg(limit)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		var payload string
		err := r.Scan(&e.Seq, &e.EventID, &e.Topic, &e.Kind, &e.CEType, &e.PayloadType, &e.OccurredAt, &e.ReceivedAt, &e.OccurredOutOfWindow,
			&e.ActorID, &e.UserID, &e.TaskID, &payload, &e.TraceID, &e.PrevHash, &e.Hash)
		e.PayloadJSON = []byte(payload)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return evs, nil
}
