package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// TestPublishRefusesBadArgumentsWithoutAStack: a mistake on the command line is reported as
// such, not hidden behind the stack that is not running.
func TestPublishRefusesBadArgumentsWithoutAStack(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "stack.json")
	for _, tc := range []struct {
		name      string
		what      string
		flags     []string
		wantUsage bool
		want      string
	}{
		{"unknown kind of event", "bogus", nil, true, `publish "bogus": want task, reminder or update`},
		{"unknown task event kind", "task", []string{"--kind", "finished"}, false,
			`--kind "finished": want created, updated, completed, reopened or deleted`},
		{"due not RFC 3339", "reminder", []string{"--due", "tomorrow"}, false, `--due: parsing time "tomorrow"`},
		{"message flag with --file", "reminder", []string{"--file", "reminder.json", "--due", "tomorrow"}, true,
			"--due cannot be combined with --file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"publish", tc.what, "--stack", missing}, tc.flags...)
			stdout, stderr, err := runCLI(args...)
			cmdline := strings.Join(args, " ")
			if err == nil {
				t.Fatalf("taskflow %s = nil error, stdout %q; want it refused", cmdline, stdout)
			}
			if errors.Is(err, errUsage) != tc.wantUsage {
				t.Errorf("taskflow %s = %v, want a usage error: %v", cmdline, err, tc.wantUsage)
			}
			if msg := err.Error() + "\n" + stderr; !strings.Contains(msg, tc.want) || strings.Contains(msg, missing) {
				t.Errorf("taskflow %s = %v (stderr %q), want it to say %q and not ask for a stack", cmdline, err, stderr, tc.want)
			}
		})
	}
}

// daprdDouble answers daprd's HTTP publish API with 204 and keeps what it was sent.
type daprdDouble struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []publishRequest
}

type publishRequest struct {
	path string
	body []byte
}

func startDaprd(t *testing.T) *daprdDouble {
	t.Helper()
	d := &daprdDouble{}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.got = append(d.got, publishRequest{path: r.URL.Path, body: body})
		d.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *daprdDouble) requests() []publishRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]publishRequest(nil), d.got...)
}

// TestPublishDue: --due sets the due time of the event built from flags; --file sends the
// file's message as it is, so --due (like every flag that sets a field) is refused with it
// instead of being silently dropped, and nothing is sent.
func TestPublishDue(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "reminder.json")
	writeJSON(t, file, map[string]any{"reminder_id": "r-1", "task_id": "t-1", "user_id": "u-1", "title": "From the file",
		"due_at": "2027-05-01T10:00:00Z"})
	for _, tc := range []struct {
		name    string
		flags   []string
		wantDue time.Time // zero: refused
		want    string    // what the refusal says
	}{
		{"--due without --file", []string{"--due", "2027-03-01T09:00:00+01:00"}, mustRFC3339("2027-03-01T08:00:00Z"), ""},
		{"--file alone keeps the file's due_at", []string{"--file", file}, mustRFC3339("2027-05-01T10:00:00Z"), ""},
		{"--due after --file", []string{"--file", file, "--due", "2027-03-01T09:00:00+01:00"}, time.Time{}, "--due cannot be combined with --file"},
		{"--due before --file", []string{"--due", "2027-03-01T09:00:00+01:00", "--file", file}, time.Time{}, "--due cannot be combined with --file"},
		{"--due that does not parse, with --file", []string{"--file", file, "--due", "tomorrow"}, time.Time{}, "--due cannot be combined with --file"},
		// Flag parsing stops at the first argument that is not a flag: an unquoted title
		// with a space would leave --due behind it unread.
		{"--due after a stray argument", []string{"--title", "Pay", "rent", "--due", "2027-03-01T09:00:00Z"}, time.Time{},
			`unexpected argument "rent"`},
		{"several message flags with --file", []string{"--file", file, "--title", "x", "--due", "2027-03-01T09:00:00Z"}, time.Time{},
			"--due, --title cannot be combined with --file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := startDaprd(t)
			args := append([]string{"publish", "reminder", "--dapr", d.srv.URL}, tc.flags...)
			cmdline := strings.Join(args, " ")
			_, stderr, err := runCLI(args...)
			got := d.requests()
			if tc.wantDue.IsZero() {
				wantRefused(t, cmdline, err, stderr, len(got), tc.want)
				return
			}
			if err != nil {
				t.Fatalf("taskflow %s = %v (stderr %q), want it published", cmdline, err, stderr)
			}
			if len(got) != 1 {
				t.Fatalf("taskflow %s sent %d publishes to daprd, want 1", cmdline, len(got))
			}
			var ev eventsv1.ReminderEvent
			if err := proto.Unmarshal(got[0].body, &ev); err != nil {
				t.Fatalf("taskflow %s sent %q, want a ReminderEvent: %v", cmdline, got[0].body, err)
			}
			if due := ev.GetDueAt().AsTime(); !due.Equal(tc.wantDue) {
				t.Errorf("taskflow %s published due_at %v, want %v", cmdline, due, tc.wantDue)
			}
		})
	}
}

