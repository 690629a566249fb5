package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/taskflow/taskflow-events/internal/devstack"
)

const usage = `usage: taskflow <command> [flags]

  up        start the whole system on embedded defaults (make run); Ctrl-C stops it
  demo      start it, play the TaskFlow scenario, check every effect (make demo)
  publish   publish a task event, reminder or update (JSON file or flags) through daprd
  watch     connect to the WebSocket as a user and print frames
  audit     list the audit log or verify its chain
  dlq       list, show and replay dead-lettered events (dlq list|show|replay)
  next      preview the next occurrences of a recurrence rule
  load      load-test a running stack against a no-op ceiling (make bench, make soak)

Commands other than up/demo read addresses from .run/stack.json (written by up).
Run 'taskflow <command> -h' for a command's flags.`

// errUsage marks a command-line mistake.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "up":
		return cmdUp(ctx, rest, getenv, stdout, stderr, false)
	case "demo":
		return cmdUp(ctx, rest, getenv, stdout, stderr, true)
	case "publish":
		return cmdPublish(ctx, rest, stdout, stderr)
	case "watch":
		return cmdWatch(ctx, rest, stdout, stderr)
	case "audit":
		return cmdAudit(ctx, rest, stdout, stderr)
	case "dlq":
		return cmdDLQ(ctx, rest, stdout, stderr)
	case "next":
		return cmdNext(ctx, rest, stdout, stderr)
	case "load":
		return cmdLoad(ctx, rest, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
}

func cmdUp(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, demo bool) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.Int("port-base", devstack.DefaultPortBase, "first of the stack's ports (see README: ports)")
	runDir := fs.String("run-dir", ".run", "folder for everything the stack writes")
	logLevel := fs.String("log-level", "info", "LOG_LEVEL of the services")
	taskAPI := fs.String("task-api-app-id", devstack.TaskAPIAppID, "Dapr app-id of the Task API double (TASK_API_APP_ID of the recurring service)")
	serviceEnv := map[string]string{}
	fs.Func("service-env", "KEY=VALUE added to every service's environment (repeatable)", func(kv string) error {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", kv)
		}
		serviceEnv[k] = v
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(*runDir)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "starting TaskFlow Events locally…")
	s, err := devstack.Start(ctx, devstack.Config{Root: root, RunDir: dir, PortBase: *base,
		DatabaseURL: getenv("DATABASE_URL"), LogLevel: *logLevel, ServiceEnv: serviceEnv, TaskAPIAppID: *taskAPI,
		Console: newConsole, Out: stdout})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(stdout, "stopping…")
		s.Stop()
		fmt.Fprintln(stdout, "stopped; nothing left running")
	}()
	printInfo(stdout, s.Info)
	if demo {
		rep := devstack.RunDemo(ctx, s, stdout)
		fmt.Fprint(stdout, rep.String())
		b, _ := json.MarshalIndent(rep, "", "  ")
		_ = os.WriteFile(filepath.Join(dir, "demo-report.json"), b, 0o644)
		if !rep.OK() {
			return errors.New("demo: some effects are missing (see the report above)")
		}
		return nil
	}
	fmt.Fprintln(stdout, "\nrunning; press Ctrl-C to stop")
	return s.Wait(ctx)
}

func printInfo(w io.Writer, info devstack.Info) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if info.ConsoleURL != "" {
		fmt.Fprintf(tw, "\nconsole\t%s\n", info.ConsoleURL)
	}
	fmt.Fprintf(tw, "\nWebSocket\t%s?access_token=<token>\n", info.WebSocketURL)
	fmt.Fprintf(tw, "dev user / token\t%s\n\t%s\n", info.DevUser, info.DevToken)
	fmt.Fprintln(tw, "service\tgRPC (grpcurl -plaintext)\tdaprd HTTP\tdaprd gRPC\tlog")
	for _, svc := range devstack.Services {
		i := info.Services[svc.Name]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.AppID, i.GRPC, i.DaprHTTP, i.DaprGRPC, i.Log)
	}
	fmt.Fprintf(tw, "%s (double)\t%s\t%s\t%s\t%s\n", info.TaskAPI.AppID, info.TaskAPI.HTTP, info.TaskAPI.DaprHTTP, info.TaskAPI.DaprGRPC, info.TaskAPI.Log)
	fmt.Fprintf(tw, "kafka broker\t%s\n", info.Broker)
	fmt.Fprintf(tw, "postgresql\t%s\n", info.PostgresDSN)
	fmt.Fprintf(tw, "smtp catcher\t%s (web UI %s)\n", info.SMTP, info.MailUI)
	fmt.Fprintf(tw, "demo webhook\t%s\n", info.WebhookURL)
	fmt.Fprintf(tw, "all of this as JSON\t%s\n", filepath.Join(info.RunDir, "stack.json"))
	tw.Flush()
	fmt.Fprintf(w, "\ntry:\n  grpcurl -plaintext %s grpc.health.v1.Health/Check\n  go run ./cmd/taskflow watch\n  go run ./cmd/taskflow publish reminder --title 'Pay rent' --email you@example.com\n",
		info.Services["audit"].GRPC)
}

// loadInfo reads .run/stack.json written by `taskflow up`.
func loadInfo(path string) (devstack.Info, error) {
	var info devstack.Info
	b, err := os.ReadFile(path)
	if err != nil {
		return info, fmt.Errorf("read %s (is `make run` running?): %w", path, err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("parse %s: %w", path, err)
	}
	return info, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
