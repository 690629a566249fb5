package faulttest

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/taskflow/taskflow-events/internal/loadtest"
)

// Stream shape shared by the scenarios: 50 events/s, a mix of the three kinds.
const (
	interval = 20 * time.Millisecond
	// effectTimeout bounds the wait for every effect after a fault; settle is how long we
	// keep looking for late duplicates once everything has arrived.
	effectTimeout = 90 * time.Second
	settle        = 3 * time.Second
	// grace is the services' SHUTDOWN_TIMEOUT in the local stack.
	grace = 10 * time.Second
)

// TestFaults runs every fault scenario against one stack, one after the other; each
// scenario checks only the events it published.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the whole stack")
	}
	e := startStack(t)
	ctx := context.Background()

	t.Run("KillServiceMidStream", func(t *testing.T) {
		st := e.stream(t, 180, interval, 0)
		for i, name := range []string{"audit", "notification", "recurring-task"} {
			st.waitSent(t, 40*(i+1))
			if err := e.s.RestartService(ctx, name); err != nil {
				t.Fatalf("restart %s after kill -9: %v", name, err)
			}
			t.Logf("kill -9 %s after %d events, restarted", name, 40*(i+1))
		}
		// The true guarantee of a crash: an e-mail in flight at the kill may go out twice.
		e.expectOnceExceptCrashResends(t, st.wait(t), effectTimeout, settle)
	})

	t.Run("KillSidecarMidStream", func(t *testing.T) {
		st := e.stream(t, 180, interval, 0)
		for i, name := range []string{"audit", "notification", "recurring-task", "websocket"} {
			st.waitSent(t, 30*(i+1))
			if err := e.s.RestartDaprd(ctx, name); err != nil {
				t.Fatalf("restart daprd of %s after kill -9: %v", name, err)
			}
			t.Logf("kill -9 daprd-%s after %d events, restarted", name, 30*(i+1))
		}
		e.expectExactlyOnce(t, st.wait(t), effectTimeout, settle)
	})

	t.Run("PostgresRestartMidStream", func(t *testing.T) {
		h := watchHealth(t, e.s.Info.Services["audit"].GRPC)
		st := e.stream(t, 150, interval, 0)
		st.waitSent(t, 50)
		if err := e.s.StopPostgres(); err != nil {
			t.Fatalf("stop PostgreSQL: %v", err)
		}
		if !h.waitFor(healthpb.HealthCheckResponse_NOT_SERVING, 10*time.Second) {
			t.Errorf("audit health stayed %v with PostgreSQL down, want NOT_SERVING", h.last())
		}
		time.Sleep(2 * time.Second)
		if err := e.s.StartPostgres(); err != nil {
			t.Fatalf("start PostgreSQL again: %v", err)
		}
		if !h.waitFor(healthpb.HealthCheckResponse_SERVING, 30*time.Second) {
			t.Errorf("audit health stayed %v after PostgreSQL came back, want SERVING", h.last())
		}
		t.Logf("audit health: %v", h.history())
		e.expectExactlyOnce(t, st.wait(t), effectTimeout, settle)
	})

	t.Run("PostgresRestartedTenTimes", func(t *testing.T) {
		// PostgreSQL stopped (fast: connections cut) and started ten times while reminders,
		// completions and updates stream in: every mail, webhook, in-app notification, next
		// occurrence, audit record and WebSocket frame still exactly once. Each outage lands
		// somewhere else in the notification service's cycle (plan, send, record, retry pass).
		st := e.stream(t, 400, 50*time.Millisecond, 0)
		st.waitSent(t, 20)
		for i := range 10 {
			if err := e.s.StopPostgres(); err != nil {
				t.Fatalf("stop PostgreSQL (%d): %v", i+1, err)
			}
			time.Sleep(time.Duration(500+150*i) * time.Millisecond)
			if err := e.s.StartPostgres(); err != nil {
				t.Fatalf("start PostgreSQL again (%d): %v", i+1, err)
			}
			time.Sleep(time.Second)
		}
		t.Logf("PostgreSQL restarted 10 times")
		e.expectExactlyOnce(t, st.wait(t), effectTimeout, settle)
	})

	t.Run("PostgresOutageLongerThanLiveness", func(t *testing.T) {
		// kubelet, as the chart configures it (chart/values.yaml probes.liveness): every
		// period it asks grpc.health.v1 Check for the "liveness" service with a timeout,
		// and restarts the pod after failureThreshold failures in a row.
		const (
			probeService = "liveness"
			period       = 10 * time.Second
			timeout      = 2 * time.Second
			threshold    = 3
		)
		probe := func(addr string) error {
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: probeService})
			if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				err = fmt.Errorf("status %v", resp.GetStatus())
			}
			return err
		}
		ready := map[string]*health{}
		for _, name := range []string{"audit", "notification"} {
			ready[name] = watchHealth(t, e.s.Info.Services[name].GRPC)
		}
		if err := e.s.StopPostgres(); err != nil {
			t.Fatalf("stop PostgreSQL: %v", err)
		}
		outage := time.Duration(threshold+1) * period // longer than kubelet's window
		failures := map[string]int{}
		for end := time.Now().Add(outage); time.Now().Before(end); time.Sleep(period) {
			for _, name := range []string{"audit", "notification"} {
				if err := probe(e.s.Info.Services[name].GRPC); err != nil {
					failures[name]++
					t.Errorf("%s liveness probe failed with PostgreSQL down: %v", name, err)
				} else {
					failures[name] = 0
				}
				if failures[name] >= threshold {
					t.Errorf("%s: %d liveness failures in a row: kubelet would restart it", name, failures[name])
				}
			}
		}
		for name, h := range ready {
			if !h.waitFor(healthpb.HealthCheckResponse_NOT_SERVING, time.Second) {
				t.Errorf("%s readiness (overall health) stayed %v with PostgreSQL down, want NOT_SERVING", name, h.last())
			}
		}
		if err := e.s.StartPostgres(); err != nil {
			t.Fatalf("start PostgreSQL again: %v", err)
		}
		for name, h := range ready {
			if !h.waitFor(healthpb.HealthCheckResponse_SERVING, 30*time.Second) {
				t.Errorf("%s readiness stayed %v after PostgreSQL came back, want SERVING", name, h.last())
			}
		}
		// Delivery resumes: the stack still delivers every effect once.
		st := e.stream(t, 30, interval, 0)
		e.expectExactlyOnce(t, st.wait(t), effectTimeout, settle)
	})

	t.Run("PoisonFlood", func(t *testing.T) {
		st := e.stream(t, 300, 10*time.Millisecond, 10)
		events := st.wait(t)
		e.expectExactlyOnce(t, events, effectTimeout, settle)
		// Every malformed event is dead-lettered once by each subscriber of its topic.
		dlqs := map[loadtest.Kind][]string{
			loadtest.Completion: {"task-events-audit-dlq", "task-events-recurring-dlq"},
			loadtest.Reminder:   {"reminders-audit-dlq", "reminders-notification-dlq"},
			loadtest.Update:     {"task-updates-audit-dlq", "task-updates-websocket-dlq"},
		}
		var topics []string
		want := map[string][]string{}
		for k, ts := range dlqs {
			topics = append(topics, ts...)
			for _, ev := range events {
				if ev.Malformed && ev.Kind == k {
					for _, tp := range ts {
						want[tp] = append(want[tp], ev.ID)
					}
				}
			}
		}
		complete := func(got map[string]map[string]int) bool {
			for tp, ids := range want {
				for _, id := range ids {
					if got[tp][id] == 0 {
						return false
					}
				}
			}
			return true
		}
		deadLetters(t, e.s.Info.Broker, topics, complete, 60*time.Second)
		time.Sleep(settle)
		got := deadLetters(t, e.s.Info.Broker, topics, func(map[string]map[string]int) bool { return false }, 3*time.Second)
		malformed := 0
		for tp, ids := range want {
			malformed += len(ids)
			for _, id := range ids {
				if n := got[tp][id]; n != 1 {
					t.Errorf("malformed event %s is on %s %d times, want once", id, tp, n)
				}
			}
			if extra := len(got[tp]) - len(ids); extra > 0 {
				t.Errorf("%s holds %d records that are not malformed events of this run", tp, extra)
			}
		}
		t.Logf("%d malformed events checked on %d dead-letter topics", malformed/2, len(topics))
	})

	t.Run("SigtermUnderLoad", func(t *testing.T) {
		st := e.stream(t, 180, interval, 0)
		for i, name := range []string{"notification", "audit", "recurring-task"} {
			st.waitSent(t, 40*(i+1))
			p := e.s.Procs[name]
			start := time.Now()
			p.Signal(syscall.SIGTERM)
			if !p.Wait(grace + 2*time.Second) {
				t.Errorf("%s did not exit within %v of SIGTERM (grace %v)", name, grace+2*time.Second, grace)
				p.Kill()
			} else if p.Err() != nil {
				t.Errorf("%s exited with %v after SIGTERM, want a clean exit\n%s", name, p.Err(), p.Tail(20))
			}
			t.Logf("SIGTERM %s after %d events: exited in %v", name, 40*(i+1), time.Since(start).Round(time.Millisecond))
			if err := e.s.StartService(ctx, name); err != nil {
				t.Fatalf("start %s again: %v", name, err)
			}
		}
		e.expectExactlyOnce(t, st.wait(t), effectTimeout, settle)
	})
}

