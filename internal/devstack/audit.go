package devstack

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The audit service refuses to run as a role that could rewrite its log (a superuser, the
// owner of its tables or a member of the owner, or one holding UPDATE, DELETE or TRUNCATE on
// them), so the stack gives it two roles: the owner applies the migrations
// (AUDIT_MIGRATION_DATABASE_URL) and grants INSERT, SELECT and EXECUTE to the runtime role
// (DATABASE_URL). See services/audit/README.md.
const (
	AuditOwnerRole   = "taskflow_audit_owner"
	AuditRuntimeRole = "taskflow_audit"
	// DevAuditDBPassword is the password of both roles when the stack creates them on a
	// DATABASE_URL server; the throwaway cluster trusts loopback and sets none.
	DevAuditDBPassword = "taskflow-dev-audit"
)

// auditDatabase creates, unless they exist, the two audit roles (LOGIN, NOSUPERUSER, with
// password unless it is empty) and database db owned by AuditOwnerRole, as the admin role
// of conn (whose connection string is adminDSN). It returns the "audit" (admin),
// "audit-owner" and "audit-runtime" connection strings of db.
func auditDatabase(ctx context.Context, conn *pgx.Conn, adminDSN, db, password string) (map[string]string, error) {
	var super bool
	if err := conn.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
		return nil, fmt.Errorf("read the admin role: %w", err)
	}
	for _, role := range []string{AuditOwnerRole, AuditRuntimeRole} {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil {
			return nil, fmt.Errorf("look up role %s: %w", role, err)
		}
		if exists {
			continue
		}
		stmt := "CREATE ROLE " + pgx.Identifier{role}.Sanitize() + " LOGIN NOSUPERUSER"
		if password != "" {
			stmt += " PASSWORD '" + strings.ReplaceAll(password, "'", "''") + "'"
		}
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return nil, fmt.Errorf("create role %s: %w", role, err)
		}
	}
	var owner string
	err := conn.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", db).Scan(&owner)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if !super {
			// CREATE DATABASE ... OWNER needs membership in the owner; CREATEROLE may grant
			// it (PostgreSQL 16+: for roles this admin created).
			if _, err := conn.Exec(ctx, "GRANT "+pgx.Identifier{AuditOwnerRole}.Sanitize()+" TO CURRENT_USER"); err != nil {
				return nil, fmt.Errorf("grant %s to the admin role: %w", AuditOwnerRole, err)
			}
		}
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()+" OWNER "+pgx.Identifier{AuditOwnerRole}.Sanitize()); err != nil {
			return nil, fmt.Errorf("create database %s: %w", db, err)
		}
	case err != nil:
		return nil, fmt.Errorf("look up database %s: %w", db, err)
	case owner != AuditOwnerRole:
		// The owner role applies the migrations in schema public, which only the database
		// owner may create in (PostgreSQL 15+).
		return nil, fmt.Errorf("database %s is owned by %s, want %s (ALTER DATABASE %s OWNER TO %s)", db, owner, AuditOwnerRole, db, AuditOwnerRole)
	}
	dsns := map[string]string{}
	for name, user := range map[string]string{"audit": "", "audit-owner": AuditOwnerRole, "audit-runtime": AuditRuntimeRole} {
		dsn, err := roleDSN(adminDSN, user, password, db)
		if err != nil {
			return nil, err
		}
		dsns[name] = dsn
	}
	return dsns, nil
}

// roleDSN is dsn (URL or keyword/value form) on database db as user with password; an empty
// user keeps dsn's own user and password. Any user, password or dbname in a URL's query
// would win over the ones in its path, so they are dropped.
func roleDSN(dsn, user, password, db string) (string, error) {
	if !strings.Contains(dsn, "://") {
		// Keyword/value form: a later keyword overrides an earlier one.
		out := dsn + " dbname=" + quoteKV(db)
		if user != "" {
			out += " user=" + quoteKV(user) + " password=" + quoteKV(password)
		}
		return out, nil
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// url.Parse's error quotes the URL, password included.
		return "", fmt.Errorf("DATABASE_URL is neither a postgres:// URL nor keyword/value settings")
	}
	q := u.Query()
	q.Del("dbname")
	if user != "" {
		q.Del("user")
		q.Del("password")
		u.User = url.User(user)
		if password != "" {
			u.User = url.UserPassword(user, password)
		}
	}
	u.RawQuery = q.Encode()
	u.Path = "/" + db
	return u.String(), nil
}

// quoteKV quotes a value for a keyword/value connection string.
func quoteKV(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// auditPublicKey is the base64 Ed25519 public key of an AUDIT_SIGNING_KEY value (base64 of
// the 32-byte seed, or PKCS#8 PEM), for verifiers of the audit checkpoints.
func auditPublicKey(key string) (string, error) {
	var priv ed25519.PrivateKey
	if block, _ := pem.Decode([]byte(key)); block != nil {
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return "", fmt.Errorf("parse PKCS#8 key: %w", err)
		}
		ed, ok := k.(ed25519.PrivateKey)
		if !ok {
			return "", fmt.Errorf("PKCS#8 key is %T, want Ed25519", k)
		}
		priv = ed
	} else {
		seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(key))
		if err != nil {
			return "", fmt.Errorf("decode base64 seed: %w", err)
		}
		if len(seed) != ed25519.SeedSize {
			return "", fmt.Errorf("seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
		}
		priv = ed25519.NewKeyFromSeed(seed)
	}
	return base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)), nil
}
