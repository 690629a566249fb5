package grpcapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
)

// stop is Run's shutdown once serving ends: health NOT_SERVING, background tasks
// cancelled, the gRPC server drained within ShutdownTimeout, then the shutdown hooks.
// It returns the first failure of a server or task and every drain and hook error.
func (a *App) stop(stopTasks context.CancelFunc, g *errgroup.Group, metricsSrv *http.Server) error {
	a.Logger.Info("service_stopping")
	deadline, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	a.Health.Shutdown()
	// Background tasks (HTTP servers, sweepers, maintenance) stop alongside the gRPC drain,
	// within the same deadline, so the whole shutdown stays inside SHUTDOWN_TIMEOUT.
	stopTasks()
	// Keep serving for a moment with health NOT_SERVING before the listener closes, so
	// that probes and clients polling health see the pod going away instead of a refused
	// connection (GracefulStop closes the listener and sends GOAWAY at once).
	select {
	case <-time.After(min(time.Second, a.cfg.ShutdownTimeout/4)):
	case <-deadline.Done():
	}
	runErr := a.drain(deadline, g, metricsSrv)
	runErr = a.runShutdownHooks(runErr)
	a.Logger.Info("service_stopped")
	return runErr
}

// drain stops the gRPC server (forced at the deadline), waits for in-flight events, stops
// the metrics server and waits for the servers and background tasks to return.
func (a *App) drain(deadline context.Context, g *errgroup.Group, metricsSrv *http.Server) error {
	var runErr error
	stopped := make(chan struct{})
	go func() { a.GRPC.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-deadline.Done():
		a.Logger.Warn("shutdown_forced", "timeout", a.cfg.ShutdownTimeout.String())
		a.GRPC.Stop()
	}
	if err := a.Events.Wait(deadline); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(deadline)
	}
	tasksDone := make(chan error, 1)
	go func() { tasksDone <- g.Wait() }()
	select {
	case err := <-tasksDone:
		if err != nil {
			// The failure that ended serving comes first; in-flight events that did not
			// finish are reported with it, not instead of it.
			runErr = errors.Join(err, runErr)
		}
	case <-deadline.Done():
		runErr = errors.Join(runErr, fmt.Errorf("background tasks still running after SHUTDOWN_TIMEOUT %v", a.cfg.ShutdownTimeout))
	}
	return runErr
}

// runShutdownHooks runs the OnShutdown hooks in order and adds their errors to runErr.
// Hooks close pools and clients; they get a short budget of their own even when the
// drain used up the deadline.
func (a *App) runShutdownHooks(runErr error) error {
	hookCtx, hookCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer hookCancel()
	for _, fn := range a.shutdown {
		if err := fn(hookCtx); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	return runErr
}
