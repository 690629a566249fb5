package loadtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/taskflow/taskflow-events/internal/devstack"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// Noop is the running no-op subscriber.
type Noop struct {
	*devstack.ExtraApp
	SeenURL string
}

// StartNoop builds the no-op subscriber and runs it behind its own daprd on the stack's
// broker, subscribed to the three topics the services consume.
func StartNoop(ctx context.Context, s *devstack.Stack, root string, base int) (*Noop, error) {
	bin := filepath.Join(s.Info.RunDir, "bin", "noop-subscriber")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./internal/loadtest/noop")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the no-op subscriber: %w\n%s", err, out)
	}
	p := devstack.AppPorts{GRPC: base + 60, Metrics: base + 61, DaprHTTP: base + 62, DaprGRPC: base + 63, DaprInternal: base + 64, DaprMetrics: base + 65}
	seen := fmt.Sprintf("127.0.0.1:%d", base+66)
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GRPC_ADDR=127.0.0.1:" + strconv.Itoa(p.GRPC),
		"METRICS_ADDR=127.0.0.1:" + strconv.Itoa(p.Metrics), "SEEN_ADDR=" + seen, "LOG_LEVEL=warn", "SHUTDOWN_TIMEOUT=5s"}
	app, err := s.StartExtraApp(ctx, "noop-subscriber", cmd, p, wire.EventTopicNames()...)
	if err != nil {
		return nil, err
	}
	return &Noop{ExtraApp: app, SeenURL: "http://" + seen}, nil
}

// Machine describes where a run happened, for the report.
func Machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (nproc %d, %s), %s %s/%s, %s", runtime.NumCPU(), runtime.NumCPU(), cpu,
		runtime.Version(), runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}
