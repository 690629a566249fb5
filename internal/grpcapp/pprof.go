package grpcapp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"github.com/taskflow/taskflow-events/internal/envconfig"
)

// readPprofAddr reads PPROF_ADDR: where net/http/pprof is served for profiling runs
// (`make bench` with profiles, services' READMEs), off when empty (the default). Profiles
// show payloads and stacks, so only a loopback address is accepted: reach it with
// `kubectl port-forward` or from the same host.
func readPprofAddr(r *envconfig.Reader) string {
	addr := r.String("PPROF_ADDR", "")
	if addr == "" {
		return ""
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		r.Fail("PPROF_ADDR=%q: want a loopback host:port (127.0.0.1, ::1 or localhost); profiles are never served beyond the host", addr)
	}
	return addr
}

// servePprof serves the CPU, heap, goroutine, block and mutex profiles on addr until ctx
// ends. Block and mutex sampling are on while it runs (blocking events of ~10 µs and more,
// one in 100 mutex contentions): their cost is why profiling is opt-in.
func servePprof(ctx context.Context, addr string) error {
	lis, err := Listen(addr)
	if err != nil {
		return fmt.Errorf("pprof: %w", err)
	}
	return ServePprof(ctx, lis)
}

// ServePprof is servePprof on a listener (the load tool profiles itself with it).
func ServePprof(ctx context.Context, lis net.Listener) error {
	runtime.SetBlockProfileRate(int(10 * time.Microsecond))
	runtime.SetMutexProfileFraction(100)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve pprof: %w", err)
	}
	return nil
}
