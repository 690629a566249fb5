// Package ledger is the PostgreSQL delivery ledger of the notification service: one row
// per (event_id, channel) with its status, attempts, last error and delivery time.
package ledger

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskflow/taskflow-events/internal/pgmigrate"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the ledger in PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

var _ notify.Ledger = (*Store)(nil)

// New returns a Store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Migrate applies the embedded migrations.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	sub, err := subFS()
	if err != nil {
		return err
	}
	if _, err := pgmigrate.Apply(ctx, pool, sub, "notification"); err != nil {
		return fmt.Errorf("migrate notification ledger: %w", err)
	}
	return nil
}

// beginSQL inserts a row per planned channel or, for a row that is not final yet,
// overwrites it with the plan. Only rows written by this statement are returned, so a
// delivered, failed or skipped channel never comes back. A row found in `sending` was
// left by an attempt that did not finish (crash, timeout): it is attempted again.
const beginSQL = `
INSERT INTO notification_deliveries AS d
    (event_id, channel, status, attempts, last_error, user_id, task_id, notification_id, created_at, updated_at)
SELECT $1, p.channel, p.status, CASE WHEN p.status = 'sending' THEN 1 ELSE 0 END, p.err, $2, $3, $4, $5, $5
FROM unnest($6::text[], $7::text[], $8::text[]) AS p(channel, status, err)
ON CONFLICT (event_id, channel) DO UPDATE
    SET status     = EXCLUDED.status,
        attempts   = d.attempts + EXCLUDED.attempts,
        last_error = CASE WHEN EXCLUDED.status = 'sending' THEN d.last_error ELSE EXCLUDED.last_error END,
        updated_at = EXCLUDED.updated_at
    WHERE d.status IN ('sending', 'retrying')
RETURNING channel, status`

// Begin implements notify.Ledger.
func (s *Store) Begin(ctx context.Context, key notify.Key, plans []notify.Plan, now time.Time) ([]notify.Channel, error) {
	channels, statuses, errs := columns(plans)
	rows, err := s.pool.Query(ctx, beginSQL, key.EventID, key.UserID, key.TaskID, key.NotificationID, now,
		channels, statuses, errs)
	if err != nil {
		return nil, fmt.Errorf("begin deliveries: %w", err)
	}
	var todo []notify.Channel
	var c, st string
	_, err = pgx.ForEachRow(rows, []any{&c, &st}, func() error {
		if notify.Status(st) == notify.Sending {
			todo = append(todo, notify.Channel(c))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("begin deliveries: %w", err)
	}
	// Keep the plan's order (in-app first), whatever order the rows came back in.
	ordered := todo[:0:0]
	for _, p := range plans {
		for _, t := range todo {
			if t == p.Channel {
				ordered = append(ordered, t)
			}
		}
	}
	return ordered, nil
}

// finishSQL records attempt outcomes, but only over rows still `sending`: an attempt
// that lost a race with a concurrent one never downgrades a delivered row.
const finishSQL = `
UPDATE notification_deliveries AS d
SET status       = r.status,
    last_error   = CASE WHEN r.status = 'delivered' THEN '' ELSE r.err END,
    delivered_at = CASE WHEN r.status = 'delivered' THEN $2::timestamptz END,
    updated_at   = $2
FROM unnest($3::text[], $4::text[], $5::text[]) AS r(channel, status, err)
WHERE d.event_id = $1 AND d.channel = r.channel AND d.status = 'sending'`

// Finish implements notify.Ledger.
func (s *Store) Finish(ctx context.Context, eventID string, results []notify.Plan, now time.Time) error {
	channels, statuses, errs := columns(results)
	if _, err := s.pool.Exec(ctx, finishSQL, eventID, now, channels, statuses, errs); err != nil {
		return fmt.Errorf("finish deliveries: %w", err)
	}
	return nil
}

func columns(plans []notify.Plan) (channels, statuses, errs []string) {
	channels, statuses, errs = make([]string, len(plans)), make([]string, len(plans)), make([]string, len(plans))
	for i, p := range plans {
		channels[i], statuses[i], errs[i] = string(p.Channel), string(p.Status), p.Error
	}
	return channels, statuses, errs
}
