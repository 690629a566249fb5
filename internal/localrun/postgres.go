package localrun

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
)

// PostgresBinDir is where Debian's PostgreSQL 15 server binaries live.
const PostgresBinDir = "/usr/lib/postgresql/15/bin"

// PGCluster is a PostgreSQL cluster in a directory of ours, listening on 127.0.0.1:Port
// with superuser "postgres" and trust authentication (loopback only).
type PGCluster struct {
	Dir     string
	Port    int
	LogPath string
	asUser  *user.User
}

// NewPGCluster prepares dir (created if missing) for a cluster. When running as root the
// server runs as user postgres, since PostgreSQL refuses root.
func NewPGCluster(dir string, port int) (*PGCluster, error) {
	if _, err := os.Stat(filepath.Join(PostgresBinDir, "initdb")); err != nil {
		return nil, fmt.Errorf("PostgreSQL 15 server binaries missing in %s: run `make debs` (apt-get install postgresql-15)", PostgresBinDir)
	}
	c := &PGCluster{Dir: dir, Port: port, LogPath: filepath.Join(dir, "postgres.log")}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres user (from the postgresql package): %w", err)
		}
		c.asUser = u
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("chown %s: %w", dir, err)
		}
		// The server must be able to reach its directory through every parent.
		for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
			if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o001 == 0 {
				_ = os.Chmod(p, st.Mode().Perm()|0o011)
			}
		}
	}
	return c, nil
}

// DSN is the superuser connection string for database db.
func (c *PGCluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

func (c *PGCluster) command(name string, args ...string) *exec.Cmd {
	bin := filepath.Join(PostgresBinDir, name)
	if c.asUser != nil {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

func (c *PGCluster) dataDir() string { return filepath.Join(c.Dir, "data") }

// Init runs initdb unless the data directory already holds a cluster.
func (c *PGCluster) Init() error {
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); err == nil {
		return nil
	}
	out, err := c.command("initdb", "-D", c.dataDir(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale", "C").CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return nil
}

// Start starts the server and waits until it accepts connections; the error carries the
// server log's tail.
func (c *PGCluster) Start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
		c.Port, c.Dir)
	out, err := c.command("pg_ctl", "-D", c.dataDir(), "-l", c.LogPath, "-o", opts, "-w", "-t", "60", "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl start on port %d: %w\n%s\n--- postgres log ---\n%s", c.Port, err, out, TailFile(c.LogPath, 20))
	}
	return nil
}

// Stop stops the server (fast shutdown: open connections are terminated).
func (c *PGCluster) Stop() error {
	out, err := c.command("pg_ctl", "-D", c.dataDir(), "-m", "fast", "-w", "-t", "30", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Running reports whether the server is up.
func (c *PGCluster) Running() bool {
	return c.command("pg_ctl", "-D", c.dataDir(), "status").Run() == nil
}
