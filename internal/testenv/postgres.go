package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresBinDir is where Debian's PostgreSQL 15 server binaries live.
const PostgresBinDir = "/usr/lib/postgresql/15/bin"

// Postgres is a throwaway PostgreSQL cluster (or a fresh database in DATABASE_URL's server).
type Postgres struct {
	// DSN of the test database, as a superuser.
	DSN string
	// Port the cluster listens on (0 for DATABASE_URL).
	Port int

	dir     string
	logPath string
	asUser  *user.User
}

// StartPostgres returns a fresh database. With DATABASE_URL set it creates a new database
// on that server; otherwise it runs initdb and pg_ctl (as user postgres when running as
// root, since PostgreSQL refuses root) on a free loopback port, removed with the test.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	if base := os.Getenv("DATABASE_URL"); base != "" {
		return externalDatabase(t, base)
	}
	if _, err := os.Stat(filepath.Join(PostgresBinDir, "initdb")); err != nil {
		t.Fatalf("testenv: PostgreSQL 15 server binaries missing in %s: run `make debs` (apt-get install postgresql-15)", PostgresBinDir)
	}
	p := &Postgres{Port: FreePort(t)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("testenv: running as root needs the postgres user (from the postgresql package): %v", err)
		}
		p.asUser = u
	}
	dir, err := os.MkdirTemp("", "testenv-pg-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	p.dir = dir
	p.logPath = filepath.Join(dir, "postgres.log")
	if p.asUser != nil {
		uid, _ := strconv.Atoi(p.asUser.Uid)
		gid, _ := strconv.Atoi(p.asUser.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("testenv: chown %s: %v", dir, err)
		}
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			if b, err := os.ReadFile(p.logPath); err == nil {
				t.Logf("--- postgres log ---\n%s", tail(string(b), 30))
			}
		}
		os.RemoveAll(dir)
	})
	if out, err := p.command("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust",
		"--no-sync", "-E", "UTF8", "--locale", "C").CombinedOutput(); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	p.Start(t)
	p.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
	return p
}

func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	bin := filepath.Join(PostgresBinDir, name)
	if p.asUser != nil {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

// Start starts (or restarts) the cluster and waits until it accepts connections.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	if p.dir == "" {
		t.Fatal("testenv: Start/Stop need a throwaway cluster; unset DATABASE_URL")
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
		p.Port, p.dir)
	if out, err := p.command("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-l", p.logPath, "-o", opts, "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(p.logPath)
		t.Fatalf("testenv: pg_ctl start: %v\n%s\n%s", err, out, tail(string(log), 20))
	}
}

// Stop stops the cluster (fast shutdown: open connections are terminated).
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	if p.dir == "" {
		t.Fatal("testenv: Start/Stop need a throwaway cluster; unset DATABASE_URL")
	}
	if out, err := p.stopCmd().CombinedOutput(); err != nil {
		t.Fatalf("testenv: pg_ctl stop: %v\n%s", err, out)
	}
}

func (p *Postgres) stopCmd() *exec.Cmd {
	return p.command("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-m", "fast", "-w", "-t", "30", "stop")
}

func (p *Postgres) stop() {
	if p.dir != "" {
		_ = p.stopCmd().Run()
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
