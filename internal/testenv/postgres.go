package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
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
