package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/taskflow/taskflow-events/internal/devstack"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/loadtest"
)

// cmdLoad starts its own stack (and, for the benchmark, the no-op subscriber), runs the
// benchmark (`make bench`) or the soak (`make soak`), writes the results and stops.
func cmdLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	soak := fs.Bool("soak", false, "soak at --rate for --duration instead of the benchmark")
	base := fs.Int("port-base", 0, "first of the ports (default: a free block between 21000 and 31000)")
	runDir := fs.String("run-dir", ".run/load", "folder for everything the stack writes")
	out := fs.String("out", "results", "folder for bench.md, latency.png, soak.md")
	events := fs.Int("events", 3000, "benchmark: publishes in the flat-out phase")
	conc := fs.Int("concurrency", 8, "concurrent publishers")
	rate := fs.Float64("rate", 0, "events/s of the fixed-rate phase (benchmark: 0 = a quarter of the no-op ceiling) or of the soak")
	duration := fs.Duration("duration", 10*time.Second, "length of the fixed-rate phase or of the soak")
	window := fs.Duration("window", 0, "benchmark's fixed-rate phase: one call (a bulk publish per topic) carries the events due in each window, latency still from each event's due time; 0 = one PublishEvent per event")
	mixFlag := fs.String("mix", "1:1:1", "completion:reminder:update weights")
	dup := fs.Float64("duplicates", 0.05, "ratio of re-published events (same event_id)")
	bad := fs.Float64("malformed", 0.02, "ratio of malformed events")
	email := fs.Bool("email", true, "reminders ask for in-app and e-mail delivery; false: in-app only (notification without the SMTP receiver)")
	smtpFlag := fs.String("smtp", "sink", "benchmark's e-mail receiver: sink (the load tool's SMTP server, which keeps only subjects) or mailpit (the stack's; it stores and indexes every mail, ~0.85 ms of CPU each); the soak always uses mailpit")
	profile := fs.Bool("profile", false, "serve pprof of every service (PPROF_ADDR) and sidecar (--enable-profiling) on 127.0.0.1, URLs printed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	mix, err := parseMix(*mixFlag)
	if err != nil {
		return err
	}
	if *soak && *rate <= 0 {
		return fmt.Errorf("%w: --soak needs --rate", errUsage)
	}
	if *events <= 0 || *events > 1_000_000 || *duration <= 0 || *duration > 24*time.Hour {
		return fmt.Errorf("%w: --events must be in 1..1000000 and --duration in (0, 24h]", errUsage)
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(*runDir)
	if err != nil {
		return err
	}
	if *base == 0 {
		if *base, err = devstack.FreePortBase(); err != nil {
			return err
		}
	}
	// Every load-test update goes to one user, thousands per second: the websocket
	// service's per-user history (its event_id dedupe window, default 100) must span
	// the time a producer retry can lag its original across 8 partitions.
	env := map[string]string{"HISTORY_SIZE": "5000", "HISTORY_USER_BYTES": "8388608"}
	sink, mailReceiver, err := mailReceiverFor(*smtpFlag, *soak, env)
	if err != nil {
		return err
	}
	defer sink.Close()
	fmt.Fprintf(stdout, "starting the stack (ports from %d, run folder %s)…\n", *base, dir)
	s, err := devstack.Start(ctx, devstack.Config{Root: root, RunDir: dir, PortBase: *base, LogLevel: "warn", Out: stdout,
		TaskAPIAppID: "task-api-load", ServiceEnv: env, Profile: *profile})
	if err != nil {
		return err
	}
	defer s.Stop()
	if *profile {
		printProfiles(ctx, s, stdout)
	}
	obs, err := loadtest.Observe(ctx, s, sink)
	if err != nil {
		return err
	}
	defer obs.Close()
	pub := loadtest.NewPublisher(s.Info.TaskAPI.DaprHTTP)
	gen := loadGen(*email)
	if *soak {
		return loadtest.Soak(ctx, loadtest.SoakConfig{Stack: s, Obs: obs, Pub: pub, Gen: gen, Rate: *rate, Duration: *duration,
			Every: max(time.Second, min(30*time.Second, *duration/20)), Mix: mix, MaxGrowth: 0.10, Dir: *out, Out: stdout})
	}
	c := loadtest.BenchConfig{Stack: s, Obs: obs, Pub: pub, Gen: gen, Events: *events,
		Concurrency: *conc, Rate: *rate, Duration: *duration, Window: *window, Mix: mix, Duplicate: *dup, Malformed: *bad, MailReceiver: mailReceiver, Dir: *out, Out: stdout}
	if c.Noop, err = loadtest.StartNoop(ctx, s, root, *base, loadtest.NoopServices); err != nil {
		return errors.Join(errors.New("start the no-op subscriber"), err)
	}
	if c.NoopAudit, err = loadtest.StartNoop(ctx, s, root, *base, loadtest.NoopAudit); err != nil {
		return errors.Join(errors.New("start the audit no-op subscriber"), err)
	}
	return loadtest.Bench(ctx, c)
}

// printProfiles prints where every service, sidecar and the load tool itself serve pprof.
func printProfiles(ctx context.Context, s *devstack.Stack, stdout io.Writer) {
	profiles := s.ProfileAddrs()
	profiles["load-tool"] = serveOwnPprof(ctx)
	for _, name := range slices.Sorted(maps.Keys(profiles)) {
		fmt.Fprintf(stdout, "pprof %s: %s\n", name, profiles[name])
	}
}

// serveOwnPprof serves the load tool's own profiles (the broker, the publishers, the
// observer, the Task API double) on a free loopback port until ctx ends, and returns the URL.
func serveOwnPprof(ctx context.Context) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "not served: " + err.Error()
	}
	go func() { _ = grpcapp.ServePprof(ctx, lis) }()
	return "http://" + lis.Addr().String() + "/debug/pprof"
}

// mailReceiverFor starts the load tool's SMTP sink for a benchmark with --smtp sink and
// points the stack's notification service at it (SMTP_ADDR in env); otherwise mails go to
// the stack's mailpit (and the sink is nil).
func mailReceiverFor(kind string, soak bool, env map[string]string) (*loadtest.SMTPSink, string, error) {
	if kind != "sink" && kind != "mailpit" {
		return nil, "", fmt.Errorf("%w: --smtp wants sink or mailpit, got %q", errUsage, kind)
	}
	if soak || kind == "mailpit" {
		return nil, "mailpit", nil
	}
	sink, err := loadtest.StartSMTPSink()
	if err != nil {
		return nil, "", fmt.Errorf("start the SMTP sink: %w", err)
	}
	env["SMTP_ADDR"] = sink.Addr()
	return sink, "the load tool's SMTP sink, " + sink.Addr(), nil
}

// parseMix reads --mix, completion:reminder:update weights.
func parseMix(flag string) ([3]int, error) {
	var mix [3]int
	parts := strings.Split(flag, ":")
	if len(parts) != 3 {
		return mix, fmt.Errorf("%w: --mix wants a:b:c, got %q", errUsage, flag)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return mix, fmt.Errorf("%w: --mix wants non-negative weights, got %q", errUsage, flag)
		}
		mix[i] = n
	}
	return mix, nil
}

// loadGen makes the load's events for the dev user; reminders ask for in-app and, with
// email, e-mail delivery.
func loadGen(email bool) loadtest.Gen {
	g := loadtest.Gen{User: devstack.DevUser}
	if email {
		g.Email = "load@example.com"
	}
	return g
}
