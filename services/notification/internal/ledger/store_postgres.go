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
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"

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
// rebalance, daprd redelivering while the first attempt still runs) or another replica's
// scheduler must not send it again. After the lease a `sending` row is taken as left by a
// crashed attempt and the scheduler attempts it again. It must exceed the longest attempt
// (the handler timeout).
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

// beginInsertSQL inserts a row per planned channel, with the reminder, or, for a row that
// is not final and whose next attempt is due, overwrites it with the plan, and returns the
// rows it marked sending (leased until $9). A delivered, failed or skipped channel never
// comes back; one another attempt is sending (lease not run out) or that waits for a later
// attempt is left to the scheduler. Rows of earlier versions have no next_attempt_at and
// no reminder: they are due, and take the reminder now. %s is a filter on the planned rows p.
const beginInsertSQL = `
INSERT INTO notification_deliveries AS d
    (event_id, channel, status, attempts, last_error, user_id, task_id, notification_id, created_at, updated_at,
     reminder, next_attempt_at, stale_after)
SELECT p.event_id, p.channel, p.status, CASE WHEN p.status = 'sending' THEN 1 ELSE 0 END, p.err, p.user_id, p.task_id, p.notification_id, $1, $1,
       p.reminder, CASE WHEN p.status = 'sending' THEN $9::timestamptz ELSE p.next_at END, p.stale_after
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $10::bytea[], $11::timestamptz[], $12::timestamptz[])
    AS p(event_id, channel, status, err, user_id, task_id, notification_id, reminder, next_at, stale_after)
%s
ORDER BY p.event_id, p.channel
ON CONFLICT (event_id, channel) DO UPDATE
    SET status          = EXCLUDED.status,
        attempts        = d.attempts + EXCLUDED.attempts,
        last_error      = CASE WHEN EXCLUDED.status = 'sending' THEN d.last_error ELSE EXCLUDED.last_error END,
        updated_at      = EXCLUDED.updated_at,
        reminder        = COALESCE(d.reminder, EXCLUDED.reminder),
        next_attempt_at = EXCLUDED.next_attempt_at,
        stale_after     = EXCLUDED.stale_after
    WHERE d.status IN ('retrying', 'held', 'sending') AND COALESCE(d.next_attempt_at, '-infinity') <= $1
RETURNING event_id, channel, status, attempts, created_at`

var (
	beginSQL = fmt.Sprintf(beginInsertSQL, "")
	// beginDefaultsSQL is beginSQL for the plans of users without stored preferences, and
	// returns the preferences of the others (whose plans it leaves out) in the same
	// statement, so in one snapshot: a row per leased channel (pref false) and a row per
	// user with preferences (pref true; event_id is the user, created_at when they were set).
	beginDefaultsSQL = `
WITH pref AS (
    SELECT user_id, disabled_channels, quiet_start, quiet_end, quiet_time_zone, updated_at
    FROM notification_preferences WHERE user_id = ANY($6::text[])),
ins AS (` + fmt.Sprintf(beginInsertSQL, "WHERE NOT EXISTS (SELECT 1 FROM pref WHERE pref.user_id = p.user_id)") + `)
SELECT false, event_id, channel, status, attempts, created_at, NULL::text[], NULL::integer, NULL::integer, NULL::text FROM ins
UNION ALL
SELECT true, user_id, NULL, NULL, NULL, updated_at, disabled_channels, quiet_start, quiet_end, quiet_time_zone FROM pref`
)

// beginArgs are the arguments of beginSQL and beginDefaultsSQL: an array element per
// planned channel.
func (s *Store) beginArgs(reqs []notify.Request, now time.Time) ([]any, error) {
	var ids, channels, statuses, errs, users, tasks, notes []string
	var reminders [][]byte
	var nextAt, staleAfter []pgtype.Timestamptz
	for _, r := range reqs {
		payload, err := proto.Marshal(r.Reminder)
		if err != nil {
			return nil, fmt.Errorf("encode reminder %s: %w", r.Key.EventID, err)
		}
		for _, p := range r.Plans {
			ids, channels, statuses, errs = append(ids, r.Key.EventID), append(channels, string(p.Channel)),
				append(statuses, string(p.Status)), append(errs, p.Error)
			users, tasks, notes = append(users, r.Key.UserID), append(tasks, r.Key.TaskID), append(notes, r.Key.NotificationID)
			reminders, nextAt, staleAfter = append(reminders, payload), append(nextAt, timestamptz(p.NextAttempt)), append(staleAfter, timestamptz(r.StaleAfter))
		}
	}
	return []any{now, ids, channels, statuses, errs, users, tasks, notes, now.Add(s.lease), reminders, nextAt, staleAfter}, nil
}

// claim is a row beginSQL returned: a Claim when the channel was marked sending.
func claim(id, c, st string, attempts int32, since time.Time) (notify.Claim, bool) {
	return notify.Claim{EventID: id, Channel: notify.Channel(c), Since: since, Attempts: int(attempts) - 1},
		notify.Status(st) == notify.Sending
}

