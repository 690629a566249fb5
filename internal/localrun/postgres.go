package localrun

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// Stop stops the server (fast shutdown: open connections are terminated) and returns once
// the postmaster process is gone: pg_ctl returns when postmaster.pid is removed, which the
// postmaster does just before it exits, so a caller checking for leftover processes could
// still see it. When a fast shutdown does not finish in 30 s (a 2-core machine under heavy
// load) it escalates to an immediate one and, last, kills the postmaster: a stack that
// stops leaves no server behind.
func (c *PGCluster) Stop() error {
	pid := c.postmasterPID()
	defer waitGone(pid, 5*time.Second)
	out, err := c.command("pg_ctl", "-D", c.dataDir(), "-m", "fast", "-w", "-t", "30", "stop").CombinedOutput()
	if err == nil || !c.Running() {
		return nil
	}
	first := fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	out, err = c.command("pg_ctl", "-D", c.dataDir(), "-m", "immediate", "-w", "-t", "10", "stop").CombinedOutput()
	if err == nil || !c.Running() {
		return nil
	}
	first = fmt.Errorf("%w; pg_ctl stop -m immediate: %w\n%s", first, err, out)
	if pid == 0 {
		return fmt.Errorf("%w; no postmaster.pid to kill", first)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("%w; kill postmaster %d: %w", first, pid, err)
	}
	return nil
}

// postmasterPID is the pid in postmaster.pid, 0 when there is none.
func (c *PGCluster) postmasterPID() int {
	b, err := os.ReadFile(filepath.Join(c.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return 0
	}
	return pid
}

// waitGone waits up to timeout for process pid (0: none) to be gone.
func waitGone(pid int, timeout time.Duration) {
	for end := time.Now().Add(timeout); pid > 0 && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
	}
}

// Running reports whether the server is up.
func (c *PGCluster) Running() bool {
	return c.command("pg_ctl", "-D", c.dataDir(), "status").Run() == nil
}
