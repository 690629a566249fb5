package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow/taskflow-events/internal/devstack"
	"github.com/taskflow/taskflow-events/internal/testenv"
)

// effectWait is how long a test waits for one effect of a published event.
const effectWait = 30 * time.Second

// TestPublishAndWatch runs `taskflow publish` and `taskflow watch` against one running local
// stack, as a developer does after `make run`: what publish sends has its effect (a frame on
// the watch of that user and nobody else's, an e-mail, a signed webhook call, the next
// occurrence of a recurring task, an audit row), watch resumes where it left off, and bad
// input to either command is refused with an error that says what is wrong.
func TestPublishAndWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the whole stack")
	}
	chdirRoot(t)
	root, _ := os.Getwd()
	var out testenv.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := devstack.Start(ctx, devstack.Config{Root: root, RunDir: t.TempDir(), PortBase: portBase(t),
		TaskAPIAppID: testenv.UniqueAppID("task-api"), Out: &out})
	if err != nil {
		t.Fatalf("start the stack: %v\n%s", err, out.String())
	}
	t.Cleanup(s.Stop)
	stack := filepath.Join(s.Info.RunDir, "stack.json")

	// The position of the last frame user "alice" saw before her watch stopped.
	alice := "alice-" + uuid.NewString()[:8]
	var last frame

	t.Run("an update reaches the watch of its user and nobody else's", func(t *testing.T) {
		bob := "bob-" + uuid.NewString()[:8]
		wa, wb := startWatch(t, "--stack", stack, "--user", alice), startWatch(t, "--stack", stack, "--user", bob)
		if got := wa.stderr.String(); !strings.Contains(got, "watching "+s.Info.WebSocketURL+" as "+alice) {
			t.Errorf("watch printed %q, want the URL and the user it watches as", got)
		}
		toAlice := publishOK(t, "update", "--stack", stack, "--user", alice, "--title", "For Alice", "--body", "only hers")
		toBob := publishOK(t, "update", "--stack", stack, "--user", bob, "--title", "For Bob")
		if !strings.HasPrefix(toAlice.header, "published taskflow.update.notification.v1 to task-updates through "+s.Info.TaskAPI.DaprHTTP) {
			t.Errorf("publish printed %q, want the CloudEvent type, topic and sidecar", toAlice.header)
		}
		f := wa.waitFrame(t, "alice's notification", func(f frame) bool { return f.eventID() == toAlice.id })
		if f.Type != "notification" || !strings.Contains(string(f.Data), `"For Alice"`) || !strings.Contains(string(f.Data), `"only hers"`) {
			t.Errorf("alice's frame = %s, want a notification with the published title and body", f.raw)
		}
		wb.waitFrame(t, "bob's notification", func(f frame) bool { return f.eventID() == toBob.id })
		if got := wa.find(t, func(f frame) bool { return f.eventID() == toBob.id }); got != nil {
			t.Errorf("alice's watch shows bob's update: %s", got.raw)
		}
		if got := wb.find(t, func(f frame) bool { return f.eventID() == toAlice.id }); got != nil {
			t.Errorf("bob's watch shows alice's update: %s", got.raw)
		}
		last = wa.lastPositioned(t)
		t.Logf("alice's watch:\n%s", wa.stdout.String())
		if err := wa.stop(t); err != nil {
			t.Errorf("watch stopped with Ctrl-C = %v, want nil", err)
		}
	})

	t.Run("watch --since resumes with the update missed while away", func(t *testing.T) {
		if last.Epoch == "" {
			t.Skip("needs the position of the previous subtest")
		}
		// An update published from a file keeps the file's event_id.
		id := uuid.NewString()
		file := filepath.Join(t.TempDir(), "update.json")
		writeJSON(t, file, map[string]any{"event_id": id, "user_id": alice,
			"notification": map[string]any{"id": uuid.NewString(), "title": "While you were away", "body": "missed"}})
		if got := publishOK(t, "update", "--stack", stack, "--file", file); got.id != id {
			t.Errorf("publish --file printed event_id %q, want the file's %q", got.id, id)
		}
		w := startWatch(t, "--stack", stack, "--user", alice, "--since", strconv.FormatInt(last.Seq, 10), "--epoch", last.Epoch)
		missed := w.waitFrame(t, "the missed update", func(f frame) bool { return f.eventID() == id })
		t.Logf("resumed after seq %d epoch %s:\n%s", last.Seq, last.Epoch, w.stdout.String())
		if frames := w.frames(t); frames[0].Type != "welcome" {
			t.Errorf("first frame after resume = %s, want welcome", frames[0].raw)
		}
		if missed.Type != "notification" || !strings.Contains(string(missed.Data), "While you were away") {
			t.Errorf("missed frame = %s, want the notification published while away", missed.raw)
		}
		if got := w.find(t, func(f frame) bool { return f.eventID() == last.eventID() && last.eventID() != "" }); got != nil {
			t.Errorf("resumed watch repeats the update at --since: %s", got.raw)
		}
	})

	t.Run("a reminder arrives by e-mail, signed webhook and in-app, and is audited", func(t *testing.T) {
		user := "carol-" + uuid.NewString()[:8]
		title := "Pay rent " + uuid.NewString()[:8]
		email := user + "@example.com"
		w := startWatch(t, "--stack", stack, "--user", user)
		rem := publishOK(t, "reminder", "--stack", stack, "--user", user, "--title", title, "--email", email, "--webhook", s.Info.WebhookURL)
		if !strings.HasPrefix(rem.header, "published taskflow.reminder.due.v1 to reminders") {
			t.Errorf("publish printed %q, want the reminder type and topic", rem.header)
		}
		f := w.waitFrame(t, "the in-app notification", func(f frame) bool { return f.Type == "notification" })
		if !strings.Contains(string(f.Data), title) {
			t.Errorf("in-app frame = %s, want the reminder's title %q", f.raw, title)
		}
		var to []string
		testenv.WaitFor(t, effectWait, "the e-mail about "+title, func() bool { to = mailRecipients(t, s.Info.MailUI, title); return len(to) > 0 })
		if len(to) != 1 || to[0] != email {
			t.Errorf("e-mails about %q went to %v, want one to %s", title, to, email)
		}
		var calls []devstack.WebhookCall
		testenv.WaitFor(t, effectWait, "the webhook call for "+user, func() bool { calls = webhookCalls(s.Webhook, user); return len(calls) > 0 })
		if len(calls) != 1 || !calls[0].Verified || !strings.Contains(calls[0].Body, title) {
			t.Errorf("webhook calls for %s = %+v, want one, signed with the user's secret, about %q", user, calls, title)
		}
		waitAudited(t, stack, user, rem.id, "reminders")
	})

	t.Run("a completed recurring task gets its next occurrence and is audited", func(t *testing.T) {
		user := "dave-" + uuid.NewString()[:8]
		title := "Water the plants " + uuid.NewString()[:8]
		berlin, _ := time.LoadLocation("Europe/Berlin")
		due := nextMonday(time.Now().In(berlin).AddDate(0, 0, 7)) // a Monday 08:00 in Berlin, ahead of now
		wantNext := time.Date(due.Year(), due.Month(), due.Day()+3, 8, 0, 0, 0, berlin)
		ev := publishOK(t, "task", "--stack", stack, "--user", user, "--title", title, "--kind", "completed",
			"--rrule", "FREQ=WEEKLY;BYDAY=MO,TH", "--tz", "Europe/Berlin", "--due", due.Format(time.RFC3339))
		if !strings.HasPrefix(ev.header, "published taskflow.task.completed.v1 to task-events") {
			t.Errorf("publish printed %q, want the completed type and task-events", ev.header)
		}
		var next time.Time
		testenv.WaitFor(t, effectWait, "the next occurrence of "+title, func() bool {
			for _, task := range s.TaskAPI.Created() {
				if task.GetTitle() == title && task.GetUserId() == user {
					next = task.GetDueAt().AsTime()
					return true
				}
			}
			return false
		})
		t.Logf("next occurrence of the task due %s: %s", due, next.In(berlin))
		if !next.Equal(wantNext) {
			t.Errorf("next occurrence due %s, want %s (the Thursday after, 08:00 Berlin)", next.In(berlin), wantNext)
		}
		waitAudited(t, stack, user, ev.id, "task-events")
	})

	t.Run("bad input to publish is refused before anything is sent", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.json")
		if err := os.WriteFile(bad, []byte(`{"title": 42}`), 0o644); err != nil {
			t.Fatal(err)
		}
		missing := filepath.Join(t.TempDir(), "stack.json")
		for _, tc := range []struct {
			name      string
			args      []string
			wantUsage bool
			want      string
		}{
			{"no kind of event", []string{"publish"}, true, "usage: taskflow publish task|reminder|update"},
			{"unknown kind of event", []string{"publish", "frobnicate", "--stack", stack}, true, `publish "frobnicate": want task, reminder or update`},
			{"unknown task event kind", []string{"publish", "task", "--stack", stack, "--kind", "finished"}, false,
				`--kind "finished": want created, updated, completed, reopened or deleted`},
			{"due not RFC 3339", []string{"publish", "reminder", "--stack", stack, "--due", "tomorrow"}, false, `--due: parsing time "tomorrow"`},
			{"file not a reminder", []string{"publish", "reminder", "--stack", stack, "--file", bad}, false,
				"parse " + bad + " as taskflow.events.v1.ReminderEvent"},
			{"no running stack", []string{"publish", "update", "--stack", missing}, false, "read " + missing + " (is `make run` running?)"},
			{"unknown flag", []string{"publish", "update", "--stack", stack, "--colour", "red"}, false, "flag provided but not defined: -colour"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stdout, stderr, err := runCLI(tc.args...)
				if err == nil {
					t.Fatalf("taskflow %s = nil error, stdout %q; want it refused", strings.Join(tc.args, " "), stdout)
				}
				if errors.Is(err, errUsage) != tc.wantUsage {
					t.Errorf("taskflow %s = %v, want a usage error: %v", strings.Join(tc.args, " "), err, tc.wantUsage)
				}
				if msg := err.Error() + "\n" + stderr; !strings.Contains(msg, tc.want) {
					t.Errorf("taskflow %s = %v (stderr %q), want it to say %q", strings.Join(tc.args, " "), err, stderr, tc.want)
				}
				if strings.Contains(stdout, "published") {
					t.Errorf("taskflow %s printed %q, want nothing published", strings.Join(tc.args, " "), stdout)
				}
			})
		}
	})

	t.Run("bad input to watch is refused", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "stack.json")
		for _, tc := range []struct {
			name string
			args []string
			want string
		}{
			{"token the service refuses", []string{"watch", "--stack", stack, "--token", "not-a-jwt"}, "connect to " + s.Info.WebSocketURL + ": HTTP 401"},
			{"no running stack", []string{"watch", "--stack", missing}, "read " + missing + " (is `make run` running?)"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stdout, _, err := runCLI(tc.args...)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("taskflow %s = %v, want an error saying %q", strings.Join(tc.args, " "), err, tc.want)
				}
				if stdout != "" {
					t.Errorf("taskflow %s printed %q, want no frames", strings.Join(tc.args, " "), stdout)
				}
			})
		}
	})
}

