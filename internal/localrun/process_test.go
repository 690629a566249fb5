package localrun

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a child process (see TestMain) instead of running
// the tests: the processes Start manages are this binary, so no external program is needed.
const helperEnv = "LOCALRUN_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

// helper is the child process. The modes that wait print "ready" once their signal handling
// is set, so a test signals them only then.
func helper(mode string) int {
	switch mode {
	case "term": // print five lines, exit 0 on SIGTERM
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		for i := 1; i <= 5; i++ {
			fmt.Printf("line %d\n", i)
		}
		fmt.Println("ready")
		<-sig
		fmt.Println("terminated")
		return 0
	case "ignore-term": // survive SIGTERM
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(time.Minute)
		return 0
	case "free-ports": // print 1,000 ports from FreePort, then whether Claim got CLAIM_NAME
		for range 1000 {
			p, err := FreePort()
			if err != nil {
				fmt.Println("error:", err)
				return 1
			}
			fmt.Println(p)
		}
		fmt.Printf("claimed %v\n", Claim(os.Getenv("CLAIM_NAME")))
		return 0
	case "exit3":
		fmt.Fprintln(os.Stderr, "failing on purpose")
		return 3
	case "parent": // start a grandchild (ignore-term) in the same process group, print its pid
		cmd := helperCommand("ignore-term")
		cmd.Stdout = os.Stdout
		if err := cmd.Start(); err != nil {
			fmt.Println("start grandchild:", err)
			return 1
		}
		fmt.Printf("grandchild %d\n", cmd.Process.Pid)
		fmt.Println("parent ready")
		time.Sleep(time.Minute)
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
	return 2
}

func helperCommand(mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

// startHelper starts the helper in mode under Start, killed at the end of the test.
func startHelper(t *testing.T, mode string) *Process {
	t.Helper()
	p, err := Start("helper-"+mode, helperCommand(mode), filepath.Join(t.TempDir(), mode+".log"))
	if err != nil {
		t.Fatalf("Start(%s) = %v", mode, err)
	}
	t.Cleanup(p.Kill)
	return p
}

// waitLog waits until the process log has a line equal to want.
func waitLog(t *testing.T, p *Process, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range strings.Split(p.Log(), "\n") {
			if l == want {
				return
			}
		}
		if p.Exited() {
			t.Fatalf("%s exited (%v) before logging %q; log:\n%s", p.Name, p.Err(), want, p.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not log %q within 10s; log:\n%s", p.Name, want, p.Log())
}

func TestProcessStopGraceful(t *testing.T) {
	t.Parallel()
	p := startHelper(t, "term")
	waitLog(t, p, "ready")
	if p.Exited() || p.Err() != nil {
		t.Fatalf("running process: Exited() = %v, Err() = %v, want false, nil", p.Exited(), p.Err())
	}
	if p.Pid() <= 0 {
		t.Errorf("Pid() = %d, want > 0", p.Pid())
	}
	p.Stop(10 * time.Second)
	if !p.Exited() {
		t.Fatalf("Exited() after Stop = false, want true")
	}
	if err := p.Err(); err != nil {
		t.Errorf("Err() after SIGTERM = %v, want nil (the helper exits 0 on SIGTERM)", err)
	}
	if got, want := p.Tail(2), "ready\nterminated"; got != want {
		t.Errorf("Tail(2) = %q, want %q", got, want)
	}
	select {
	case <-p.Done():
	default:
		t.Errorf("Done() not closed after the process exited")
	}
}

func TestProcessStopKillsAfterGrace(t *testing.T) {
	t.Parallel()
	p := startHelper(t, "ignore-term")
	waitLog(t, p, "ready")
	const grace = 300 * time.Millisecond
	start := time.Now()
	p.Stop(grace)
	if elapsed := time.Since(start); elapsed < grace {
		t.Errorf("Stop(%v) returned after %v, want the grace period waited first", grace, elapsed)
	}
	if !signalled(p.Err(), syscall.SIGKILL) {
		t.Errorf("Err() = %v, want killed by SIGKILL", p.Err())
	}
}

func TestProcessSignal(t *testing.T) {
	t.Parallel()
	p := startHelper(t, "term")
	waitLog(t, p, "ready")
	p.Signal(syscall.SIGTERM)
	if !p.Wait(10 * time.Second) {
		t.Fatalf("Wait(10s) after SIGTERM = false, want true")
	}
	if err := p.Err(); err != nil {
		t.Errorf("Err() = %v, want nil", err)
	}
}

func TestProcessWaitTimesOut(t *testing.T) {
	t.Parallel()
	p := startHelper(t, "ignore-term")
	waitLog(t, p, "ready")
	if p.Wait(50 * time.Millisecond) {
		t.Errorf("Wait(50ms) on a running process = true, want false")
	}
	p.Kill()
	if !p.Exited() {
		t.Errorf("Exited() after Kill = false, want true")
	}
	p.Kill() // a second Kill of an exited process returns at once
}

func TestProcessExitError(t *testing.T) {
	t.Parallel()
	p := startHelper(t, "exit3")
	if !p.Wait(10 * time.Second) {
		t.Fatalf("Wait(10s) = false, want the helper to exit")
	}
	var ee *exec.ExitError
	if !errors.As(p.Err(), &ee) || ee.ExitCode() != 3 {
		t.Errorf("Err() = %v, want exit status 3", p.Err())
	}
	if got, want := p.Log(), "failing on purpose\n"; got != want {
		t.Errorf("Log() = %q, want stderr in the log: %q", got, want)
	}
}

// TestProcessKillTakesTheGroup checks nothing is left behind: Kill ends the children the
// process started too (they share its process group).
func TestProcessKillTakesTheGroup(t *testing.T) {
	t.Parallel()
	p := startHelper(t, "parent")
	waitLog(t, p, "parent ready")
	waitLog(t, p, "ready") // the grandchild's
	var grandchild int
	for _, l := range strings.Split(p.Log(), "\n") {
		if s, ok := strings.CutPrefix(l, "grandchild "); ok {
			grandchild, _ = strconv.Atoi(s)
		}
	}
	if grandchild <= 0 {
		t.Fatalf("no grandchild pid in the log:\n%s", p.Log())
	}
	p.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for alive(grandchild) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(grandchild, syscall.SIGKILL)
			t.Fatalf("grandchild %d still running 10s after Kill of its parent's group", grandchild)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid is a running process (a zombie waiting for its reaper is not).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

func signalled(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

func TestStartAppendsToTheLog(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "twice.log")
	for range 2 {
		p, err := Start("exit3", helperCommand("exit3"), logPath)
		if err != nil {
			t.Fatalf("Start() = %v", err)
		}
		if !p.Wait(10 * time.Second) {
			t.Fatalf("Wait(10s) = false, want the helper to exit")
		}
	}
	if got, want := TailFile(logPath, 10), "failing on purpose\nfailing on purpose"; got != want {
		t.Errorf("log after two runs = %q, want %q", got, want)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name    string
		cmd     *exec.Cmd
		logPath string
		want    string
	}{
		{name: "log directory missing", cmd: helperCommand("exit3"), logPath: filepath.Join(dir, "missing", "x.log"), want: "open log for svc: "},
		{name: "binary missing", cmd: exec.Command(filepath.Join(dir, "no-such-binary")), logPath: filepath.Join(dir, "x.log"), want: "start svc: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Start("svc", tt.cmd, tt.logPath)
			if err == nil {
				p.Kill()
				t.Fatalf("Start() = nil error, want %q...", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) || !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Start() = %v, want %q... wrapping os.ErrNotExist", err, tt.want)
			}
		})
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{name: "last two", s: "a\nb\nc\n", n: 2, want: "b\nc"},
		{name: "without final newline", s: "a\nb\nc", n: 2, want: "b\nc"},
		{name: "fewer lines than n", s: "a\nb\n", n: 5, want: "a\nb"},
		{name: "exactly n", s: "a\nb\n", n: 2, want: "a\nb"},
		{name: "blank lines kept", s: "a\n\nb\n\n\n", n: 2, want: "\nb"},
		{name: "empty", s: "", n: 3, want: ""},
		{name: "zero lines", s: "a\nb\n", n: 0, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Tail(tt.s, tt.n); got != tt.want {
				t.Errorf("Tail(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
			}
		})
	}
}

func TestTailFileMissing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "absent.log")
	if got := TailFile(path, 3); !strings.Contains(got, "no such file or directory") {
		t.Errorf("TailFile(missing) = %q, want the read error", got)
	}
}

func TestFreePort(t *testing.T) {
	t.Parallel()
	for range 20 {
		port, err := FreePort()
		if err != nil {
			t.Fatalf("FreePort() = %v", err)
		}
		if port < 10000 || port >= 17000 {
			t.Errorf("FreePort() = %d, want in [10000, 17000)", port)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Errorf("listen on FreePort() = %d: %v; on the port: %s", port, err, PortHolders(port))
			continue
		}
		l.Close()
	}
}

func TestCheckPortFree(t *testing.T) {
	t.Parallel()
	// A port from FreePort, not port 0: a port of the ephemeral range can be taken as the
	// source port of some other process's connection between Close and the second check
	// (seen once in CI: "after close = port already in use").
	var l net.Listener
	for range 10 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if l, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			break
		}
	}
	if l == nil {
		t.Fatal("listen: no port from FreePort could be bound in 10 tries")
	}
	port := l.Addr().(*net.TCPAddr).Port
	err := CheckPortFree(port, "daprd gRPC")
	if !errors.Is(err, ErrPortInUse) {
		t.Errorf("CheckPortFree(%d) on a listening port = %v, want ErrPortInUse", port, err)
	}
	if want := fmt.Sprintf("127.0.0.1:%d (daprd gRPC)", port); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("CheckPortFree(%d) = %v, want the message to name %q", port, err, want)
	}
	if want := fmt.Sprintf("LISTEN held by pid %d %s", os.Getpid(), os.Args[0]); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("CheckPortFree(%d) = %v, want the message to name the process listening: %q", port, err, want)
	}
	l.Close()
	if err := CheckPortFree(port, "daprd gRPC"); err != nil {
		t.Errorf("CheckPortFree(%d) after close = %v, want nil", port, err)
	}
}

