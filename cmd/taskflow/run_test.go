package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskflow/taskflow-events/internal/devstack"
	"github.com/taskflow/taskflow-events/internal/localrun"
	"github.com/taskflow/taskflow-events/internal/testenv"
)

// portBase picks a base port whose block of devstack.PortBlock ports is free right now.
func portBase(t *testing.T) int {
	t.Helper()
	base, err := devstack.FreePortBase()
	if err != nil {
		t.Fatal(err)
	}
	return base
}

func chdirRoot(t *testing.T) {
	t.Helper()
	t.Chdir(testenv.RepoRoot(t))
	testenv.Bin(t, "daprd")
	testenv.Bin(t, "mailpit")
}

// TestDemo runs `taskflow demo` (what `make demo` runs) end to end: the whole system on
// embedded defaults, the scenario, the report.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the whole stack")
	}
	chdirRoot(t)
	runDir := t.TempDir()
	var out testenv.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := run(ctx, []string{"demo", "--port-base", strconv.Itoa(portBase(t)), "--run-dir", runDir,
		"--task-api-app-id", testenv.UniqueAppID("task-api")}, func(string) string { return "" }, &out, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatalf("taskflow demo = %v, want success", err)
	}
	b, err := os.ReadFile(filepath.Join(runDir, "demo-report.json"))
	if err != nil {
		t.Fatalf("demo report: %v", err)
	}
	var rep devstack.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"WebSocket client connects with the dev token",
		"task changes reach the user's WebSocket live (created, updated, completed)",
		"completing the recurring task creates the next occurrence",
		"the reminder arrives as an e-mail in the SMTP catcher",
		"the reminder arrives as a signed webhook call",
		"the reminder arrives as an in-app notification on the WebSocket",
		"the audit log lists every event of the scenario",
		"the audit hash chain verifies",
	}
	if len(rep.Steps) != len(want) {
		t.Fatalf("report has %d steps, want %d: %+v", len(rep.Steps), len(want), rep.Steps)
	}
	for i, s := range rep.Steps {
		if s.Name != want[i] || !s.OK {
			t.Errorf("step %d = %q ok=%v (%s), want %q ok", i, s.Name, s.OK, s.Detail, want[i])
		}
	}
	if !strings.Contains(out.String(), "Thu 2026-12-10 08:00 CET") {
		t.Errorf("report does not show the next occurrence on Thu 2026-12-10 08:00 Berlin time")
	}
	for _, f := range []string{"stack.json", "logs/audit.log", "logs/daprd-websocket.log"} {
		if _, err := os.Stat(filepath.Join(runDir, f)); err != nil {
			t.Errorf("run folder lacks %s: %v", f, err)
		}
	}
	assertNothingLeftRunning(t, runDir)
}

// TestUpNamesABusyPort: a port already in use gives a clear message naming it, at once.
func TestUpNamesABusyPort(t *testing.T) {
	chdirRoot(t)
	base := portBase(t)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+1))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	err = run(context.Background(), []string{"up", "--port-base", strconv.Itoa(base), "--run-dir", t.TempDir()},
		func(string) string { return "" }, io.Discard, io.Discard)
	if !errors.Is(err, localrun.ErrPortInUse) {
		t.Fatalf("taskflow up with a busy port = %v, want ErrPortInUse", err)
	}
	if want := "127.0.0.1:" + strconv.Itoa(base+1) + " (PostgreSQL)"; !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to name %s", err, want)
	}
	if want := "LISTEN held by pid " + strconv.Itoa(os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to name the process in the way (%s)", err, want)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("taskflow up took %v to report the busy port, want an immediate error", d)
	}
}

// TestUpReportsAFailedDependency: a service that fails to start is reported with its log
// tail, an unreachable DATABASE_URL is named before anything starts, and everything already
// started is stopped.
func TestUpReportsAFailedDependency(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the stack")
	}
	chdirRoot(t)
	up := func(t *testing.T, getenv func(string) string, serviceEnv string) error {
		runDir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		err := run(ctx, []string{"up", "--port-base", strconv.Itoa(portBase(t)), "--run-dir", runDir, "--service-env", serviceEnv,
			"--task-api-app-id", testenv.UniqueAppID("task-api")}, getenv, io.Discard, io.Discard)
		assertNothingLeftRunning(t, runDir)
		return err
	}
	t.Run("a service exits", func(t *testing.T) {
		// A signing key that does not parse: the audit service exits at start.
		err := up(t, func(string) string { return "" }, "AUDIT_SIGNING_KEY=bm90IGEga2V5")
		if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "AUDIT_SIGNING_KEY: want a PKCS#8 PEM Ed25519 key") {
			t.Errorf("error = %v, want the audit service named as exited with its log tail (the key error)", err)
		}
	})
	t.Run("DATABASE_URL unreachable", func(t *testing.T) {
		dead := "postgres://postgres@127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) + "/x?sslmode=disable&connect_timeout=1"
		err := up(t, func(k string) string {
			if k == "DATABASE_URL" {
				return dead
			}
			return ""
		}, "DB_STARTUP_TIMEOUT=2s")
		if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || !strings.Contains(strings.ToLower(err.Error()), "connect") {
			t.Errorf("error = %v, want DATABASE_URL named with the connection error", err)
		}
	})
}

func assertNothingLeftRunning(t *testing.T, runDir string) {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), runDir) {
			t.Errorf("process %s still running after the stack stopped: %s", e.Name(), strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
}
