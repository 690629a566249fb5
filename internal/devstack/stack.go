package devstack

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// daprdBin is the sidecar binary: .cache/bin/daprd, or TASKFLOW_DAPRD (`make test-compat`).
func (s *Stack) daprdBin() string {
	if d := os.Getenv("TASKFLOW_DAPRD"); d != "" {
		return d
	}
	return filepath.Join(s.cfg.Root, ".cache", "bin", "daprd")
}

func (s *Stack) start(ctx context.Context) error {
	daprd := s.daprdBin()
	mailpit := filepath.Join(s.cfg.Root, ".cache", "bin", "mailpit")
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

	s.logf("building the services into %s", filepath.Join(s.cfg.RunDir, "bin"))
	if err := s.build(ctx); err != nil {
		return err
	}
	if err := s.startBroker(); err != nil {
		return err
	}
	dsns, err := s.startPostgres(ctx)
	if err != nil {
		return err
	}
	s.dbs = dsns
	if err := s.startMailpit(ctx, mailpit); err != nil {
		return err
	}
	if err := s.serve(s.Ports.TaskAPI.GRPC, s.TaskAPI); err != nil {
		return fmt.Errorf("start the Task API double: %w", err)
	}
	if err := s.serve(s.Ports.Webhook, s.Webhook); err != nil {
		return fmt.Errorf("start the demo webhook receiver: %w", err)
	}
	if err := s.writeResources(); err != nil {
		return err
	}

	s.Info = Info{
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
		s.Info.AuditPublicKey = pub
	}

	// Apps first (daprd waits for its app's port), then every sidecar.
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
			return err
		}
		s.track("daprd-"+name, proc)
		s.Daprds[name] = d
	}
	s.logf("waiting for the sidecars")
	waitCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	// A service that dies while we wait fails the start at once, with its log tail.
	var died *localrun.Process
	var diedMu sync.Mutex
	for _, svc := range Services {
		p := s.Procs[svc.Name]
		go func() {
			select {
			case <-p.Done():
				diedMu.Lock()
				if died == nil {
					died = p
				}
				diedMu.Unlock()
				cancel()
			case <-waitCtx.Done():
			}
		}()
	}
	exitErr := func(err error) error {
		diedMu.Lock()
		defer diedMu.Unlock()
		if died != nil {
			return fmt.Errorf("service %s exited during start (%v):\n%s", died.Name, died.Err(), died.Tail(30))
		}
		return err
	}
	for name, d := range sidecars {
		if err := d.WaitReady(waitCtx, s.Procs["daprd-"+name]); err != nil {
			return exitErr(err)
		}
	}
	for _, sub := range wire.Subscriptions {
		name, topic := sub.Service, sub.Topic
		for !s.Daprds[name].Subscribed(waitCtx, topic) {
			if waitCtx.Err() != nil {
				return exitErr(fmt.Errorf("daprd for %s did not subscribe to %s:\n%s", name, topic, s.Procs["daprd-"+name].Tail(30)))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	secrets, err := s.webhookSecrets(waitCtx, DevUser)
	if err != nil {
		return exitErr(fmt.Errorf("ask the notification service for the dev user's webhook secret: %w", err))
	}
	s.Info.WebhookSecret = secrets[0]
	if err := s.startConsole(); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(s.Info, "", "  ")
	if err := os.WriteFile(filepath.Join(s.cfg.RunDir, "stack.json"), b, 0o644); err != nil {
		return err
	}
	return nil
}

func (s *Stack) track(name string, p *localrun.Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.procs = append(s.procs, p)
	s.Procs[name] = p
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
		InternalGRPCPort: p.DaprInternal, MetricsPort: p.DaprMetrics, LogLevel: cmp.Or(s.cfg.DaprdLogLevel, "warn")}
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
		return fmt.Errorf("%s exited unexpectedly (%v):\n%s", p.Name, p.Err(), p.Tail(30))
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
