package devstack

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/taskflow/taskflow-events/internal/localrun"
)

// This file holds the first phases of Start: the checks before anything runs, then what the
// services depend on (their binaries, the broker, PostgreSQL in postgres.go, mailpit, the
// Task API double, the webhook receiver, the sidecars' resources).

// preflight fails at once, before anything starts, on a missing binary or a busy port, and
// empties the run folder's logs, bin and resources.
func (s *Stack) preflight(daprd, mailpit string) error {
	for _, bin := range []string{daprd, mailpit} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s is missing: run `make daprd tools` (make run does it for you)", bin)
		}
	}
	for port, purpose := range s.Ports.all() {
		if err := localrun.CheckPortFree(port, purpose); err != nil {
			return fmt.Errorf("%w (choose other ports with --port-base)", err)
		}
	}
	for _, d := range []string{"logs", "bin", "resources"} {
		if err := os.RemoveAll(filepath.Join(s.cfg.RunDir, d)); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(s.cfg.RunDir, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// startDependencies builds the services and starts everything they depend on; it returns
// the connection strings of startPostgres.
func (s *Stack) startDependencies(ctx context.Context, mailpit string) (map[string]string, error) {
	s.logf("building the services into %s", filepath.Join(s.cfg.RunDir, "bin"))
	if err := s.build(ctx); err != nil {
		return nil, err
	}
	if err := s.startBroker(); err != nil {
		return nil, err
	}
	dsns, err := s.startPostgres(ctx)
	if err != nil {
		return nil, err
	}
	s.dbs = dsns
	if err := s.startMailpit(ctx, mailpit); err != nil {
		return nil, err
	}
	if err := s.serve(s.Ports.TaskAPI.GRPC, s.TaskAPI); err != nil {
		return nil, fmt.Errorf("start the Task API double: %w", err)
	}
	if err := s.serve(s.Ports.Webhook, s.Webhook); err != nil {
		return nil, fmt.Errorf("start the demo webhook receiver: %w", err)
	}
	if err := s.writeResources(); err != nil {
		return nil, err
	}
	return dsns, nil
}

func (s *Stack) build(ctx context.Context) error {
	args := []string{"build", "-o", filepath.Join(s.cfg.RunDir, "bin") + "/"}
	for _, svc := range Services {
		args = append(args, "./services/"+svc.Name)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = s.cfg.Root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the services: %w\n%s", err, out)
	}
	return nil
}

func (s *Stack) startBroker() error {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(s.Ports.Broker), kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(8), kfake.SeedTopics(8, Topics...))
	if err != nil {
		return fmt.Errorf("start the Kafka broker on %s: %w", addr(s.Ports.Broker), err)
	}
	s.broker = c
	s.logf("kafka broker      %s (topics %s, 8 partitions)", addr(s.Ports.Broker), strings.Join(Topics, ", "))
	return nil
}

func (s *Stack) startMailpit(ctx context.Context, bin string) error {
	cmd := exec.Command(bin, "--smtp", addr(s.Ports.SMTP), "--listen", addr(s.Ports.MailUI),
		"--database", filepath.Join(s.cfg.RunDir, "logs", "mailpit.db"), "--disable-version-check", "--smtp-disable-rdns", "--quiet", "--max", "100000")
	p, err := localrun.Start("mailpit", cmd, filepath.Join(s.cfg.RunDir, "logs", "mailpit.log"))
	if err != nil {
		return err
	}
	s.track("mailpit", p)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://%s/livez", addr(s.Ports.MailUI)))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if p.Exited() || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("mailpit did not start:\n%s", p.Tail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.logf("smtp catcher      %s (web UI http://%s)", addr(s.Ports.SMTP), addr(s.Ports.MailUI))
	return nil
}

func (s *Stack) serve(port int, h http.Handler) error {
	l, err := net.Listen("tcp", addr(port))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	s.servers = append(s.servers, srv)
	go func() { _ = srv.Serve(l) }()
	return nil
}

// writeResources copies dev/resources, pointing the pub/sub component at our broker.
func (s *Stack) writeResources() error {
	src := filepath.Join(s.cfg.Root, "dev", "resources")
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		body := strings.ReplaceAll(string(b), "127.0.0.1:"+strconv.Itoa(DefaultPortBase), addr(s.Ports.Broker))
		if err := os.WriteFile(filepath.Join(s.cfg.RunDir, "resources", e.Name()), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}
