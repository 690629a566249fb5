package devstack

import (
	"context"
	"fmt"
	"net/http"
	"sync"
)

// Console is the local web console (internal/console): a handler and the feed that keeps
// its timeline current.
type Console interface {
	http.Handler
	// Run feeds the console until ctx ends.
	Run(ctx context.Context) error
}

// APIToken is the services' APP_API_TOKEN in this stack ("" when unset): callers of their
// gRPC APIs send it as dapr-api-token, as daprd would.
func (s *Stack) APIToken() string { return s.cfg.ServiceEnv["APP_API_TOKEN"] }

// startConsole builds the console with cfg.Console, serves it on the console port and runs
// its feed until Stop.
func (s *Stack) startConsole() error {
	if s.cfg.Console == nil {
		return nil
	}
	c, err := s.cfg.Console(s)
	if err != nil {
		return fmt.Errorf("build the console: %w", err)
	}
	if err := s.serve(s.Ports.Console, c); err != nil {
		return fmt.Errorf("start the console: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.Run(ctx); err != nil {
			s.logf("console feed stopped: %v", err)
		}
	}()
	s.stopConsole = func() { cancel(); wg.Wait() }
	s.Info.ConsoleURL = fmt.Sprintf("http://%s/", addr(s.Ports.Console))
	s.logf("console           %s", s.Info.ConsoleURL)
	return nil
}
