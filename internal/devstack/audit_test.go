package devstack

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taskflow/taskflow-events/internal/testenv"
)

func TestRoleDSN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, dsn, user, password, db string
		want                          string
	}{
		{name: "throwaway cluster", dsn: "postgres://postgres@127.0.0.1:17001/postgres?sslmode=disable",
			user: AuditRuntimeRole, db: "audit", want: "postgres://taskflow_audit@127.0.0.1:17001/audit?sslmode=disable"},
		{name: "admin keeps its user", dsn: "postgres://admin:s3cret@db.local:5432/app?sslmode=require",
			db: "taskflow_audit", want: "postgres://admin:s3cret@db.local:5432/taskflow_audit?sslmode=require"},
		{name: "query settings dropped", dsn: "postgresql://admin:s3cret@db.local/app?user=admin&password=s3cret&dbname=app&sslmode=disable",
			user: AuditOwnerRole, password: "pw", db: "taskflow_audit",
			want: "postgresql://taskflow_audit_owner:pw@db.local/taskflow_audit?sslmode=disable"},
		{name: "keyword/value", dsn: "host=db.local user=admin password=s3cret dbname=app",
			user: AuditOwnerRole, password: "it's", db: "taskflow_audit",
			want: `host=db.local user=admin password=s3cret dbname=app dbname='taskflow_audit' user='taskflow_audit_owner' password='it\'s'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := roleDSN(tt.dsn, tt.user, tt.password, tt.db)
			if err != nil || got != tt.want {
				t.Errorf("roleDSN(%q, %q, %q, %q) = %q, %v, want %q", tt.dsn, tt.user, tt.password, tt.db, got, err, tt.want)
			}
		})
	}
	if _, err := roleDSN("mysql://admin:s3cret@db.local/app", AuditOwnerRole, "", "audit"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("roleDSN(mysql://...) error = %v, want an error without the password", err)
	}
}

func TestAuditPublicKey(t *testing.T) {
	t.Parallel()
	seed, err := base64.StdEncoding.DecodeString(DevAuditSigningKey)
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("DevAuditSigningKey decodes to %d bytes (%v), want %d", len(seed), err, ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	want := base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	for name, key := range map[string]string{"base64 seed": DevAuditSigningKey, "PKCS#8 PEM": pemKey} {
		if got, err := auditPublicKey(key); err != nil || got != want {
			t.Errorf("auditPublicKey(%s) = %q, %v, want %q", name, got, err, want)
		}
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		if got, err := auditPublicKey(bad); err == nil {
			t.Errorf("auditPublicKey(%q) = %q, want an error", bad, got)
		}
	}
}

func TestAuditEnv(t *testing.T) {
	t.Parallel()
	s := &Stack{cfg: Config{LogLevel: "info"}}
	dsns := map[string]string{"audit": "admin", "audit-owner": "owner", "audit-runtime": "runtime"}
	env := map[string]string{}
	for _, kv := range s.serviceEnv("audit", AppPorts{}, dsns) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, want := range map[string]string{"DATABASE_URL": "runtime", "AUDIT_MIGRATION_DATABASE_URL": "owner",
		"AUDIT_SIGNING_KEY": DevAuditSigningKey, "AUDIT_CHECKPOINT_TOPIC": "audit-checkpoints"} {
		if env[k] != want {
			t.Errorf("audit env %s = %q, want %q", k, env[k], want)
		}
	}
}

// The audit roles are cluster-wide, so these tests run their own throwaway clusters even
// when DATABASE_URL names a server.
func TestAuditDatabase(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("superuser, twice", func(t *testing.T) {
		pg := testenv.StartPostgres(t)
		conn := connect(ctx, t, pg.DSN)
		var dsns map[string]string
		for range 2 {
			var err error
			if dsns, err = auditDatabase(ctx, conn, pg.DSN, "audit", ""); err != nil {
				t.Fatalf("auditDatabase() = %v", err)
			}
		}
		checkAuditDatabase(ctx, t, conn, "audit", dsns)
	})
	t.Run("CREATEROLE and CREATEDB", func(t *testing.T) {
		pg := testenv.StartPostgres(t)
		mustExec(ctx, t, connect(ctx, t, pg.DSN), "CREATE ROLE admin LOGIN CREATEROLE CREATEDB")
		adminDSN, _ := roleDSN(pg.DSN, "admin", "", "postgres")
		dsns, err := externalDatabases(ctx, adminDSN)
		if err != nil {
			t.Fatalf("externalDatabases(CREATEROLE CREATEDB) = %v", err)
		}
		if dsns["notification"] != adminDSN || dsns["postgres"] != adminDSN {
			t.Errorf("externalDatabases() notification, postgres = %q, %q, want DATABASE_URL %q", dsns["notification"], dsns["postgres"], adminDSN)
		}
		checkAuditDatabase(ctx, t, connect(ctx, t, pg.DSN), externalAuditDB, dsns)
	})
	t.Run("no privileges", func(t *testing.T) {
		pg := testenv.StartPostgres(t)
		mustExec(ctx, t, connect(ctx, t, pg.DSN), "CREATE ROLE plain LOGIN")
		plainDSN, _ := roleDSN(pg.DSN, "plain", "", "postgres")
		_, err := externalDatabases(ctx, plainDSN)
		if err == nil || !strings.Contains(err.Error(), "CREATE DATABASE taskflow_audit OWNER taskflow_audit_owner") {
			t.Errorf("externalDatabases(no privileges) = %v, want the statements a superuser runs", err)
		}
	})
}

// checkAuditDatabase checks what the audit service relies on: two non-superuser roles, db
// owned by the owner role (so that it may create tables in schema public), the runtime role
// able to connect but not to create.
func checkAuditDatabase(ctx context.Context, t *testing.T, admin *pgx.Conn, db string, dsns map[string]string) {
	t.Helper()
	var owner string
	var supers int
	err := admin.QueryRow(ctx, `SELECT pg_get_userbyid(datdba), (SELECT count(*) FROM pg_roles WHERE rolsuper AND rolname IN ($2, $3))
		FROM pg_database WHERE datname = $1`, db, AuditOwnerRole, AuditRuntimeRole).Scan(&owner, &supers)
	if err != nil || owner != AuditOwnerRole || supers != 0 {
		t.Fatalf("database %s owner = %q, superuser audit roles = %d (%v), want %s and 0", db, owner, supers, err, AuditOwnerRole)
	}
	mustExec(ctx, t, connect(ctx, t, dsns["audit-owner"]), "CREATE TABLE probe (id int)")
	runtime := connect(ctx, t, dsns["audit-runtime"])
	if _, err := runtime.Exec(ctx, "CREATE TABLE probe2 (id int)"); err == nil {
		t.Errorf("runtime role created a table in %s, want permission denied", db)
	}
	var user string
	if err := runtime.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil || user != AuditRuntimeRole {
		t.Errorf("audit-runtime connects as %q (%v), want %s", user, err, AuditRuntimeRole)
	}
	var n int
	if err := connect(ctx, t, dsns["audit"]).QueryRow(ctx, "SELECT count(*) FROM probe").Scan(&n); err != nil {
		t.Errorf("the audit (admin) DSN cannot read the audit tables: %v", err)
	}
}

func connect(ctx context.Context, t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func mustExec(ctx context.Context, t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
