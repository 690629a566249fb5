package grpcapp

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/localrun"
)

// newTestApp returns an App on a free loopback port with metrics off and pub/sub "ps".
func newTestApp(t *testing.T, shutdown, healthInterval time.Duration) (*App, Config) {
	t.Helper()
	port, err := localrun.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{GRPCAddr: "127.0.0.1:" + strconv.Itoa(port), MetricsAddr: "off", ShutdownTimeout: shutdown,
		HealthInterval: healthInterval, PubsubName: "ps"}
	return New(cfg, slog.New(slog.DiscardHandler)), cfg
}

func TestReadConfigReportsEveryError(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SHUTDOWN_TIMEOUT": "soon", "LOG_LEVEL": "loud", "HEALTH_INTERVAL": "-1s"}
	r := envconfig.New(func(k string) string { return env[k] })
	ReadConfig(r)
	err := r.Err()
	for _, want := range []string{"SHUTDOWN_TIMEOUT", "LOG_LEVEL", "HEALTH_INTERVAL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadConfig errors = %v, want one about %s", err, want)
		}
	}
}

// TestRunDrainsInFlightEventsOnShutdown: when the context ends (SIGTERM in main), health
// turns NOT_SERVING, an event being handled is finished and answered, then Run returns.
func TestRunDrainsInFlightEventsOnShutdown(t *testing.T) {
	t.Parallel()
	app, cfg := newTestApp(t, 5*time.Second, 50*time.Millisecond)
	started, release := make(chan struct{}), make(chan struct{})
	finished := false
	daprsub.Handle(app.Events, daprsub.Subscription{PubsubName: "ps", Topic: "t"}, func(context.Context, daprsub.Meta, *eventsv1.TaskEvent) error {
		close(started)
		<-release
		finished = true
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()

	conn, err := grpc.NewClient(cfg.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	waitStatus := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			r, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{})
			if err == nil && r.GetStatus() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health = %v, %v; want %v", r.GetStatus(), err, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitStatus(healthpb.HealthCheckResponse_SERVING)

	data, _ := proto.Marshal(&eventsv1.TaskEvent{EventId: "e1"})
	answer := make(chan *runtimev1.TopicEventResponse, 1)
	go func() {
		r, err := runtimev1.NewAppCallbackClient(conn).OnTopicEvent(context.Background(), &runtimev1.TopicEventRequest{
			PubsubName: "ps", Topic: "t", DataContentType: "application/octet-stream", Data: data})
		if err != nil {
			t.Errorf("in-flight OnTopicEvent failed during shutdown: %v", err)
		}
		answer <- r
	}()
	<-started
	cancel() // SIGTERM
	waitStatus(healthpb.HealthCheckResponse_NOT_SERVING)
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while an event was still being handled", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if r := <-answer; r.GetStatus() != runtimev1.TopicEventResponse_SUCCESS {
		t.Errorf("in-flight event answered %v, want SUCCESS", r.GetStatus())
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v, want nil after a clean drain", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the drain")
	}
	if !finished {
		t.Error("handler did not finish")
	}
}

// TestRunForcesStopAfterShutdownTimeout: a handler that never returns cannot hold the
// process past SHUTDOWN_TIMEOUT.
func TestRunForcesStopAfterShutdownTimeout(t *testing.T) {
	t.Parallel()
	app, cfg := newTestApp(t, 300*time.Millisecond, time.Second)
	started, block := make(chan struct{}), make(chan struct{})
	defer close(block)
	daprsub.Handle(app.Events, daprsub.Subscription{PubsubName: "ps", Topic: "t", Timeout: time.Hour}, func(context.Context, daprsub.Meta, *eventsv1.TaskEvent) error {
		close(started)
		<-block
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	conn, err := grpc.NewClient(cfg.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	data, _ := proto.Marshal(&eventsv1.TaskEvent{EventId: "e1"})
	go func() {
		for {
			_, err := runtimev1.NewAppCallbackClient(conn).OnTopicEvent(context.Background(), &runtimev1.TopicEventRequest{
				PubsubName: "ps", Topic: "t", DataContentType: "application/octet-stream", Data: data})
			if err == nil || ctx.Err() != nil {
				return
			}
			time.Sleep(20 * time.Millisecond) // server not listening yet
		}
	}()
	<-started
	begin := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run() = %v, want the drain deadline reported", err)
		}
		if d := time.Since(begin); d > 2*time.Second {
			t.Errorf("shutdown took %v, want about the 300ms SHUTDOWN_TIMEOUT", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after SHUTDOWN_TIMEOUT")
	}
}

// TestRunReturnsWhenATaskFails: a task that fails (an HTTP listener dying, say) shuts the
// App down and Run returns its error instead of waiting for the gRPC server forever.
func TestRunReturnsWhenATaskFails(t *testing.T) {
	t.Parallel()
	app, _ := newTestApp(t, time.Second, time.Second)
	boom := errors.New("task failed")
	app.Go(func(context.Context) error { return boom })
	done := make(chan error, 1)
	go func() { done <- app.Run(context.Background()) }()
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Errorf("Run() = %v, want the task's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after a task failed")
	}
}

// TestRunBoundsTasksThatIgnoreTheirContext: a background task that does not stop cannot
// hold the process past SHUTDOWN_TIMEOUT.
func TestRunBoundsTasksThatIgnoreTheirContext(t *testing.T) {
	t.Parallel()
	app, _ := newTestApp(t, 300*time.Millisecond, time.Second)
	release := make(chan struct{})
	defer close(release)
	app.Go(func(context.Context) error { <-release; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	begin := time.Now()
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "background tasks still running") {
			t.Errorf("Run() = %v, want the stuck task reported", err)
		}
		if d := time.Since(begin); d > 2*time.Second {
			t.Errorf("shutdown took %v, want about the 300ms SHUTDOWN_TIMEOUT", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return: a stuck task held the shutdown")
	}
}
