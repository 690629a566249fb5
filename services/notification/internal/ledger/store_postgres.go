// Package ledger is the PostgreSQL delivery ledger of the notification service: one row
// per (event_id, channel) with its status, attempts, last error and delivery time.
package ledger

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
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
	pool  *pgxpool.Pool
	lease time.Duration
}

var _ notify.Ledger = (*Store)(nil)

// New returns a Store over pool. lease is how long a channel marked `sending` belongs to
// the attempt that marked it: a concurrent delivery of the same reminder (a Kafka
// rebalance, daprd redelivering while the first attempt still runs) must not send it
// again. After the lease a `sending` row is taken as left by a crashed attempt and is
// attempted again. It must exceed the longest attempt (the handler timeout).
func New(pool *pgxpool.Pool, lease time.Duration) *Store { return &Store{pool: pool, lease: lease} }

// Migrate applies the embedded migrations.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("open embedded migrations: %w", err)
	}
	if _, err := pgmigrate.Apply(ctx, pool, sub, "notification"); err != nil {
		return fmt.Errorf("migrate notification ledger: %w", err)
	}
	return nil
}

// beginSQL inserts a row per planned channel or, for a row that is not final yet,
// overwrites it with the plan, and returns the rows it wrote (held = false) plus the
// planned rows another attempt is sending right now (held = true; the data-modifying CTE
// is invisible to the outer SELECT, which sees the rows as they were before). A delivered,
// failed or skipped channel never comes back. A row in `sending` older than the lease ($9)
// was left by an attempt that did not finish (crash): it is attempted again.
const beginSQL = `
WITH ins AS (
INSERT INTO notification_deliveries AS d
    (event_id, channel, status, attempts, last_error, user_id, task_id, notification_id, created_at, updated_at)
SELECT p.event_id, p.channel, p.status, CASE WHEN p.status = 'sending' THEN 1 ELSE 0 END, p.err,
       p.user_id, p.task_id, p.notification_id, $1, $1
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
    AS p(event_id, channel, status, err, user_id, task_id, notification_id)
ORDER BY p.event_id, p.channel
ON CONFLICT (event_id, channel) DO UPDATE
    SET status     = EXCLUDED.status,
        attempts   = d.attempts + EXCLUDED.attempts,
        last_error = CASE WHEN EXCLUDED.status = 'sending' THEN d.last_error ELSE EXCLUDED.last_error END,
        updated_at = EXCLUDED.updated_at
    WHERE d.status = 'retrying' OR (d.status = 'sending' AND d.updated_at < $9)
RETURNING event_id, channel, status, created_at)
SELECT event_id, channel, status, false, created_at FROM ins
UNION ALL
SELECT d.event_id, d.channel, d.status, true, d.created_at
FROM notification_deliveries AS d
JOIN unnest($2::text[], $3::text[]) AS p(event_id, channel) ON d.event_id = p.event_id AND d.channel = p.channel
WHERE d.status = 'sending' AND d.updated_at >= $9
  AND NOT EXISTS (SELECT 1 FROM ins WHERE ins.event_id = d.event_id AND ins.channel = d.channel)`

// Begin implements notify.Ledger: one statement for the whole batch.
func (s *Store) Begin(ctx context.Context, reqs []notify.Request, now time.Time) ([]notify.Claim, error) {
	var ids, channels, statuses, errs, users, tasks, notes []string
	for _, r := range reqs {
		for _, p := range r.Plans {
			ids, channels, statuses, errs = append(ids, r.Key.EventID), append(channels, string(p.Channel)),
				append(statuses, string(p.Status)), append(errs, p.Error)
			users, tasks, notes = append(users, r.Key.UserID), append(tasks, r.Key.TaskID), append(notes, r.Key.NotificationID)
		}
	}
	rows, err := s.pool.Query(ctx, beginSQL, now, ids, channels, statuses, errs, users, tasks, notes, now.Add(-s.lease))
	if err != nil {
		return nil, fmt.Errorf("begin deliveries: %w", err)
	}
	var todo []notify.Claim
	var id, c, st string
	var held bool
	var since time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &c, &st, &held, &since}, func() error {
		if notify.Status(st) == notify.Sending {
			todo = append(todo, notify.Claim{EventID: id, Channel: notify.Channel(c), Held: held, Since: since})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("begin deliveries: %w", err)
	}
	return todo, nil
}

// finishSQL records attempt outcomes, but only over rows still `sending`: an attempt
// that lost a race with a concurrent one never downgrades a delivered row.
const finishSQL = `
UPDATE notification_deliveries AS d
SET status       = r.status,
    last_error   = CASE WHEN r.status = 'delivered' THEN '' ELSE r.err END,
    delivered_at = CASE WHEN r.status = 'delivered' THEN $1::timestamptz END,
    updated_at   = $1
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS r(event_id, channel, status, err)
WHERE d.event_id = r.event_id AND d.channel = r.channel AND d.status = 'sending'`

// Finish implements notify.Ledger: one statement for the whole batch.
func (s *Store) Finish(ctx context.Context, outcomes []notify.Outcome, now time.Time) error {
	ids, channels, statuses, errs := make([]string, len(outcomes)), make([]string, len(outcomes)), make([]string, len(outcomes)), make([]string, len(outcomes))
	for i, o := range outcomes {
		ids[i], channels[i], statuses[i], errs[i] = o.EventID, string(o.Channel), string(o.Status), o.Error
	}
	if _, err := s.pool.Exec(ctx, finishSQL, now, ids, channels, statuses, errs); err != nil {
		return fmt.Errorf("finish deliveries: %w", err)
	}
	return nil
}