// runCLI runs the taskflow command line with an empty environment.
func runCLI(args ...string) (stdout, stderr string, err error) {
	var o, e testenv.SyncBuffer
	err = run(context.Background(), args, func(string) string { return "" }, &o, &e)
	return o.String(), e.String(), err
}

// published is what `taskflow publish` printed: its first line and the event's event_id.
type published struct{ header, id string }

// publishOK runs `taskflow publish what args...`, which must succeed.
func publishOK(t *testing.T, what string, args ...string) published {
	t.Helper()
	stdout, stderr, err := runCLI(append([]string{"publish", what}, args...)...)
	if err != nil {
		t.Fatalf("taskflow publish %s %v = %v\n%s%s", what, args, err, stdout, stderr)
	}
	header, body, _ := strings.Cut(stdout, "\n")
	var ev struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal([]byte(body), &ev); err != nil || ev.EventID == "" {
		t.Fatalf("taskflow publish %s printed %q, want the event as JSON with its event_id (%v)", what, stdout, err)
	}
	return published{header: header, id: ev.EventID}
}

// waitAudited waits until `taskflow audit list --user user` lists event id on topic.
func waitAudited(t *testing.T, stack, user, id, topic string) {
	t.Helper()
	var line string
	testenv.WaitFor(t, effectWait, "event "+id+" in `taskflow audit list`", func() bool {
		stdout, _, err := runCLI("audit", "list", "--stack", stack, "--user", user)
		for _, l := range strings.Split(stdout, "\n") {
			if strings.Contains(l, "event="+id) {
				line = l
			}
		}
		return err == nil && line != ""
	})
	t.Logf("audit row: %s", line)
	if !strings.Contains(line, " "+topic+" ") || !strings.Contains(line, "user="+user) {
		t.Errorf("audit row %q, want topic %s and user %s", line, topic, user)
	}
}

