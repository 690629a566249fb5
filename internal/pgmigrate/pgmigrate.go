// Package pgmigrate applies a service's embedded SQL migrations at start, under a
// PostgreSQL advisory lock so that replicas starting together never race.
package pgmigrate

import (
	"context"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Apply runs, in name order, every *.sql file of fsys that is not yet recorded for
// component in the schema_migrations table. Each file runs in its own transaction
// together with its record, so a failed migration leaves nothing half-applied.
// It returns the names it applied.
func Apply(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, component string) ([]string, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection for migrations: %w", err)
	}
	defer conn.Release()

	key := lockKey(component)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return nil, fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		// A fresh context: the caller's may be done, and the lock must not outlive us.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component  text        NOT NULL,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (component, name))`); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}

	done := map[string]bool{}
	rows, err := conn.Query(ctx, "SELECT name FROM schema_migrations WHERE component = $1", component)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		done[n] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}

	var applied []string
	for _, name := range names {
		if done[name] {
			continue
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return applied, fmt.Errorf("read migration %s: %w", name, err)
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return applied, fmt.Errorf("begin migration %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			_ = tx.Rollback(ctx)
			return applied, fmt.Errorf("apply migration %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (component, name) VALUES ($1, $2)", component, name); err != nil {
			_ = tx.Rollback(ctx)
			return applied, fmt.Errorf("record migration %s: %w", name, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return applied, fmt.Errorf("commit migration %s: %w", name, err)
		}
		applied = append(applied, strings.TrimSuffix(name, ".sql"))
	}
	return applied, nil
}

// lockKey maps a component name to a stable advisory-lock key.
func lockKey(component string) int64 {
	h := fnv.New64a()
	h.Write([]byte("pgmigrate:" + component))
	return int64(h.Sum64())
}

// Pending lists, in name order, the *.sql files of fsys not yet recorded for component
// (all of them when schema_migrations does not exist). It takes no lock and changes
// nothing: a service whose role may not migrate waits on it for the migration job.
func Pending(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, component string) ([]string, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return nil, fmt.Errorf("look for schema_migrations: %w", err)
	}
	done := map[string]bool{}
	if exists {
		rows, err := pool.Query(ctx, "SELECT name FROM schema_migrations WHERE component = $1", component)
		if err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		for _, n := range applied {
			done[n] = true
		}
	}
	var pending []string
	for _, n := range names {
		if !done[n] {
			pending = append(pending, strings.TrimSuffix(n, ".sql"))
		}
	}
	return pending, nil
}
