// Package testenv starts the real parts end-to-end tests run against: daprd built from the
// dapr module source, an embedded Kafka-protocol broker, a throwaway PostgreSQL cluster.
// Everything is bound to loopback on free ports and torn down with t.Cleanup; a helper
// that cannot get its dependency fails the test (it never skips).
package testenv

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/taskflow/taskflow-events/internal/localrun"
)

var (
	rootOnce sync.Once
	rootDir  string
)

// RepoRoot returns the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	if rootDir == "" {
		t.Fatal("testenv: cannot find the repository root (go.mod) above the working directory")
	}
	return rootDir
}

// SkipShort skips t under -short. `make test-unit` runs `go test -short ./...` and promises
// tests that need no external process on a machine with only Go, so every helper here that
// starts or needs one (PostgreSQL, mailpit, daprd, a tool from .cache/bin, any child
// process) calls it first: the test is skipped whether or not the program is installed.
// Without -short (`make test`) a missing program still fails the test loudly.
func SkipShort(t testing.TB, needs string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: skipped with -short (make test-unit)", needs)
	}
}

// Bin returns the path of a tool installed into .cache/bin by the Makefile. For "daprd",
// TASKFLOW_DAPRD (set by `make test-compat`) names another runtime to test against.
// Under -short the test is skipped (SkipShort).
func Bin(t testing.TB, name string) string {
	t.Helper()
	SkipShort(t, name)
	p := filepath.Join(RepoRoot(t), ".cache", "bin", name)
	if d := os.Getenv("TASKFLOW_DAPRD"); name == "daprd" && d != "" {
		p = d
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: %s is missing: run `make deps` (or `make test`, which installs it) first", p)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := localrun.FreePort()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return port
}

// UniqueAppID returns prefix with a random suffix. daprd's mDNS name resolution spans every
// sidecar on the machine, so an app-id that another test (or `make run`) also uses would
// receive that test's service invocations: give invoked apps a unique id.
func UniqueAppID(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%x", prefix, b)
}

// WaitFor polls cond every 50ms until it returns true or timeout passes, then fails with msg.
func WaitFor(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: timed out after %v waiting for %s", timeout, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Process is a child process in its own process group, killed with the test.
type Process = localrun.Process

// StartProcess starts a command with output going to a log file; t.Cleanup stops it
// (SIGTERM, then SIGKILL after 5s) and prints the log tail when the test failed. The child
// also dies if the test process dies.
func StartProcess(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	SkipShort(t, "the external process "+name)
	logf, err := os.CreateTemp("", "testenv-"+name+"-*.log")
	if err != nil {
		t.Fatalf("testenv: create log for %s: %v", name, err)
	}
	logf.Close()
	p, err := localrun.Start(name, cmd, logf.Name())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		p.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("--- last lines of %s log (%s) ---\n%s", name, p.LogPath, p.Tail(40))
		} else {
			os.Remove(p.LogPath)
		}
	})
	return p
}
