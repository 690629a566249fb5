package devstack

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/taskflow/taskflow-events/internal/localrun"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// Dev credentials: for a laptop only, printed so a newcomer can connect at once.
const (
	DevJWTSecret     = "taskflow-dev-jwt-secret-change-me"
	DevJWTIssuer     = "taskflow-dev"
	DevJWTAudience   = "taskflow-websocket"
	DevUser          = "demo-user"
	DevWebhookSecret = "whsec_dGFza2Zsb3ctZGV2LXdlYmhvb2stc2VjcmV0" // base64("taskflow-dev-webhook-secret"); WEBHOOK_SECRET, the master key each user's secret is derived from
	TaskAPIAppID     = "task-api"
	// DevAuditSigningKey is the audit service's AUDIT_SIGNING_KEY: base64 of a fixed Ed25519
	// seed, base64("taskflow-dev-audit-signing-seed!"). Dev only: anyone can forge
	// checkpoints signed with it. Its public key is audit_public_key in stack.json.
	DevAuditSigningKey = "dGFza2Zsb3ctZGV2LWF1ZGl0LXNpZ25pbmctc2VlZCE="
	// AuditCheckpointTopic is where the audit service publishes its signed checkpoints
	// (AUDIT_CHECKPOINT_TOPIC; the service's default too).
	AuditCheckpointTopic = wire.TopicAuditCheckpoints
)

// Topics the broker starts with (8 partitions each); dead-letter topics are created on use.
// Nothing in the stack subscribes to the checkpoint topic: it is seeded so that its
// partitions are the same as the task topics' rather than whatever auto-creation picks.
var Topics = append(wire.EventTopicNames(), AuditCheckpointTopic)

// Config says where and how to run the stack. The zero value of a field means its default.
type Config struct {
	// Root is the repository root (dev/resources, .cache/bin, ./services).
	Root string
	// RunDir holds everything the stack writes (default Root/.run, git-ignored).
	RunDir string
	// PortBase is the first of the stack's ports (default 17000; see PlanPorts).
	PortBase int
	// DatabaseURL, when set, is used instead of a throwaway cluster.
	DatabaseURL string
	// LogLevel of the services (default info).
	LogLevel string
	// DaprdLogLevel of the sidecars (default warn).
	DaprdLogLevel string
	// ServiceEnv adds (or overrides) environment variables of every service.
	ServiceEnv map[string]string
	// Profile serves every app's pprof (PPROF_ADDR) on its gRPC port + 7 and turns on its
	// sidecar's profiling on the gRPC port + 8, all on 127.0.0.1 (ProfileAddrs).
	Profile bool
	// TaskAPIAppID is the Dapr app-id of the Task API double (default "task-api"). daprd's
	// mDNS resolution spans the machine: stacks running side by side need different ids.
	TaskAPIAppID string
	// Console, when set, builds the local console once the stack is up; it is served on
	// Ports.Console (127.0.0.1 only) and its URL is console_url in stack.json.
	Console func(s *Stack) (Console, error)
	// Out receives progress lines.
	Out io.Writer
}

// Info is what the stack prints and writes to RunDir/stack.json.
type Info struct {
	WebSocketURL   string                 `json:"websocket_url"`
	DevUser        string                 `json:"dev_user"`
	DevToken       string                 `json:"dev_token"`
	JWTSecret      string                 `json:"jwt_hs256_secret"`
	Services       map[string]ServiceInfo `json:"services"`
	TaskAPI        ServiceInfo            `json:"task_api"`
	Broker         string                 `json:"kafka_broker"`
	PostgresDSN    string                 `json:"postgres_dsn"`
	MailUI         string                 `json:"mail_ui"`
	SMTP           string                 `json:"smtp"`
	WebhookURL     string                 `json:"demo_webhook_url"`
	WebhookSecret  string                 `json:"webhook_secret"`             // the dev user's; every user has their own (GetWebhookSecret)
	AuditPublicKey string                 `json:"audit_public_key,omitempty"` // base64 Ed25519 key that verifies the audit checkpoints
	ConsoleURL     string                 `json:"console_url,omitempty"`
	RunDir         string                 `json:"run_dir"`
}

// ServiceInfo is one app and its sidecar.
type ServiceInfo struct {
	AppID    string `json:"app_id"`
	GRPC     string `json:"grpc"`
	Metrics  string `json:"metrics,omitempty"`
	HTTP     string `json:"http,omitempty"`
	DaprHTTP string `json:"dapr_http"`
	DaprGRPC string `json:"dapr_grpc"`
	Log      string `json:"log"`
}

// Stack is a running local system.
type Stack struct {
	Info    Info
	Ports   Ports
	TaskAPI *TaskAPI
	Webhook *WebhookReceiver

	cfg     Config
	broker  *kfake.Cluster
	pg      *localrun.PGCluster
	dbs     map[string]string // connection strings by name (see startPostgres)
	servers []*http.Server
	procs   []*localrun.Process
	Daprds  map[string]localrun.Daprd
	Procs   map[string]*localrun.Process
	mu      sync.Mutex
	stopped bool
	// stopConsole ends the console's feed and waits for it (nil without a console).
	stopConsole func()
}

