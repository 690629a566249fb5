package grpcapp

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func TestRequestLimits(t *testing.T) {
	t.Parallel()
	app, cfg := newTestApp(t, time.Second, time.Second)
	app.LimitRequests("/grpc.health.v1.Health/", 64)
	app.LimitRequests("/grpc.health.v1.Health/Check", 32)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v after cancel, want nil", err)
		}
	}()
	conn, err := grpc.NewClient(cfg.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	check := func(service string) error {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		for {
			_, err := client.Check(cctx, &healthpb.HealthCheckRequest{Service: service})
			if status.Code(err) != codes.Unavailable || cctx.Err() != nil {
				return err
			}
			time.Sleep(50 * time.Millisecond) // the server is still starting
		}
	}
	if err := check(""); err != nil {
		t.Fatalf("Check within the limit = %v", err)
	}
	// The longest prefix decides: 32 bytes for Check, not the service's 64.
	err = check(strings.Repeat("x", 40))
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "at most 32") {
		t.Errorf("Check of 42 bytes = %v, want ResourceExhausted naming the 32-byte limit", err)
	}
	lim := app.limits
	for method, want := range map[string]int{
		"/grpc.health.v1.Health/Watch":                                   64,
		"/taskflow.audit.v1.AuditService/ListEvents":                     DefaultRequestLimit,
		"/dapr.proto.runtime.v1.AppCallback/OnBulkTopicEvent":            maxRecvMsgSize,
		"/dapr.proto.runtime.v1.AppCallbackAlpha/OnBulkTopicEventAlpha1": maxRecvMsgSize,
	} {
		if got := lim.of(method); got != want {
			t.Errorf("limit of %s = %d, want %d", method, got, want)
		}
	}
}