// FreePort never hands out a port twice in a process: a test picks an app's port and its
// sidecar's ports before any is bound, so a repeat made two of them the same (daprd refused
// to start: "dapr-grpc-port … conflicts with app-port").
func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 1000 { // 1,000 of 7,000 ports: a random pick repeats within ~100 (birthday bound)
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("FreePort returned %d twice", p)
		}
		seen[p] = true
	}
}

// Nor across processes: `go test ./...` runs two test binaries at once, and each picks its
// stacks' ports before binding them. This process's ports, picked and not bound, are never
// handed to another process while this one lives, and neither is a name it claimed.
func TestFreePortNeverRepeatsAcrossProcesses(t *testing.T) {
	mine := map[int]bool{}
	for range 1000 { // without the claim, ~140 of the other process's 1,000 would be among them
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		mine[p] = true
	}
	name := fmt.Sprintf("test-%d", os.Getpid())
	if !Claim(name) {
		t.Fatalf("Claim(%q) = false for a name nobody claimed", name)
	}
	if Claim(name) {
		t.Fatalf("Claim(%q) = true twice in one process", name)
	}
	cmd := helperCommand("free-ports")
	cmd.Env = append(cmd.Env, "CLAIM_NAME="+name)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if last := lines[len(lines)-1]; last != "claimed false" {
		t.Errorf("the other process got a name this one holds: %q", last)
	}
	var shared []string
	for _, l := range lines[:len(lines)-1] {
		if p, err := strconv.Atoi(l); err != nil {
			t.Fatalf("child printed %q", l)
		} else if mine[p] {
			shared = append(shared, l)
		}
	}
	if len(shared) > 0 {
		t.Errorf("the other process got %d of this process's ports: %s", len(shared), strings.Join(shared, ", "))
	}
}
