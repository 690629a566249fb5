package auditlog

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskflow/taskflow-events/internal/pgmigrate"
)

// The two roles.
//
// The owner role (AUDIT_MIGRATION_DATABASE_URL) runs the migrations and so owns every
// table and function. The runtime role (DATABASE_URL) is what the service runs as; Grant
// gives it exactly: INSERT and SELECT on the log and its ids and checkpoints, SELECT on
// the state, heads, retention records and schema_migrations, and EXECUTE on the three
// SECURITY DEFINER functions (create a partition in a bounded window, advance the heads,
// drop a month with its signed record). It cannot UPDATE, DELETE, TRUNCATE, DROP, ALTER
// or disable a trigger, and CheckRuntimeRole refuses to run as anything more.

// Grant gives role the runtime privileges. It runs as the owner after Migrate and is
// idempotent.
func Grant(ctx context.Context, owner *pgxpool.Pool, role string) error {
	r := pgx.Identifier{role}.Sanitize()
	var schema string
	if err := owner.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fmt.Errorf("read current schema: %w", err)
	}
	stmts := []string{
		"GRANT USAGE ON SCHEMA " + pgx.Identifier{schema}.Sanitize() + " TO " + r,
		"GRANT SELECT, INSERT ON audit_events, audit_event_ids, audit_checkpoints TO " + r,
		"GRANT SELECT ON audit_state, audit_chain_heads, audit_retention_log, schema_migrations TO " + r,
		"GRANT EXECUTE ON FUNCTION audit_ensure_partition(date), audit_advance(bigint, date[], bigint[], bytea[], text[], bytea[])," +
			" audit_drop_month(date, bigint, bigint, bigint, bytea, text, bytea) TO " + r,
	}
	for _, s := range stmts {
		if _, err := owner.Exec(ctx, s); err != nil {
			return fmt.Errorf("grant the runtime privileges to %s: %w", role, err)
		}
	}
	return nil
}

// CheckRuntimeRole refuses a runtime role that could change history: a superuser, the
// owner of the audit tables or a member of it, or one holding UPDATE, DELETE or TRUNCATE
// on any audit table.
func CheckRuntimeRole(ctx context.Context, pool *pgxpool.Pool) error {
	var user string
	var super, owner bool
	var writable []string
	err := pool.QueryRow(ctx, `SELECT current_user, r.rolsuper, pg_has_role(current_user, c.relowner, 'MEMBER'),
		ARRAY(SELECT t || ' ' || p FROM unnest(ARRAY['audit_events', 'audit_event_ids', 'audit_state', 'audit_chain_heads',
			'audit_checkpoints', 'audit_retention_log']) AS t, unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE']) AS p
			WHERE has_table_privilege(t, p))
		FROM pg_roles r, pg_class c WHERE r.rolname = current_user AND c.oid = 'audit_events'::regclass`).Scan(&user, &super, &owner, &writable)
	if err != nil {
		return fmt.Errorf("inspect the runtime role: %w", err)
	}
	switch {
	case super:
		return fmt.Errorf("DATABASE_URL connects as %q, a superuser: use a role with only the runtime grants (see the README), and the owner in AUDIT_MIGRATION_DATABASE_URL", user)
	case owner:
		return fmt.Errorf("DATABASE_URL connects as %q, which owns the audit tables (or is a member of their owner): use a separate runtime role; the owner belongs in AUDIT_MIGRATION_DATABASE_URL", user)
	case len(writable) > 0:
		return fmt.Errorf("DATABASE_URL's role %q holds %s: revoke them, the audit log must be append-only for the service", user, strings.Join(writable, ", "))
	}
	return nil
}

// Pending lists the embedded migrations the database has not applied yet (all of them
// when the schema does not exist).
func Pending(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("open embedded migrations: %w", err)
	}
	return pgmigrate.Pending(ctx, pool, sub, "audit")
}
