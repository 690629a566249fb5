package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Entry is one ledger row.
type Entry struct {
	EventID, Channel, Status string
	Attempts                 int32
	LastError                string
	UserID, TaskID           string
	NotificationID           string
	CreatedAt, UpdatedAt     time.Time
	// DeliveredAt is nil unless Status is delivered.
	DeliveredAt *time.Time
	// NextAttemptAt is when the scheduler attempts the channel next (retrying, held) or
	// the lease of a sending attempt runs out; nil for final rows.
	NextAttemptAt *time.Time
}

// Cursor is the position after which a listing continues (exclusive).
type Cursor struct {
	CreatedAt time.Time
	EventID   string
	Channel   string
}

// Query selects entries by user and/or event; empty fields do not filter.
type Query struct {
	UserID, EventID string
	Limit           int
	After           *Cursor
}

const listSQL = `
SELECT event_id, channel, status, attempts, last_error, user_id, task_id, notification_id,
       created_at, updated_at, delivered_at, next_attempt_at
FROM notification_deliveries
WHERE ($1 = '' OR user_id = $1)
  AND ($2 = '' OR event_id = $2)
  AND ($3::timestamptz IS NULL OR (created_at, event_id, channel) < ($3, $4, $5))
ORDER BY created_at DESC, event_id DESC, channel DESC
LIMIT $6`

// List returns entries newest first (created_at, event_id, channel, all descending).
func (s *Store) List(ctx context.Context, q Query) ([]Entry, error) {
	var after *time.Time
	var afterEvent, afterChannel string
	if q.After != nil {
		after, afterEvent, afterChannel = &q.After.CreatedAt, q.After.EventID, q.After.Channel
	}
	rows, err := s.pool.Query(ctx, listSQL, q.UserID, q.EventID, after, afterEvent, afterChannel, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := r.Scan(&e.EventID, &e.Channel, &e.Status, &e.Attempts, &e.LastError, &e.UserID, &e.TaskID,
			&e.NotificationID, &e.CreatedAt, &e.UpdatedAt, &e.DeliveredAt, &e.NextAttemptAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}
