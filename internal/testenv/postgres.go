package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taskflow/taskflow-events/internal/localrun"
)

// Postgres is a throwaway PostgreSQL cluster (or a fresh database in DATABASE_URL's server).
type Postgres struct {
	// DSN of the test database, as a superuser.
	DSN string
	// Port the cluster listens on (0 for DATABASE_URL).
	Port int

	cluster *localrun.PGCluster
}

// StartPostgres returns a fresh database. With DATABASE_URL set it creates a new database
// on that server; otherwise it runs initdb and pg_ctl (as user postgres when running as
// root, since PostgreSQL refuses root) on a free loopback port, removed with the test.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	SkipShort(t, "PostgreSQL")
	if base := os.Getenv("DATABASE_URL"); base != "" {
		return externalDatabase(t, base)
	}
	dir, err := os.MkdirTemp("", "testenv-pg-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	c, err := localrun.NewPGCluster(dir, FreePort(t))
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("testenv: %v", err)
	}
	p := &Postgres{Port: c.Port, cluster: c, DSN: c.DSN("postgres")}
	t.Cleanup(func() {
		if c.Running() {
			_ = c.Stop()
		}
		if t.Failed() {
			t.Logf("--- postgres log ---\n%s", localrun.TailFile(c.LogPath, 30))
		}
		os.RemoveAll(dir)
	})
	if err := c.Init(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	p.Start(t)
	return p
}

// Start starts (or restarts) the cluster and waits until it accepts connections.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	if p.cluster == nil {
		t.Fatal("testenv: Start/Stop need a throwaway cluster; unset DATABASE_URL")
	}
	if err := p.cluster.Start(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// Stop stops the cluster (fast shutdown: open connections are terminated).
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	if p.cluster == nil {
		t.Fatal("testenv: Start/Stop need a throwaway cluster; unset DATABASE_URL")
	}
	if err := p.cluster.Stop(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// CreateDatabase creates another empty database on the same server and returns its DSN.
func (p *Postgres) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	dsn, err := createDatabase(p.DSN, name)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return dsn
}

func externalDatabase(t testing.TB, baseDSN string) *Postgres {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	dsn, err := createDatabase(baseDSN, "test_"+hex.EncodeToString(b[:]))
	if err != nil {
		t.Fatalf("testenv: DATABASE_URL: %v", err)
	}
	return &Postgres{DSN: dsn}
}

func createDatabase(baseDSN, name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(baseDSN)
	if err != nil {
		return "", fmt.Errorf("parse DSN: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("connect to %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return withDatabase(baseDSN, name), nil
}

// withDatabase returns baseDSN (URL or keyword/value form) pointing at database name.
func withDatabase(baseDSN, name string) string {
	if u, err := url.Parse(baseDSN); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String()
	}
	return baseDSN + " dbname=" + name
}

// OwnedDatabase creates a database owned by a new non-superuser role and a second login
// role without any privileges yet (for a service that runs as a runtime role while an
// owner role migrates). Roles are cluster-wide, so both are named after the database.
// It returns the DSNs of both roles on the new database.
func (p *Postgres) OwnedDatabase(t testing.TB, name string) (ownerDSN, runtimeDSN string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer conn.Close(ctx)
	var b [8]byte
	_, _ = rand.Read(b[:])
	password := hex.EncodeToString(b[:])
	owner, runtime := name+"_owner", name+"_app"
	for _, stmt := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", pgx.Identifier{owner}.Sanitize(), password),
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", pgx.Identifier{runtime}.Sanitize(), password),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", pgx.Identifier{name}.Sanitize(), pgx.Identifier{owner}.Sanitize()),
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("testenv: %s: %v", strings.SplitN(stmt, " PASSWORD", 2)[0], err)
		}
	}
	db := withDatabase(p.DSN, name)
	return withUser(db, owner, password), withUser(db, runtime, password)
}

// withUser returns dsn (URL or keyword/value form) logging in as user with password.
func withUser(dsn, user, password string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.User = url.UserPassword(user, password)
		return u.String()
	}
	return dsn + " user=" + user + " password=" + password
}
