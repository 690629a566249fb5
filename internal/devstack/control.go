package devstack

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/taskflow/taskflow-events/internal/localrun"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// This file holds the controls the fault tests and the load tool use on a running stack:
// restart a service or a sidecar, stop and start PostgreSQL, run an extra app behind its
// own daprd.

func (s *Stack) dsns() map[string]string { return s.dbs }

// DSN is the connection string of one of the stack's databases: "audit", "notification" and
// "postgres" as an admin (the superuser of the throwaway cluster, or DATABASE_URL's role),
// "audit-owner" and "audit-runtime" as the audit service's two roles.
func (s *Stack) DSN(db string) string { return s.dsns()[db] }

// StartService starts service name again (after it was killed or stopped) with the same
// environment and log file, and waits until its gRPC health answers SERVING.
func (s *Stack) StartService(ctx context.Context, name string) error {
	if p := s.Procs[name]; p != nil && !p.Exited() {
		return fmt.Errorf("service %s is still running (pid %d)", name, p.Pid())
	}
	cmd := exec.Command(filepath.Join(s.cfg.RunDir, "bin", name))
	cmd.Env = s.serviceEnv(name, s.Ports.Apps[name], s.dsns())
	proc, err := localrun.Start(name, cmd, filepath.Join(s.cfg.RunDir, "logs", name+".log"))
	if err != nil {
		return err
	}
	s.track(name, proc)
	return WaitServing(ctx, s.Info.Services[name].GRPC, proc)
}

// RestartService kills service name with SIGKILL and starts it again.
func (s *Stack) RestartService(ctx context.Context, name string) error {
	s.Procs[name].Kill()
	return s.StartService(ctx, name)
}

// StartDaprd starts the sidecar of name ("task-api" or a service) again and waits until it
// is ready and subscribed.
func (s *Stack) StartDaprd(ctx context.Context, name string) error {
	if p := s.Procs["daprd-"+name]; p != nil && !p.Exited() {
		return fmt.Errorf("daprd of %s is still running (pid %d)", name, p.Pid())
	}
	d := s.Daprds[name]
	proc, err := localrun.Start("daprd-"+name, d.Command(), filepath.Join(s.cfg.RunDir, "logs", "daprd-"+name+".log"))
	if err != nil {
		return err
	}
	s.track("daprd-"+name, proc)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := d.WaitReady(ctx, proc); err != nil {
		return err
	}
	for _, topic := range wire.SubscribedTopics(name) {
		for !d.Subscribed(ctx, topic) {
			if ctx.Err() != nil || proc.Exited() {
				return fmt.Errorf("daprd of %s did not subscribe to %s:\n%s", name, topic, proc.Tail(30))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// RestartDaprd kills the sidecar of name with SIGKILL and starts it again.
func (s *Stack) RestartDaprd(ctx context.Context, name string) error {
	s.Procs["daprd-"+name].Kill()
	return s.StartDaprd(ctx, name)
}

// StopPostgres stops the throwaway PostgreSQL (fast shutdown: connections are cut).
func (s *Stack) StopPostgres() error {
	if s.pg == nil {
		return fmt.Errorf("the stack uses DATABASE_URL: it does not own its PostgreSQL")
	}
	return s.pg.Stop()
}

// StartPostgres starts the throwaway PostgreSQL again.
func (s *Stack) StartPostgres() error {
	if s.pg == nil {
		return fmt.Errorf("the stack uses DATABASE_URL: it does not own its PostgreSQL")
	}
	return s.pg.Start()
}

// ExtraApp is an additional app process behind its own daprd, e.g. the load tool's no-op
// subscriber.
type ExtraApp struct {
	Name  string
	App   *localrun.Process
	Daprd *localrun.Process
	Spec  localrun.Daprd
	// GRPC is the app's gRPC address; DaprHTTP the sidecar's HTTP base URL.
	GRPC, DaprHTTP string
}

// StartExtraApp starts cmd as app appID on ports (its GRPC port is the app port; the
// caller puts the address into cmd's environment), then its sidecar with the stack's
// resources, and waits until the sidecar lists a subscription to every topic. Stop stops
// both processes with the stack.
func (s *Stack) StartExtraApp(ctx context.Context, appID string, cmd *exec.Cmd, p AppPorts, topics ...string) (*ExtraApp, error) {
	for port, purpose := range map[int]string{p.GRPC: "gRPC", p.DaprHTTP: "daprd HTTP", p.DaprGRPC: "daprd gRPC",
		p.DaprInternal: "daprd internal", p.DaprMetrics: "daprd metrics"} {
		if err := localrun.CheckPortFree(port, appID+" "+purpose); err != nil {
			return nil, err
		}
	}
	app, err := localrun.Start(appID, cmd, filepath.Join(s.cfg.RunDir, "logs", appID+".log"))
	if err != nil {
		return nil, err
	}
	s.track(appID, app)
	spec := s.daprd(s.daprdBin(), appID, p, "grpc")
	d, err := localrun.Start("daprd-"+appID, spec.Command(), filepath.Join(s.cfg.RunDir, "logs", "daprd-"+appID+".log"))
	if err != nil {
		return nil, err
	}
	s.track("daprd-"+appID, d)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := spec.WaitReady(ctx, d); err != nil {
		return nil, fmt.Errorf("%w\napp log:\n%s", err, app.Tail(20))
	}
	for _, topic := range topics {
		for !spec.Subscribed(ctx, topic) {
			if ctx.Err() != nil || d.Exited() {
				return nil, fmt.Errorf("daprd of %s did not subscribe to %s:\n%s", appID, topic, d.Tail(30))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return &ExtraApp{Name: appID, App: app, Daprd: d, Spec: spec, GRPC: addr(p.GRPC), DaprHTTP: spec.HTTPAddr()}, nil
}

// WaitServing polls grpc.health.v1 on addr until the overall status is SERVING, proc exits
// or ctx ends (at most 60 s).
func WaitServing(ctx context.Context, addr string, proc *localrun.Process) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		ccancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if proc != nil && proc.Exited() {
			return fmt.Errorf("%s exited (%v):\n%s", proc.Name, proc.Err(), proc.Tail(30)) //nolint:errorlint // the error may be nil (a clean exit): %v prints <nil> where %w would print %!w
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not SERVING: %w (last: %v %v)", addr, ctx.Err(), resp.GetStatus(), err) //nolint:errorlint // the error may be nil (the last check answered): %v prints <nil> where %w would print %!w
		case <-time.After(100 * time.Millisecond):
		}
	}
}
