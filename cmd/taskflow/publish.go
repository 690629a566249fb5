package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/taskflow/taskflow-events/internal/devstack"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// publishFlags are the flags of `taskflow publish task|reminder|update`.
type publishFlags struct {
	what                                                 string
	stack, dapr, file, user, title, kind, rrule, tz, due string
	email, webhook, body                                 string
}

func parsePublishFlags(args []string, stderr io.Writer) (publishFlags, error) {
	f := publishFlags{what: args[0]}
	fs := flag.NewFlagSet("publish "+f.what, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.stack, "stack", ".run/stack.json", "stack.json of a running `make run`")
	fs.StringVar(&f.dapr, "dapr", "", "daprd HTTP address to publish through, host:port or http://host:port (default: the Task API double's sidecar)")
	fs.StringVar(&f.file, "file", "", "JSON file with the whole message (protojson, snake_case); refuses the flags that set fields")
	fs.StringVar(&f.user, "user", devstack.DevUser, "user id")
	fs.StringVar(&f.title, "title", "Water the plants", "task title")
	fs.StringVar(&f.kind, "kind", "created", "task event kind: created, updated, completed, reopened, deleted")
	fs.StringVar(&f.rrule, "rrule", "", "RFC 5545 rule for a recurring task, e.g. FREQ=WEEKLY;BYDAY=MO,TH")
	fs.StringVar(&f.tz, "tz", "Europe/Berlin", "IANA time zone")
	fs.StringVar(&f.due, "due", "", "due time, RFC 3339 (default: in one hour; with --file, the file's due_at)")
	fs.StringVar(&f.email, "email", "", "reminder: e-mail address")
	fs.StringVar(&f.webhook, "webhook", "", "reminder: webhook URL")
	fs.StringVar(&f.body, "body", "Hello from taskflow publish", "update: notification body")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: taskflow publish %s [flags]\n\n%s\n\n", f.what, publishFileHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return f, err
	}
	// Parsing stops at the first argument that is not a flag, so everything after it,
	// flags included, would be dropped: 'publish task --title Pay rent --due ...'.
	if fs.NArg() > 0 {
		return f, fmt.Errorf("%w: unexpected argument %q: the flags after it would be ignored (quote a value with spaces)", errUsage, fs.Arg(0))
	}
	if f.dapr != "" {
		var err error
		if f.dapr, err = daprHTTPBase(f.dapr); err != nil {
			return f, err
		}
	}
	if f.file != "" {
		// The message comes from the file as it is: a field flag given with it would be
		// dropped without a word, so it is refused, whatever the flags' order.
		var fields []string
		fs.Visit(func(fl *flag.Flag) {
			switch fl.Name {
			case "stack", "dapr", "file":
			default:
				fields = append(fields, "--"+fl.Name)
			}
		})
		if len(fields) > 0 {
			return f, fmt.Errorf("%w: %s cannot be combined with --file: the file is the whole message (set the fields there, e.g. due_at)",
				errUsage, strings.Join(fields, ", "))
		}
	}
	return f, nil
}

const publishFileHelp = `The event is built from the flags, or read whole from --file (protojson, snake_case;
an event_id is added when it has none). The flags that set fields (--user, --title,
--kind, --rrule, --tz, --due, --email, --webhook, --body) are refused with --file:
set those fields in the file (due_at for --due).`

func cmdPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: taskflow publish task|reminder|update [flags]   (-h for flags)")
		return errUsage
	}
	f, err := parsePublishFlags(args, stderr)
	if err != nil {
		return err
	}
	// Everything the command line says is checked before the stack is looked for: a
	// mistake there is the thing to report, whether a stack runs or not.
	dueAt := time.Now().Add(time.Hour).Truncate(time.Minute)
	if f.due != "" {
		t, err := time.Parse(time.RFC3339, f.due)
		if err != nil {
			return fmt.Errorf("--due: %w", err)
		}
		dueAt = t
	}
	p, err := buildPublication(f, dueAt)
	if err != nil {
		return err
	}
	target := f.dapr
	if target == "" {
		info, err := loadInfo(f.stack)
		if err != nil {
			return err
		}
		target = info.TaskAPI.DaprHTTP
	}
	if err := devstack.Publish(ctx, target, p.topic, p.ceType, p.key, p.msg); err != nil {
		return err
	}
	out, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(p.msg)
	fmt.Fprintf(stdout, "published %s to %s through %s:\n%s\n", p.ceType, p.topic, target, out)
	return nil
}

// daprHTTPBase is the base URL of daprd's HTTP API that --dapr names. A bare host:port (as
// daprd's logs and dlq replay's --dapr give addresses) means http://host:port; without this,
// net/url read "127.0.0.1:3500/v1.0/..." as a path and "localhost:3500" as a scheme.
func daprHTTPBase(s string) (string, error) {
	bad := fmt.Errorf("%w: --dapr %q: want daprd's HTTP address as host:port or http://host:port (e.g. 127.0.0.1:3500)", errUsage, s)
	if !strings.Contains(s, "://") {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return "", bad
		}
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return "", bad
	}
	return u.Scheme + "://" + u.Host, nil
}

// fill reads a protojson file into m (when file is set) and gives m an event_id if it has none.
func fill(file string, m wire.Event) error {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, m); err != nil {
			return fmt.Errorf("parse %s as %s: %w", file, m.ProtoReflect().Descriptor().FullName(), err)
		}
	}
	if m.GetEventId() == "" {
		f := m.ProtoReflect().Descriptor().Fields().ByName("event_id")
		m.ProtoReflect().Set(f, protoreflect.ValueOfString(uuid.NewString()))
	}
	return nil
}