func (c *Config) defaults() error {
	if c.Root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		c.Root = wd
	}
	if c.RunDir == "" {
		c.RunDir = filepath.Join(c.Root, ".run")
	}
	if c.PortBase == 0 {
		c.PortBase = DefaultPortBase
	}
	if c.TaskAPIAppID == "" {
		c.TaskAPIAppID = TaskAPIAppID
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	return nil
}

func (s *Stack) logf(format string, args ...any) { fmt.Fprintf(s.cfg.Out, format+"\n", args...) }

// Start brings the whole system up and returns when every service is subscribed. On any
// failure it stops what it started and returns an error that names the part and carries
// its log tail.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &Stack{cfg: cfg, Ports: PlanPorts(cfg.PortBase), TaskAPI: NewTaskAPI(),
		Daprds: map[string]localrun.Daprd{}, Procs: map[string]*localrun.Process{}}
	s.Webhook = NewWebhookReceiver(s.webhookSecrets)
	if err := s.start(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Stack) start(ctx context.Context) error {
	daprd, mailpit := s.daprdBin(), filepath.Join(s.cfg.Root, ".cache", "bin", "mailpit")
	if err := s.preflight(daprd, mailpit); err != nil {
		return err
	}
	dsns, err := s.startDependencies(ctx, mailpit)
	if err != nil {
		return err
	}
	s.Info = s.newInfo(dsns)
	// Apps first (daprd waits for its app's port), then every sidecar.
	if err := s.startServices(dsns); err != nil {
		return err
	}
	sidecars, err := s.startSidecars(daprd)
	if err != nil {
		return err
	}
	if err := s.awaitSubscribed(ctx, sidecars); err != nil {
		return err
	}
	if err := s.startConsole(); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(s.Info, "", "  ")
	if err := os.WriteFile(filepath.Join(s.cfg.RunDir, "stack.json"), b, 0o644); err != nil {
		return err
	}
	return nil
}

// newInfo is what the stack knows about itself before its services start; startServices,
// startSidecars, awaitSubscribed and startConsole fill in the rest.
func (s *Stack) newInfo(dsns map[string]string) Info {
	info := Info{
		WebSocketURL: fmt.Sprintf("ws://127.0.0.1:%d/ws", s.Ports.Apps["websocket"].HTTP),
		DevUser:      DevUser,
		DevToken:     DevToken(DevJWTSecret, DevUser, DevJWTIssuer, DevJWTAudience, 24*time.Hour, time.Now()),
		JWTSecret:    DevJWTSecret,
		Services:     map[string]ServiceInfo{},
		Broker:       addr(s.Ports.Broker),
		PostgresDSN:  dsns["postgres"],
		MailUI:       fmt.Sprintf("http://127.0.0.1:%d", s.Ports.MailUI),
		SMTP:         addr(s.Ports.SMTP),
		WebhookURL:   fmt.Sprintf("http://127.0.0.1:%d/hooks/taskflow", s.Ports.Webhook),
		RunDir:       s.cfg.RunDir,
	}
	// A key that does not parse is left to the audit service to report, with its log tail.
	if pub, err := auditPublicKey(cmp.Or(s.cfg.ServiceEnv["AUDIT_SIGNING_KEY"], DevAuditSigningKey)); err == nil {
		info.AuditPublicKey = pub
	}
	return info
}

func (s *Stack) track(name string, p *localrun.Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.procs = append(s.procs, p)
	s.Procs[name] = p
}

// Wait blocks until ctx ends or a process of the stack exits on its own (then it returns
// an error naming it, with its log tail).
func (s *Stack) Wait(ctx context.Context) error {
	s.mu.Lock()
	procs := append([]*localrun.Process(nil), s.procs...)
	s.mu.Unlock()
	exited := make(chan *localrun.Process, len(procs))
	for _, p := range procs {
		go func() {
			select {
			case <-p.Done():
				exited <- p
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case p := <-exited:
		return fmt.Errorf("%s exited unexpectedly (%v):\n%s", p.Name, p.Err(), p.Tail(30)) //nolint:errorlint // the error may be nil (a clean exit): %v prints <nil> where %w would print %!w
	}
}

// Stop stops everything the stack started, sidecars first, and leaves no process behind.
func (s *Stack) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	procs := append([]*localrun.Process(nil), s.procs...)
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, prefixDaprd := range []bool{true, false} {
		for _, p := range procs {
			if strings.HasPrefix(p.Name, "daprd-") == prefixDaprd {
				wg.Add(1)
				go func() { defer wg.Done(); p.Stop(10 * time.Second) }()
			}
		}
		wg.Wait()
	}
	if s.stopConsole != nil {
		s.stopConsole()
	}
	for _, srv := range s.servers {
		_ = srv.Close()
	}
	if s.pg != nil {
		if err := s.pg.Stop(); err != nil {
			s.logf("stop postgresql: %v", err)
		}
	}
	if s.broker != nil {
		s.broker.Close()
	}
}
