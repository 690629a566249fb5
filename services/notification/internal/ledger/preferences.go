package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

var (
	_ notify.PreferenceStore  = (*Store)(nil)
	_ notify.DefaultsBeginner = (*Store)(nil)
)

// UserPreferences are one user's stored preferences.
type UserPreferences struct {
	notify.Preferences
	// UpdatedAt is when they were last set; zero for the defaults (no row).
	UpdatedAt time.Time
}

const prefsSQL = `
SELECT user_id, disabled_channels, quiet_start, quiet_end, quiet_time_zone, updated_at
FROM notification_preferences WHERE user_id = ANY($1)`

// Preferences implements notify.PreferenceStore: one query for all users.
func (s *Store) Preferences(ctx context.Context, userIDs []string) (map[string]notify.Preferences, error) {
	all, err := s.preferences(ctx, userIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[string]notify.Preferences, len(all))
	for u, p := range all {
		out[u] = p.Preferences
	}
	return out, nil
}

func (s *Store) preferences(ctx context.Context, userIDs []string) (map[string]UserPreferences, error) {
	rows, err := s.pool.Query(ctx, prefsSQL, userIDs)
	if err != nil {
		return nil, fmt.Errorf("read preferences: %w", err)
	}
	out := map[string]UserPreferences{}
	var user, zone string
	var disabled []string
	var start, end *int32
	var updated time.Time
	_, err = pgx.ForEachRow(rows, []any{&user, &disabled, &start, &end, &zone, &updated}, func() error {
		out[user] = UserPreferences{Preferences: preferencesOf(disabled, start, end, zone), UpdatedAt: updated}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read preferences: %w", err)
	}
	return out, nil
}

// preferencesOf builds Preferences from a notification_preferences row.
func preferencesOf(disabled []string, start, end *int32, zone string) notify.Preferences {
	var p notify.Preferences
	for _, c := range disabled {
		p.Disabled = append(p.Disabled, notify.Channel(c))
	}
	if start != nil && end != nil {
		p.Quiet = &notify.QuietHours{Start: int(*start), End: int(*end), TimeZone: zone}
	}
	return p
}

// GetPreferences returns a user's preferences, the defaults when none were set.
func (s *Store) GetPreferences(ctx context.Context, userID string) (UserPreferences, error) {
	all, err := s.preferences(ctx, []string{userID})
	if err != nil {
		return UserPreferences{}, err
	}
	return all[userID], nil
}

const setPrefsSQL = `
INSERT INTO notification_preferences (user_id, disabled_channels, quiet_start, quiet_end, quiet_time_zone, updated_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (user_id) DO UPDATE
    SET disabled_channels = EXCLUDED.disabled_channels, quiet_start = EXCLUDED.quiet_start,
        quiet_end = EXCLUDED.quiet_end, quiet_time_zone = EXCLUDED.quiet_time_zone, updated_at = EXCLUDED.updated_at`

// SetPreferences replaces a user's preferences (validated by the caller).
func (s *Store) SetPreferences(ctx context.Context, userID string, p notify.Preferences, now time.Time) error {
	if p.Quiet != nil {
		if err := p.Quiet.Validate(); err != nil {
			return err
		}
	}
	disabled := make([]string, 0, len(p.Disabled))
	for _, c := range p.Disabled {
		disabled = append(disabled, string(c))
	}
	var start, end *int32
	zone := ""
	if q := p.Quiet; q != nil {
		a, b := int32(q.Start), int32(q.End)
		start, end, zone = &a, &b, q.TimeZone
	}
	if _, err := s.pool.Exec(ctx, setPrefsSQL, userID, disabled, start, end, zone, now); err != nil {
		return fmt.Errorf("store preferences: %w", err)
	}
	return nil
}