// health records the grpc.health.v1 statuses of a service, polled every 50 ms.
type health struct {
	statuses chan healthpb.HealthCheckResponse_ServingStatus
	seen     []string
	cur      healthpb.HealthCheckResponse_ServingStatus
}

func watchHealth(t *testing.T, addr string) *health {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &health{statuses: make(chan healthpb.HealthCheckResponse_ServingStatus, 1024)}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done; conn.Close() })
	go func() {
		defer close(done)
		c := healthpb.NewHealthClient(conn)
		for ctx.Err() == nil {
			cctx, ccancel := context.WithTimeout(ctx, 500*time.Millisecond)
			resp, err := c.Check(cctx, &healthpb.HealthCheckRequest{})
			ccancel()
			s := resp.GetStatus()
			if err != nil {
				s = healthpb.HealthCheckResponse_UNKNOWN
			}
			select {
			case h.statuses <- s:
			default:
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return h
}

// waitFor consumes statuses until want is seen or timeout passes.
func (h *health) waitFor(want healthpb.HealthCheckResponse_ServingStatus, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		select {
		case s := <-h.statuses:
			if s != h.cur || len(h.seen) == 0 {
				h.seen = append(h.seen, fmt.Sprintf("%v@%s", s, time.Now().Format("15:04:05.000")))
			}
			h.cur = s
			if s == want {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

func (h *health) last() healthpb.HealthCheckResponse_ServingStatus { return h.cur }
func (h *health) history() []string                                { return h.seen }
