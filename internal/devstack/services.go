package devstack

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/taskflow/taskflow-events/internal/localrun"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// This file holds the last phases of Start: the four services, then a sidecar for each and
// one for the Task API double, then the wait until every sidecar is subscribed.

// startServices starts every service's binary with its environment and records its
// addresses in s.Info.Services.
func (s *Stack) startServices(dsns map[string]string) error {
	for _, svc := range Services {
		p := s.Ports.Apps[svc.Name]
		env := s.serviceEnv(svc.Name, p, dsns)
		cmd := exec.Command(filepath.Join(s.cfg.RunDir, "bin", svc.Name))
		cmd.Env = env
		logPath := filepath.Join(s.cfg.RunDir, "logs", svc.Name+".log")
		proc, err := localrun.Start(svc.Name, cmd, logPath)
		if err != nil {
			return err
		}
		s.track(svc.Name, proc)
		info := ServiceInfo{AppID: svc.AppID, GRPC: addr(p.GRPC), Metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", p.Metrics),
			DaprHTTP: fmt.Sprintf("http://127.0.0.1:%d", p.DaprHTTP), DaprGRPC: addr(p.DaprGRPC), Log: logPath}
		if p.HTTP != 0 {
			info.HTTP = fmt.Sprintf("http://127.0.0.1:%d", p.HTTP)
		}
		s.Info.Services[svc.Name] = info
	}
	return nil
}

// startSidecars starts the sidecar of every service and of the Task API double, records
// the double's addresses in s.Info.TaskAPI, and returns the sidecars by name.
func (s *Stack) startSidecars(daprd string) (map[string]localrun.Daprd, error) {
	sidecars := map[string]localrun.Daprd{}
	for _, svc := range Services {
		p := s.Ports.Apps[svc.Name]
		sidecars[svc.Name] = s.daprd(daprd, svc.AppID, p, "grpc")
	}
	t := s.Ports.TaskAPI
	sidecars["task-api"] = s.daprd(daprd, s.cfg.TaskAPIAppID, t, "http")
	s.Info.TaskAPI = ServiceInfo{AppID: s.cfg.TaskAPIAppID, GRPC: "", HTTP: fmt.Sprintf("http://127.0.0.1:%d", t.GRPC),
		DaprHTTP: fmt.Sprintf("http://127.0.0.1:%d", t.DaprHTTP), DaprGRPC: addr(t.DaprGRPC),
		Log: filepath.Join(s.cfg.RunDir, "logs", "daprd-task-api.log")}
	for name, d := range sidecars {
		proc, err := localrun.Start("daprd-"+name, d.Command(), filepath.Join(s.cfg.RunDir, "logs", "daprd-"+name+".log"))
		if err != nil {
			return nil, err
		}
		s.track("daprd-"+name, proc)
		s.Daprds[name] = d
	}
	return sidecars, nil
}

// awaitSubscribed waits (at most 90 s) until every sidecar is ready and subscribed to its
// service's topics, then asks the notification service for the dev user's webhook secret.
func (s *Stack) awaitSubscribed(ctx context.Context, sidecars map[string]localrun.Daprd) error {
	s.logf("waiting for the sidecars")
	waitCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	w := s.watchServices(waitCtx, cancel)
	for name, d := range sidecars {
		if err := d.WaitReady(waitCtx, s.Procs["daprd-"+name]); err != nil {
			return w.exitErr(err)
		}
	}
	for _, sub := range wire.Subscriptions {
		name, topic := sub.Service, sub.Topic
		for !s.Daprds[name].Subscribed(waitCtx, topic) {
			if waitCtx.Err() != nil {
				return w.exitErr(fmt.Errorf("daprd for %s did not subscribe to %s:\n%s", name, topic, s.Procs["daprd-"+name].Tail(30)))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	secrets, err := s.webhookSecrets(waitCtx, DevUser)
	if err != nil {
		return w.exitErr(fmt.Errorf("ask the notification service for the dev user's webhook secret: %w", err))
	}
	s.Info.WebhookSecret = secrets[0]
	return nil
}

// serviceWatch remembers the first service that died during the wait.
type serviceWatch struct {
	mu   sync.Mutex
	died *localrun.Process
}

// watchServices makes a service that dies while waitCtx lasts fail the start at once: it
// cancels the wait, and exitErr then names the service, with its log tail.
func (s *Stack) watchServices(waitCtx context.Context, cancel context.CancelFunc) *serviceWatch {
	w := &serviceWatch{}
	for _, svc := range Services {
		p := s.Procs[svc.Name]
		go func() {
			select {
			case <-p.Done():
				w.mu.Lock()
				if w.died == nil {
					w.died = p
				}
				w.mu.Unlock()
				cancel()
			case <-waitCtx.Done():
			}
		}()
	}
	return w
}

// exitErr is the error of the service that died during the wait, or else err.
func (w *serviceWatch) exitErr(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.died != nil {
		return fmt.Errorf("service %s exited during start (%v):\n%s", w.died.Name, w.died.Err(), w.died.Tail(30)) //nolint:errorlint // the error may be nil (a clean exit): %v prints <nil> where %w would print %!w
	}
	return err
}

// daprdBin is the sidecar binary: .cache/bin/daprd, or TASKFLOW_DAPRD (`make test-compat`).
func (s *Stack) daprdBin() string {
	if d := os.Getenv("TASKFLOW_DAPRD"); d != "" {
		return d
	}
	return filepath.Join(s.cfg.Root, ".cache", "bin", "daprd")
}

// daprd is the sidecar of one app. No app health check: on daprd 1.16+ an unhealthy→healthy
// flap while an event is in flight can leave the Kafka subscription dead (README "Supported
// Dapr": components-contrib issue 4349); unbounded inbound retries (dev/resources) hold
// events while an app or its dependency is down instead. TASKFLOW_APP_HEALTH_CHECK=1 turns
// it on for the apps' sidecars, to show that loss again (README "Supported Dapr").
func (s *Stack) daprd(bin, appID string, p AppPorts, protocol string) localrun.Daprd {
	return localrun.Daprd{Bin: bin, AppID: appID, AppPort: p.GRPC, AppProtocol: protocol,
		AppHealthCheck: protocol == "grpc" && os.Getenv("TASKFLOW_APP_HEALTH_CHECK") == "1",
		ResourcesDir:   filepath.Join(s.cfg.RunDir, "resources"), HTTPPort: p.DaprHTTP, GRPCPort: p.DaprGRPC,
		InternalGRPCPort: p.DaprInternal, MetricsPort: p.DaprMetrics, LogLevel: cmp.Or(s.cfg.DaprdLogLevel, "warn"),
		ProfilePort: s.profilePorts(p)[1]}
}

// profilePorts are the pprof ports of an app and of its sidecar (0, 0 without Config.Profile).
func (s *Stack) profilePorts(p AppPorts) [2]int {
	if !s.cfg.Profile {
		return [2]int{}
	}
	return [2]int{p.GRPC + 7, p.GRPC + 8}
}

// ProfileAddrs lists, with Config.Profile, the pprof base URL of every service and sidecar
// by process name ("audit", "daprd-audit", ...).
func (s *Stack) ProfileAddrs() map[string]string {
	m := map[string]string{}
	for name, p := range s.Ports.Apps {
		if pp := s.profilePorts(p); pp[0] != 0 {
			m[name] = "http://" + addr(pp[0]) + "/debug/pprof"
			m["daprd-"+name] = "http://" + addr(pp[1]) + "/debug/pprof"
		}
	}
	return m
}
