package main

// Processes and relays the fault tests drive: an SMTP proxy that can be cut, a relay that
// never confirms, and the service in a child process that can be SIGKILLed.

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/taskflow/taskflow-events/internal/testenv"
)

// smtpProxy forwards TCP connections to an SMTP relay until cut: then it drops the open
// connections and resets every new one, as a relay that went away does, until restore.
type smtpProxy struct {
	Addr     string
	upstream string
	lis      net.Listener

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

func startSMTPProxy(t testing.TB, upstream string) *smtpProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("SMTP proxy: %v", err)
	}
	p := &smtpProxy{Addr: lis.Addr().String(), upstream: upstream, lis: lis, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { lis.Close(); p.cut() })
	return p
}

func (p *smtpProxy) serve() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *smtpProxy) forward(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		resetConn(c)
		return
	}
	p.conns[c] = true
	p.mu.Unlock()
	up, err := net.DialTimeout("tcp", p.upstream, 2*time.Second)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		up.Close()
		p.drop(c)
		return
	}
	p.conns[up] = true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); p.drop(up) }()
	_, _ = io.Copy(c, up)
	p.drop(c)
}

func (p *smtpProxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	resetConn(c)
}

// cut makes the relay unreachable: open sessions are reset, new ones too.
func (p *smtpProxy) cut() {
	p.mu.Lock()
	p.down = true
	open := p.conns
	p.conns = map[net.Conn]bool{}
	p.mu.Unlock()
	for c := range open {
		resetConn(c)
	}
}

// restore lets connections through again.
func (p *smtpProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// resetConn closes c with a TCP RST instead of a FIN.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// blackHoleSMTP is a relay that takes a whole message and never confirms it: it answers
// the greeting, EHLO, MAIL, RCPT and DATA, reads the message to its final ".", and then
// stays silent until the client goes away.
type blackHoleSMTP struct {
	Addr string
	lis  net.Listener

	mu       sync.Mutex
	conns    []net.Conn
	received int // messages read to their end
}

func startBlackHoleSMTP(t testing.TB) *blackHoleSMTP {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("black hole SMTP: %v", err)
	}
	b := &blackHoleSMTP{Addr: lis.Addr().String(), lis: lis}
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			go b.session(c)
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.conns {
			c.Close()
		}
	})
	return b
}

func (b *blackHoleSMTP) session(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func(s string) bool { _, err := io.WriteString(c, s+"\r\n"); return err == nil }
	if !reply("220 blackhole.test ESMTP") {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			reply("250 blackhole.test")
		case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"), cmd == "RSET", cmd == "NOOP":
			reply("250 OK")
		case cmd == "DATA":
			reply("354 End data with <CR><LF>.<CR><LF>")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			b.mu.Lock()
			b.received++
			b.mu.Unlock()
			_, _ = io.Copy(io.Discard, c) // never "250": the sender waits
			return
		case cmd == "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

// messages returns how many messages the black hole read to their end.
func (b *blackHoleSMTP) messages() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.received
}

// childEnv, set to 1, makes the test binary run the service instead of the tests (see
// TestMain): a replica the test can SIGKILL.
const childEnv = "TASKFLOW_NOTIFICATION_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main() // serves until SIGTERM; exits 1 on error
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serviceProcess is the service running in a child process (the test binary, see
// TestMain), so that it can be killed with SIGKILL.
type serviceProcess struct {
	*testenv.Process
	GRPCPort int
}

// startServiceProcess starts the service with env (plus the defaults RunService uses)
// and nothing of the test's own environment but what a process needs, and waits until
// its gRPC health service answers. t.Cleanup stops it.
func startServiceProcess(t testing.TB, name string, env map[string]string) *serviceProcess {
	t.Helper()
	port := testenv.FreePort(t)
	vars := []string{childEnv + "=1", "GRPC_ADDR=127.0.0.1:" + strconv.Itoa(port), "METRICS_ADDR=off",
		"SHUTDOWN_TIMEOUT=5s", "HEALTH_INTERVAL=500ms"}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "ZONEINFO", "GOCOVERDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			vars = append(vars, k+"="+v)
		}
	}
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$") // never the tests, should TestMain not catch it
	cmd.Env = vars
	p := &serviceProcess{Process: testenv.StartProcess(t, name, cmd), GRPCPort: port}
	conn, err := grpc.NewClient("127.0.0.1:"+strconv.Itoa(port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	testenv.WaitFor(t, 30*time.Second, name+" to answer health checks", func() bool {
		if p.Exited() {
			t.Fatalf("%s exited during start: %v\n%s", name, p.Err(), p.Tail(30))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil
	})
	return p
}
