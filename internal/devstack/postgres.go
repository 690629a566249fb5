package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/taskflow/taskflow-events/internal/localrun"
)

// Databases of the audit service: "audit" in the throwaway cluster; on a DATABASE_URL server,
// which may be shared, a name that says whose it is (and does not collide with the audit
// tables an older stack created in DATABASE_URL's own database).
const (
	auditDB         = "audit"
	externalAuditDB = "taskflow_audit"
)

// startPostgres starts the throwaway cluster (or uses cfg.DatabaseURL), creates the
// databases and the audit roles, and returns the connection strings by name:
//
//	postgres       the admin (superuser in the cluster; DATABASE_URL as given): postgres_dsn
//	notification   the notification service's DATABASE_URL
//	audit          the admin on the audit database, for tests and tools that inspect its tables
//	audit-owner    the audit service's AUDIT_MIGRATION_DATABASE_URL (owner of its tables)
//	audit-runtime  the audit service's DATABASE_URL (INSERT/SELECT/EXECUTE only)
func (s *Stack) startPostgres(ctx context.Context) (map[string]string, error) {
	if s.cfg.DatabaseURL != "" {
		dsns, err := externalDatabases(ctx, s.cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		s.logf("postgresql        DATABASE_URL (notification; audit in database %s as %s, migrated by %s)",
			externalAuditDB, AuditRuntimeRole, AuditOwnerRole)
		return dsns, nil
	}
	dir := filepath.Join(s.cfg.RunDir, "pg")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	c, err := localrun.NewPGCluster(dir, s.Ports.Postgres)
	if err != nil {
		return nil, err
	}
	if err := c.Init(); err != nil {
		return nil, err
	}
	// Stop stops it even when Start gave up waiting for a server that then came up.
	s.pg = c
	if err := c.Start(); err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return nil, fmt.Errorf("connect to the throwaway PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE notification"); err != nil {
		return nil, fmt.Errorf("create database notification: %w", err)
	}
	// The cluster trusts loopback: the audit roles need no password.
	dsns, err := auditDatabase(ctx, conn, c.DSN("postgres"), auditDB, "")
	if err != nil {
		return nil, err
	}
	dsns["postgres"] = c.DSN("postgres")
	dsns["notification"] = c.DSN("notification")
	s.logf("postgresql        %s (throwaway cluster in %s)", c.DSN("postgres"), dir)
	return dsns, nil
}

// externalDatabases sets up the audit roles and database on DATABASE_URL's server, creating
// what is missing; the notification service shares DATABASE_URL as given. This needs a
// superuser, or a role with CREATEROLE and CREATEDB; a role without them gets an error
// that lists the statements a superuser runs once instead. Roles that already exist are
// used as they are (their password must be DevAuditDBPassword).
func externalDatabases(ctx context.Context, databaseURL string) (map[string]string, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	defer conn.Close(ctx)
	dsns, err := auditDatabase(ctx, conn, databaseURL, externalAuditDB, DevAuditDBPassword)
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
		return nil, fmt.Errorf("set up the audit database with DATABASE_URL's role: %w\n"+
			"give that role CREATEROLE and CREATEDB, or have a superuser run once:\n"+
			"  CREATE ROLE %s LOGIN PASSWORD '%s';\n"+
			"  CREATE ROLE %s LOGIN PASSWORD '%s';\n"+
			"  CREATE DATABASE %s OWNER %s;",
			err, AuditOwnerRole, DevAuditDBPassword, AuditRuntimeRole, DevAuditDBPassword, externalAuditDB, AuditOwnerRole)
	}
	if err != nil {
		return nil, fmt.Errorf("set up the audit database with DATABASE_URL's role: %w", err)
	}
	dsns["postgres"] = databaseURL
	dsns["notification"] = databaseURL
	return dsns, nil
}
