// Package pgpool is how a service opens its PostgreSQL pool and waits for the database
// at start: one shape for every service that keeps state in PostgreSQL.
package pgpool

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultConnectTimeout bounds each connection attempt when the DSN does not say
// (connect_timeout): a PostgreSQL that is down must not hang a start or a request.
const DefaultConnectTimeout = 5 * time.Second

// Open parses dsn and opens a pool of at most maxConns connections. It does not connect:
// the first use does, so a service can start before its database is up. The error never
// carries the DSN (it may hold a password).
func Open(ctx context.Context, dsn string, maxConns int) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the database URL")
	}
	if maxConns > 0 {
		pc.MaxConns = int32(maxConns)
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL pool: %w", err)
	}
	return pool, nil
}

// User is the role dsn connects as ("" when dsn does not parse).
func User(dsn string) string {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return ""
	}
	return pc.ConnConfig.User
}

// RetryInterval is the pause between two attempts of Retry.
const RetryInterval = time.Second

// Retry calls step until it succeeds, ctx ends or within has passed, pausing
// RetryInterval between attempts: how a service waits for PostgreSQL (or for a migration
// job) at start. The error names what and wraps step's last error.
func Retry(ctx context.Context, within time.Duration, what string, step func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		err := step(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not done within %s: %w", what, within, err)
		case <-time.After(RetryInterval):
		}
	}
}