// Begin implements notify.Ledger: one statement for the whole batch.
func (s *Store) Begin(ctx context.Context, reqs []notify.Request, now time.Time) ([]notify.Claim, error) {
	args, err := s.beginArgs(reqs, now)
	if err != nil {
		return nil, fmt.Errorf("plan statement: %w", err)
	}
	rows, err := s.pool.Query(ctx, beginSQL, args...)
	if err != nil {
		return nil, fmt.Errorf("plan statement: %w", err)
	}
	var todo []notify.Claim
	var id, c, st string
	var attempts int32
	var since time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &c, &st, &attempts, &since}, func() error {
		if cl, ok := claim(id, c, st, attempts, since); ok {
			todo = append(todo, cl)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan statement: %w", err)
	}
	return todo, nil
}

// BeginDefaults implements notify.DefaultsBeginner: Begin for the requests of users
// without stored preferences, and the preferences of the others, in one statement.
func (s *Store) BeginDefaults(ctx context.Context, reqs []notify.Request, now time.Time) ([]notify.Claim, map[string]notify.Preferences, error) {
	args, err := s.beginArgs(reqs, now)
	if err != nil {
		return nil, nil, fmt.Errorf("plan statement: %w", err)
	}
	rows, err := s.pool.Query(ctx, beginDefaultsSQL, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("plan statement: %w", err)
	}
	var todo []notify.Claim
	prefs := map[string]notify.Preferences{}
	var isPref bool
	var id string
	var c, st, zone *string
	var attempts, start, end *int32
	var at time.Time
	var disabled []string
	_, err = pgx.ForEachRow(rows, []any{&isPref, &id, &c, &st, &attempts, &at, &disabled, &start, &end, &zone}, func() error {
		if isPref {
			prefs[id] = preferencesOf(disabled, start, end, *zone)
			return nil
		}
		if cl, ok := claim(id, *c, *st, *attempts, at); ok {
			todo = append(todo, cl)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("plan statement: %w", err)
	}
	return todo, prefs, nil
}

// dueSQL leases the due rows to the caller (FOR UPDATE SKIP LOCKED: concurrent schedulers
// on other replicas take other rows) and returns them with their reminders.
const dueSQL = `
WITH due AS (
    SELECT event_id, channel FROM notification_deliveries
    WHERE status IN ('sending', 'retrying', 'held') AND next_attempt_at <= $1 AND reminder IS NOT NULL
    ORDER BY next_attempt_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED)
UPDATE notification_deliveries AS d
SET status = 'sending', attempts = d.attempts + 1, next_attempt_at = $2, updated_at = $1
FROM due
WHERE d.event_id = due.event_id AND d.channel = due.channel
RETURNING d.event_id, d.channel, d.attempts, d.created_at, d.reminder, d.stale_after`

// Due implements notify.Ledger.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]notify.DueClaim, error) {
	rows, err := s.pool.Query(ctx, dueSQL, now, now.Add(s.lease), limit)
	if err != nil {
		return nil, fmt.Errorf("claim due deliveries: %w", err)
	}
	var out []notify.DueClaim
	var id, c string
	var attempts int32
	var since time.Time
	var payload []byte
	var stale *time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &c, &attempts, &since, &payload, &stale}, func() error {
		ev := &eventsv1.ReminderEvent{}
		if err := proto.Unmarshal(payload, ev); err != nil {
			return fmt.Errorf("decode stored reminder %s: %w", id, err)
		}
		d := notify.DueClaim{Claim: notify.Claim{EventID: id, Channel: notify.Channel(c), Since: since, Attempts: int(attempts) - 1}, Reminder: ev}
		if stale != nil {
			d.StaleAfter = *stale
		}
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim due deliveries: %w", err)
	}
	return out, nil
}

// finishSQL records attempt outcomes, but only over rows still `sending`: an attempt
// that lost a race with a concurrent one never downgrades a delivered row. Claiming a
// channel counted an attempt (so one interrupted by a crash counts too); a hold or skip
// the scheduler decided without sending takes it back.
const finishSQL = `
UPDATE notification_deliveries AS d
SET status          = r.status,
    attempts        = d.attempts - CASE WHEN r.attempted THEN 0 ELSE 1 END,
    last_error      = CASE WHEN r.status = 'delivered' THEN '' ELSE r.err END,
    delivered_at    = CASE WHEN r.status = 'delivered' THEN COALESCE(r.at, $1::timestamptz) END,
    next_attempt_at = r.next_at,
    updated_at      = $1
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::timestamptz[], $8::timestamptz[])
    AS r(event_id, channel, status, err, attempted, next_at, at)
WHERE d.event_id = r.event_id AND d.channel = r.channel AND d.status = 'sending'`

// Finish implements notify.Ledger: one statement for the whole batch.
func (s *Store) Finish(ctx context.Context, outcomes []notify.Outcome, now time.Time) error {
	n := len(outcomes)
	ids, channels, statuses, errs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	attempted, nextAt, at := make([]bool, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	for i, o := range outcomes {
		ids[i], channels[i], statuses[i], errs[i] = o.EventID, string(o.Channel), string(o.Status), o.Error
		attempted[i], nextAt[i], at[i] = o.Attempted, timestamptz(o.NextAttempt), timestamptz(o.At)
	}
	if _, err := s.pool.Exec(ctx, finishSQL, now, ids, channels, statuses, errs, attempted, nextAt, at); err != nil {
		return fmt.Errorf("finish deliveries: %w", err)
	}
	return nil
}

// timestamptz is t, or NULL for the zero time.
func timestamptz(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}
