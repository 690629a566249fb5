package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/taskflow/taskflow-events/internal/localrun"
)

// RunFunc is a service's run function (see STYLE.md: main only calls run).
type RunFunc func(ctx context.Context, getenv func(string) string, stdout io.Writer) error

// Service is a service running in-process through its run function.
type Service struct {
	GRPCPort int
	Env      map[string]string
	logs     *SyncBuffer
	run      RunFunc
	cancel   context.CancelFunc
	done     chan error
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// RunService starts run with env (GRPC_ADDR defaults to a free loopback port, METRICS_ADDR
// to "off") and waits until its gRPC health service answers. t.Cleanup stops it.
func RunService(t testing.TB, run RunFunc, env map[string]string) *Service {
	t.Helper()
	e := map[string]string{"METRICS_ADDR": "off", "SHUTDOWN_TIMEOUT": "5s", "HEALTH_INTERVAL": "500ms"}
	for k, v := range env {
		e[k] = v
	}
	var port int
	if addr, ok := e["GRPC_ADDR"]; ok {
		port, _ = strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	} else {
		port = FreePort(t)
		e["GRPC_ADDR"] = "127.0.0.1:" + strconv.Itoa(port)
	}
	s := &Service{GRPCPort: port, Env: e, logs: &SyncBuffer{}, run: run}
	s.start(t)
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("service stopped with error: %v", err)
		}
		if t.Failed() {
			t.Logf("--- service log tail ---\n%s", localrun.Tail(s.logs.String(), 40))
		}
	})
	return s
}

func (s *Service) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done = make(chan error, 1)
	go func() { s.done <- s.run(ctx, func(k string) string { return s.Env[k] }, s.logs) }()
	conn := s.Conn(t)
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("testenv: service exited during start: %v\n%s", err, localrun.Tail(s.logs.String(), 30))
		default:
		}
		cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
		_, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		ccancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: service gRPC not answering on port %d: %v\n%s", s.GRPCPort, err, localrun.Tail(s.logs.String(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Logs returns the service's log output so far.
func (s *Service) Logs() string { return s.logs.String() }

// Stop cancels the service's context (as SIGTERM does) and returns run's error.
// Stopping twice is fine.
func (s *Service) Stop() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("service did not stop within 30s")
	}
}

// Restart stops the service and runs it again with the same environment.
func (s *Service) Restart(t testing.TB) {
	t.Helper()
	if err := s.Stop(); err != nil {
		t.Logf("service stopped with error: %v", err)
	}
	s.start(t)
}

// Conn dials the service's gRPC port.
func (s *Service) Conn(t testing.TB) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("127.0.0.1:"+strconv.Itoa(s.GRPCPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("testenv: dial service: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// WaitHealth waits until grpc.health.v1 reports want.
func (s *Service) WaitHealth(t testing.TB, want healthpb.HealthCheckResponse_ServingStatus, timeout time.Duration) {
	t.Helper()
	hc := healthpb.NewHealthClient(s.Conn(t))
	var last healthpb.HealthCheckResponse_ServingStatus
	WaitFor(t, timeout, "health "+want.String(), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return false
		}
		last = r.GetStatus()
		return last == want
	})
}