// TestPublishDaprAddress: --dapr takes daprd's HTTP address as host:port (as daprd's logs
// and dlq replay's --dapr give addresses) or as a URL, and names the expected form when it
// is neither.
func TestPublishDaprAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		dapr func(d *daprdDouble) string
		want string // what the refusal says; "" publishes
	}{
		{"host:port", func(d *daprdDouble) string { return d.srv.Listener.Addr().String() }, ""},
		{"http URL", func(d *daprdDouble) string { return d.srv.URL }, ""},
		{"http URL with a trailing slash", func(d *daprdDouble) string { return d.srv.URL + "/" }, ""},
		{"host without a port", func(*daprdDouble) string { return "localhost" }, `--dapr "localhost": want daprd's HTTP address as host:port or http://host:port`},
		{"port without a host", func(*daprdDouble) string { return ":3500" }, `--dapr ":3500": want daprd's HTTP address as host:port or http://host:port`},
		{"another scheme", func(*daprdDouble) string { return "grpc://127.0.0.1:50001" }, `--dapr "grpc://127.0.0.1:50001": want daprd's HTTP address`},
		{"a path", func(*daprdDouble) string { return "http://127.0.0.1:3500/v1.0" }, `--dapr "http://127.0.0.1:3500/v1.0": want daprd's HTTP address`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := startDaprd(t)
			// No stack: --dapr alone says where to publish.
			args := []string{"publish", "update", "--stack", filepath.Join(t.TempDir(), "stack.json"), "--dapr", tc.dapr(d)}
			cmdline := strings.Join(args, " ")
			stdout, stderr, err := runCLI(args...)
			got := d.requests()
			if tc.want != "" {
				wantRefused(t, cmdline, err, stderr, len(got), tc.want)
				return
			}
			if err != nil {
				t.Fatalf("taskflow %s = %v (stderr %q), want it published", cmdline, err, stderr)
			}
			if want := "/v1.0/publish/taskflow-pubsub/task-updates"; len(got) != 1 || got[0].path != want {
				t.Errorf("taskflow %s sent %+v to daprd, want one publish to %s", cmdline, got, want)
			}
			if want := "through " + d.srv.URL + ":"; !strings.Contains(stdout, want) {
				t.Errorf("taskflow %s printed %q, want it to say %q", cmdline, stdout, want)
			}
		})
	}
}

// wantRefused checks that the command line was refused with a usage error saying want, and
// that nothing was sent to daprd.
func wantRefused(t *testing.T, cmdline string, err error, stderr string, sent int, want string) {
	t.Helper()
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), want) {
		t.Errorf("taskflow %s = %v (stderr %q), want a usage error saying %q", cmdline, err, stderr, want)
	}
	if sent != 0 {
		t.Errorf("taskflow %s sent %d publishes to daprd, want none", cmdline, sent)
	}
}
