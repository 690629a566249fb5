package localrun

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// FreePort returns a loopback TCP port that was free a moment ago, from [10000, 17000):
// below the kernel's ephemeral range (32768-60999), where the source ports of outgoing
// connections come from, and away from the blocks of whole stacks (FreePortBase: 20000 up;
// `make run`: 17000 up). A port from the ephemeral range (what listening on port 0 gives)
// was now and then taken by some client connection between being picked and being bound
// by daprd ("bind: address already in use").
//
// A port is handed out once on this machine while the process that got it lives (Claim):
// a test picks an app's port and its sidecar's ports before any of them is bound, and a
// random pick that repeated one made daprd refuse to start ("the 'dapr-grpc-port' argument
// value 12509 conflicts with 'app-port'", seen once in a fresh-clone `make test`); `go test
// ./...` runs two test binaries at once, which pick from the same range.
func FreePort() (int, error) {
	for range 200 {
		p := 10000 + rand.IntN(7000)
		if !Claim("port-" + strconv.Itoa(p)) {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			l.Close()
			return p, nil
		}
	}
	return 0, errors.New("find a free port: none free in [10000, 17000) after 200 tries")
}

// Claim reserves name (a port, a block of ports) for this process until it exits, across
// every process on the machine that claims names the same way, and reports whether it got
// it: false when another process, or this one, claimed it before.
//
// A claim is an exclusive flock(2) on a file named after it in the temporary directory,
// kept open for the process's lifetime: the kernel drops it when the process dies however
// it dies, so nothing is left to clean up. Where the lock files cannot be made, only this
// process's own claims are remembered.
func Claim(name string) bool {
	claims.Lock()
	defer claims.Unlock()
	if claims.held[name] {
		return false
	}
	f, err := lockFile(name)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false // another process holds it
	}
	if err == nil {
		claims.files = append(claims.files, f)
	}
	claims.held[name] = true
	return true
}

// claims is every name this process claimed, and the open lock files that hold them.
var claims = struct {
	sync.Mutex
	held  map[string]bool
	files []*os.File
}{held: map[string]bool{}}

// lockFile takes an exclusive, non-blocking flock on the lock file of name and returns the
// open file that holds it; syscall.EWOULDBLOCK when another process holds it.
func lockFile(name string) (*os.File, error) {
	dir := filepath.Join(os.TempDir(), "taskflow-port-claims")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	// World-writable with the sticky bit, as /tmp is: two users' runs on one machine pick
	// from the same ports. Only the directory's owner can change it; then it is already so.
	_ = os.Chmod(dir, 0o777|os.ModeSticky)
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
