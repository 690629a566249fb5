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

// Ceilings: the no-op subscribers StartNoop runs, each copying the subscription modes of
// the services it is the ceiling of (NOOP_MODE in internal/loadtest/noop).
const (
	NoopServices = "noop-subscriber" // notification, recurring-task, websocket
	NoopAudit    = "noop-audit"      // audit
)

// StartNoop builds the no-op subscriber and runs it as name (NoopServices or NoopAudit)
// behind its own daprd on the stack's broker, subscribed to the three topics the services
// consume in the mode of the services it stands for.
func StartNoop(ctx context.Context, s *devstack.Stack, root string, base int, name string) (*Noop, error) {
	bin := filepath.Join(s.Info.RunDir, "bin", name)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./internal/loadtest/noop")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the no-op subscriber: %w\n%s", err, out)
	}
	first, mode := base+60, "services"
	if name == NoopAudit {
		first, mode = base+70, "audit"
	}
	p := devstack.AppPorts{GRPC: first, Metrics: first + 1, DaprHTTP: first + 2, DaprGRPC: first + 3, DaprInternal: first + 4, DaprMetrics: first + 5}
	seen := fmt.Sprintf("127.0.0.1:%d", first+6)
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GRPC_ADDR=127.0.0.1:" + strconv.Itoa(p.GRPC),
		"METRICS_ADDR=127.0.0.1:" + strconv.Itoa(p.Metrics), "SEEN_ADDR=" + seen, "LOG_LEVEL=warn", "SHUTDOWN_TIMEOUT=5s",
		"NOOP_MODE=" + mode}
	app, err := s.StartExtraApp(ctx, name, cmd, p, wire.EventTopicNames()...)
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