// mailRecipients returns the recipients of the messages in mailpit whose subject mentions title.
func mailRecipients(t *testing.T, mailUI, title string) []string {
	t.Helper()
	resp, err := http.Get(mailUI + "/api/v1/messages")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body struct {
		Messages []struct {
			Subject string
			To      []struct{ Address string }
		} `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode mailpit's message list: %v", err)
	}
	var to []string
	for _, m := range body.Messages {
		if strings.Contains(m.Subject, title) {
			for _, a := range m.To {
				to = append(to, a.Address)
			}
		}
	}
	return to
}

func webhookCalls(wr *devstack.WebhookReceiver, user string) []devstack.WebhookCall {
	var out []devstack.WebhookCall
	for _, c := range wr.Calls() {
		if c.UserID == user {
			out = append(out, c)
		}
	}
	return out
}

// nextMonday is the first Monday at 08:00 on or after t's day, in t's location.
func nextMonday(t time.Time) time.Time {
	d := (int(time.Monday) - int(t.Weekday()) + 7) % 7
	return time.Date(t.Year(), t.Month(), t.Day()+d, 8, 0, 0, 0, t.Location())
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// frame is one frame `taskflow watch` printed: "15:04:05.000 <the frame as JSON>".
type frame struct {
	Seq   int64           `json:"seq"`
	Epoch string          `json:"epoch"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data"`
	raw   string
}

// eventID is the event_id of the TaskUpdate an update frame carries.
func (f frame) eventID() string {
	var d struct {
		EventID string `json:"event_id"`
	}
	_ = json.Unmarshal(f.Data, &d)
	return d.EventID
}

// watching is a `taskflow watch` running until stop (or the end of the test).
type watching struct {
	stdout, stderr testenv.SyncBuffer
	cancel         context.CancelFunc
	done           chan error // its result, put back by whoever reads it
}

// startWatch runs `taskflow watch args...` and returns once it printed its first frame.
func startWatch(t *testing.T, args ...string) *watching {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watching{cancel: cancel, done: make(chan error, 1)}
	go func() {
		w.done <- run(ctx, append([]string{"watch"}, args...), func(string) string { return "" }, &w.stdout, &w.stderr)
	}()
	t.Cleanup(func() { _ = w.stop(t) })
	w.waitFrame(t, "the first frame", func(frame) bool { return true })
	return w
}

// frames parses what watch printed so far.
func (w *watching) frames(t *testing.T) []frame {
	t.Helper()
	var out []frame
	for _, line := range strings.Split(strings.TrimSpace(w.stdout.String()), "\n") {
		if line == "" {
			continue
		}
		_, raw, _ := strings.Cut(line, " ")
		f := frame{raw: raw}
		if err := json.Unmarshal([]byte(raw), &f); err != nil {
			t.Fatalf("taskflow watch printed %q, want a time and a JSON frame: %v", line, err)
		}
		out = append(out, f)
	}
	return out
}

// find returns the first frame printed so far that matches, or nil.
func (w *watching) find(t *testing.T, match func(frame) bool) *frame {
	t.Helper()
	for _, f := range w.frames(t) {
		if match(f) {
			return &f
		}
	}
	return nil
}

// waitFrame waits until watch printed a frame that matches and returns it.
func (w *watching) waitFrame(t *testing.T, what string, match func(frame) bool) frame {
	t.Helper()
	deadline := time.Now().Add(effectWait)
	for {
		if f := w.find(t, match); f != nil {
			return *f
		}
		select {
		case err := <-w.done:
			w.done <- err
			t.Fatalf("taskflow watch ended (%v) before printing %s\nstdout:\n%s\nstderr:\n%s", err, what, w.stdout.String(), w.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("taskflow watch printed no %s within %v\nstdout:\n%s\nstderr:\n%s", what, effectWait, w.stdout.String(), w.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lastPositioned is the last frame printed so far that carries a position.
func (w *watching) lastPositioned(t *testing.T) frame {
	t.Helper()
	var last frame
	for _, f := range w.frames(t) {
		if f.Epoch != "" {
			last = f
		}
	}
	return last
}

// stop ends watch as Ctrl-C does and returns its result.
func (w *watching) stop(t *testing.T) error {
	t.Helper()
	w.cancel()
	select {
	case err := <-w.done:
		w.done <- err
		return err
	case <-time.After(10 * time.Second):
		t.Errorf("taskflow watch did not stop within 10s of Ctrl-C")
		return nil
	}
}
