package health

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func status(t *testing.T, c *Checker, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	r, err := c.Server.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("Check(%q) = %v", service, err)
	}
	return r.GetStatus()
}

func TestCheckerFollowsDependencies(t *testing.T) {
	t.Parallel()
	c := NewChecker(0, slog.New(slog.DiscardHandler))
	var mu sync.Mutex
	var dbErr error
	c.Register("postgres", func(context.Context) error { mu.Lock(); defer mu.Unlock(); return dbErr })

	steps := []struct {
		name      string
		err       error
		shutdown  bool
		want      healthpb.HealthCheckResponse_ServingStatus
		wantLive  healthpb.HealthCheckResponse_ServingStatus
		wantServe bool
	}{
		{name: "dependency up", want: healthpb.HealthCheckResponse_SERVING, wantLive: healthpb.HealthCheckResponse_SERVING, wantServe: true},
		{name: "dependency down", err: errors.New("connection refused"), want: healthpb.HealthCheckResponse_NOT_SERVING, wantLive: healthpb.HealthCheckResponse_SERVING},
		{name: "dependency back", want: healthpb.HealthCheckResponse_SERVING, wantLive: healthpb.HealthCheckResponse_SERVING, wantServe: true},
		{name: "shutdown", shutdown: true, want: healthpb.HealthCheckResponse_NOT_SERVING, wantLive: healthpb.HealthCheckResponse_NOT_SERVING},
	}
	if got := status(t, c, ""); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("before the first check: status = %v, want NOT_SERVING", got)
	}
	for _, st := range steps {
		mu.Lock()
		dbErr = st.err
		mu.Unlock()
		if st.shutdown {
			c.Shutdown()
		}
		c.CheckNow(context.Background())
		if got := status(t, c, ""); got != st.want {
			t.Errorf("%s: readiness = %v, want %v", st.name, got, st.want)
		}
		if got := status(t, c, LivenessService); got != st.wantLive {
			t.Errorf("%s: liveness = %v, want %v", st.name, got, st.wantLive)
		}
		if got := c.Serving(); got != st.wantServe {
			t.Errorf("%s: Serving() = %v, want %v", st.name, got, st.wantServe)
		}
	}
}
