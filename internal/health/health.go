// Package health keeps a service's gRPC health status in step with its dependencies.
package health

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// LivenessService is the grpc.health.v1 service name that stays SERVING while the process
// runs (until shutdown), whatever its dependencies do; "" is the readiness status.
const LivenessService = "liveness"

// Check reports whether a dependency is usable; it must return within its context.
type Check func(ctx context.Context) error

// Checker runs registered checks periodically and sets the standard gRPC health server
// to SERVING only while all of them pass and the service is not shutting down.
type Checker struct {
	Server   *health.Server
	interval time.Duration
	timeout  time.Duration
	logger   *slog.Logger

	mu       sync.Mutex
	checks   map[string]Check
	failing  map[string]error
	shutdown bool
	kick     chan struct{}
}

// NewChecker returns a Checker that polls every interval; the status starts NOT_SERVING
// until the first round of checks passes.
func NewChecker(interval time.Duration, logger *slog.Logger) *Checker {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	s := health.NewServer()
	s.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	// "liveness" says only that the process serves gRPC: a dependency outage must make a
	// pod unready, not get it restarted.
	s.SetServingStatus(LivenessService, healthpb.HealthCheckResponse_SERVING)
	return &Checker{
		Server: s, interval: interval, timeout: interval, logger: logger,
		checks: map[string]Check{}, kick: make(chan struct{}, 1),
	}
}

// Register adds a named dependency check; call before Run.
func (c *Checker) Register(name string, check Check) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checks[name] = check
}

// Serving reports whether the service currently answers SERVING.
func (c *Checker) Serving() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.shutdown && len(c.failing) == 0 && c.checkedOnce()
}

func (c *Checker) checkedOnce() bool { return c.failing != nil }

// Err returns one failing dependency's error, or nil.
func (c *Checker) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, err := range c.failing {
		return err
	}
	return nil
}

// Recheck asks Run to check all dependencies now (e.g. after a handler saw one fail).
func (c *Checker) Recheck() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Shutdown sets NOT_SERVING for good.
func (c *Checker) Shutdown() {
	c.mu.Lock()
	c.shutdown = true
	c.mu.Unlock()
	c.Server.Shutdown()
}

// Run checks all dependencies every interval until ctx ends.
func (c *Checker) Run(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		c.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
	}
}

// CheckNow runs one round of checks synchronously.
func (c *Checker) CheckNow(ctx context.Context) { c.round(ctx) }

func (c *Checker) round(ctx context.Context) {
	c.mu.Lock()
	checks := make(map[string]Check, len(c.checks))
	for k, v := range c.checks {
		checks[k] = v
	}
	c.mu.Unlock()

	failing := map[string]error{}
	for name, check := range checks {
		cctx, cancel := context.WithTimeout(ctx, c.timeout)
		if err := check(cctx); err != nil {
			failing[name] = err
		}
		cancel()
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shutdown || ctx.Err() != nil {
		return
	}
	for name, err := range failing {
		if _, was := c.failing[name]; !was {
			c.logger.WarnContext(ctx, "dependency_unhealthy", "dependency", name, "error", err.Error())
		}
	}
	for name := range c.failing {
		if _, still := failing[name]; !still {
			c.logger.InfoContext(ctx, "dependency_recovered", "dependency", name)
		}
	}
	c.failing = failing
	st := healthpb.HealthCheckResponse_SERVING
	if len(failing) > 0 {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	c.Server.SetServingStatus("", st)
}
