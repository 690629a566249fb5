package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/devstack"
	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/testenv"
)

// probe is a subscriber of task-events that dead-letters into task-events-probe-dlq: the
// runtime drops what does not decode, and the handler rejects the task titled "rejected"
// permanently while reject is set.
type probe struct {
	mu       sync.Mutex
	reject   bool
	accepted map[string][]*eventsv1.TaskEvent
}

const probeDLQ = "task-events-probe-dlq"

func (p *probe) run(logPath string) testenv.RunFunc {
	return func(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		app := grpcapp.New(grpcapp.ReadConfig(envconfig.New(getenv)), slog.New(slog.NewJSONHandler(io.MultiWriter(stdout, f), nil)))
		daprsub.Handle(app.Events, daprsub.Subscription{PubsubName: testenv.PubsubName, Topic: "task-events", DeadLetterTopic: probeDLQ},
			func(ctx context.Context, _ daprsub.Meta, ev *eventsv1.TaskEvent) error {
				p.mu.Lock()
				defer p.mu.Unlock()
				if p.reject && ev.GetTask().GetTitle() == "rejected" {
					return daprsub.Permanent(fmt.Errorf("task title %q is not allowed", ev.GetTask().GetTitle()))
				}
				p.accepted[ev.GetEventId()] = append(p.accepted[ev.GetEventId()], ev)
				return nil
			})
		return app.Run(ctx)
	}
}

func (p *probe) got(id string) []*eventsv1.TaskEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted[id]
}

// taskflow runs the CLI and returns its output.
func taskflow(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out testenv.SyncBuffer
	err := run(context.Background(), args, func(string) string { return "" }, &out, &out)
	return out.String(), err
}

// recordsWithID returns the records of topic whose CloudEvent id or event_id is id.
func recordsWithID(t *testing.T, broker *testenv.Broker, topic, id string) []dlqEntry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recs, err := readTopic(ctx, broker.Client(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []dlqEntry
	for _, r := range recs {
		if e := parseEntry(r, wireTopics["task-events"]); e.ce.ID == id || e.eventID() == id {
			out = append(out, e)
		}
	}
	return out
}

// TestDLQ: real dead letters written by daprd for a subscriber that drops them are listed
// with the reason the subscriber logged, shown decoded, and replayed to the original topic
// once with the same id; a malformed entry is refused and nothing is published.
func TestDLQ(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs daprd and the broker")
	}
	broker := testenv.StartBroker(t, "task-events")
	dir := t.TempDir()
	logPath := filepath.Join(dir, "probe.log")
	sub := &probe{reject: true, accepted: map[string][]*eventsv1.TaskEvent{}}
	svc := testenv.RunService(t, sub.run(logPath), nil)
	daprd := testenv.StartDaprd(t, testenv.DaprdConfig{AppID: testenv.UniqueAppID("dlq-probe"), AppPort: svc.GRPCPort, Broker: broker})
	daprd.WaitSubscribed(t, "task-events")
	stack := filepath.Join(dir, "stack.json")
	info := devstack.Info{Broker: broker.Addr, RunDir: dir, TaskAPI: devstack.ServiceInfo{DaprGRPC: daprd.GRPCAddr()},
		Services: map[string]devstack.ServiceInfo{"probe": {Log: logPath}}}
	b, _ := json.Marshal(info)
	if err := os.WriteFile(stack, b, 0o644); err != nil {
		t.Fatal(err)
	}

	rejected := &eventsv1.TaskEvent{EventId: "evt-rejected", Kind: eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED,
		OccurredAt: timestamppb.New(time.Date(2026, 3, 2, 7, 5, 0, 0, time.UTC)), ActorId: "user-1",
		Task: &eventsv1.Task{Id: "task-rejected", UserId: "user-1", Title: "rejected", TimeZone: "Europe/Berlin"}}
	daprd.Publish(t, "task-events", "taskflow.task.completed.v1", "task-rejected", rejected)
	daprd.PublishRaw(t, "task-events", "application/octet-stream", []byte("\xff\xffnot a protobuf"),
		testenv.Meta("taskflow.task.completed.v1", "evt-garbled", "task-garbled"))
	daprd.PublishRaw(t, "task-events", "application/json",
		[]byte(`{"event_id":"evt-json","kind":"TASK_EVENT_KIND_UPDATED","task":{"id":"task-json","user_id":"user-1","title":["Pay","rent"]}}`),
		testenv.Meta("taskflow.task.updated.v1", "evt-json", "task-json"))
	// A producer that leaves the CloudEvent id to daprd (it generates a UUID).
	noID := proto.Clone(rejected).(*eventsv1.TaskEvent)
	noID.EventId, noID.Task.Id = "evt-no-ce-id", "task-no-ce-id"
	noIDBin, _ := proto.Marshal(noID)
	daprd.PublishRaw(t, "task-events", "application/octet-stream", noIDBin, testenv.Meta("taskflow.task.completed.v1", "", "task-no-ce-id"))
	if recs := broker.Consume(t, probeDLQ, 4, 30*time.Second); len(recs) != 4 {
		t.Fatalf("%s has %d records, want 4 (the rejected, the garbled, the JSON event and the one without a CloudEvent id)", probeDLQ, len(recs))
	}

	t.Run("list shows each entry with the reason the subscriber logged", func(t *testing.T) {
		out, err := taskflow(t, "dlq", "list", "--stack", stack, "--topic", probeDLQ)
		if err != nil {
			t.Fatalf("dlq list = %v, want success\n%s", err, out)
		}
		t.Log(out)
		for id, want := range map[string][]string{
			"evt-rejected": {"type=taskflow.task.completed.v1", "from=task-events@", `reason: task title "rejected" is not allowed`},
			"evt-garbled":  {"type=taskflow.task.completed.v1", "reason: invalid event: decode binary protobuf taskflow.events.v1.TaskEvent"},
			"evt-json":     {"type=taskflow.task.updated.v1", "reason: invalid event: decode JSON taskflow.events.v1.TaskEvent"},
		} {
			line := lineWith(out, "id="+id+" ")
			for _, w := range want {
				if !strings.Contains(line, w) {
					t.Errorf("dlq list line of %s = %q, want it to contain %q", id, line, w)
				}
			}
		}
		if !strings.Contains(out, "4 entries on "+probeDLQ+" (original topic task-events)") {
			t.Errorf("dlq list = %q, want a count of 4 entries", out)
		}
	})

	t.Run("list without a topic counts every dead-letter topic", func(t *testing.T) {
		out, err := taskflow(t, "dlq", "list", "--brokers", broker.Addr)
		if err != nil {
			t.Fatalf("dlq list = %v, want success\n%s", err, out)
		}
		t.Log(out)
		for _, want := range []string{probeDLQ + " ", "reminders-notification-dlq", "task-updates-websocket-dlq"} {
			if !strings.Contains(out, want) {
				t.Errorf("dlq list = %q, want a line for %s", out, want)
			}
		}
		if f := strings.Fields(lineWith(out, probeDLQ)); len(f) < 2 || f[1] != "4" {
			t.Errorf("dlq list line of %s = %v, want count 4", probeDLQ, f)
		}
	})

	t.Run("show decodes the payload as its protobuf type", func(t *testing.T) {
		out, err := taskflow(t, "dlq", "show", "--stack", stack, "--topic", probeDLQ, "--id", "evt-rejected")
		if err != nil {
			t.Fatalf("dlq show = %v, want success\n%s", err, out)
		}
		t.Log(out)
		for _, want := range []string{"payload          taskflow.events.v1.TaskEvent", "id               evt-rejected",
			"datacontenttype  application/octet-stream", "header           __topic=task-events", `reason           task title "rejected" is not allowed`} {
			if !strings.Contains(out, want) {
				t.Errorf("dlq show = %q, want it to contain %q", out, want)
			}
		}
		got := &eventsv1.TaskEvent{}
		if i := strings.Index(out, "\n{"); i < 0 || protojson.Unmarshal([]byte(out[i:]), got) != nil {
			t.Errorf("dlq show = %q, want the payload as protojson after the attributes", out)
		} else if diff := cmp.Diff(rejected, got, protocmp.Transform()); diff != "" {
			t.Errorf("dlq show payload differs from what was published (-want +got):\n%s", diff)
		}
		e := recordsWithID(t, broker, probeDLQ, "evt-garbled")[0]
		out, err = taskflow(t, "dlq", "show", "--stack", stack, "--topic", probeDLQ, "--offset", fmt.Sprintf("%d:%d", e.partition, e.offset))
		t.Log(out)
		if err != nil || !strings.Contains(out, "NOT a valid event: invalid event: decode binary protobuf") {
			t.Errorf("dlq show of the garbled entry = %v\n%s\nwant the decode error", err, out)
		}
	})

	t.Run("a malformed entry is refused and nothing is published", func(t *testing.T) {
		for _, args := range [][]string{{"--id", "evt-garbled"}, {"--all"}} {
			out, err := taskflow(t, append([]string{"dlq", "replay", "--stack", stack, "--topic", probeDLQ}, args...)...)
			if err == nil || !strings.Contains(err.Error(), "nothing published") || !strings.Contains(err.Error(), "decode binary protobuf") {
				t.Errorf("dlq replay %v = %v\n%s\nwant a refusal with the decode error", args, err, out)
			}
		}
		for _, id := range []string{"evt-garbled", "evt-rejected", "evt-json"} {
			if n := len(recordsWithID(t, broker, "task-events", id)); n != 1 {
				t.Errorf("task-events has %d records of %s after the refused replays, want 1 (the original)", n, id)
			}
		}
	})

	t.Run("replay publishes once to the original topic with the same id", func(t *testing.T) {
		sub.mu.Lock()
		sub.reject = false
		sub.mu.Unlock()
		out, err := taskflow(t, "dlq", "replay", "--stack", stack, "--topic", probeDLQ, "--id", "evt-rejected")
		if err != nil {
			t.Fatalf("dlq replay = %v, want success\n%s", err, out)
		}
		testenv.WaitFor(t, 20*time.Second, "the replayed event handled", func() bool { return len(sub.got("evt-rejected")) > 0 })
		recs := recordsWithID(t, broker, "task-events", "evt-rejected")
		if len(recs) != 2 {
			t.Fatalf("task-events has %d records of evt-rejected, want 2 (the original and one replay)", len(recs))
		}
		orig, replay := recs[0], recs[1]
		if orig.offset > replay.offset {
			orig, replay = replay, orig
		}
		if replay.ce.Type != orig.ce.Type || replay.key != "task-rejected" || replay.ce.DataContentType != "application/octet-stream" || replay.msg == nil {
			t.Errorf("replayed record: type %q key %q content type %q (%v), want %q, task-rejected, application/octet-stream, a valid event",
				replay.ce.Type, replay.key, replay.ce.DataContentType, replay.err, orig.ce.Type)
		}
		time.Sleep(time.Second)
		if n := len(sub.got("evt-rejected")); n != 1 {
			t.Errorf("subscriber got evt-rejected %d times, want 1", n)
		}
	})

	t.Run("replay keeps a CloudEvent id daprd generated", func(t *testing.T) {
		out, err := taskflow(t, "dlq", "replay", "--stack", stack, "--topic", probeDLQ, "--id", "evt-no-ce-id")
		if err != nil {
			t.Fatalf("dlq replay = %v, want success\n%s", err, out)
		}
		testenv.WaitFor(t, 20*time.Second, "the replayed event handled", func() bool { return len(sub.got("evt-no-ce-id")) > 0 })
		recs := recordsWithID(t, broker, "task-events", "evt-no-ce-id")
		if len(recs) != 2 || recs[0].ce.ID == "evt-no-ce-id" || recs[0].ce.ID == "" || recs[1].ce.ID != recs[0].ce.ID {
			var ids []string
			for _, e := range recs {
				ids = append(ids, e.ce.ID)
			}
			t.Errorf("CloudEvent ids of evt-no-ce-id on task-events = %v, want the one daprd generated, twice", ids)
		}
	})

	t.Run("replay --edit publishes the corrected event with the same event_id", func(t *testing.T) {
		wrongID := filepath.Join(dir, "wrong-id.json")
		fixed := filepath.Join(dir, "fixed.json")
		writeFile(t, wrongID, `{"event_id":"evt-other","kind":"TASK_EVENT_KIND_UPDATED","task":{"id":"task-json","user_id":"user-1","title":"Pay rent"}}`)
		writeFile(t, fixed, `{"event_id":"evt-json","kind":"TASK_EVENT_KIND_UPDATED","task":{"id":"task-json","user_id":"user-1","title":"Pay rent"}}`)
		if out, err := taskflow(t, "dlq", "replay", "--stack", stack, "--topic", probeDLQ, "--id", "evt-json", "--edit", wrongID); err == nil ||
			!strings.Contains(err.Error(), `event_id "evt-other", want the entry's "evt-json"`) {
			t.Errorf("dlq replay --edit with another event_id = %v\n%s\nwant a refusal naming both ids", err, out)
		}
		out, err := taskflow(t, "dlq", "replay", "--stack", stack, "--topic", probeDLQ, "--id", "evt-json", "--edit", fixed)
		if err != nil {
			t.Fatalf("dlq replay --edit = %v, want success\n%s", err, out)
		}
		testenv.WaitFor(t, 20*time.Second, "the corrected event handled", func() bool { return len(sub.got("evt-json")) > 0 })
		if got := sub.got("evt-json"); len(got) != 1 || got[0].GetTask().GetTitle() != "Pay rent" {
			b, _ := protojson.Marshal(got[0])
			t.Errorf("subscriber got %d evt-json, first %s, want one titled Pay rent", len(got), b)
		}
		if recs := recordsWithID(t, broker, "task-events", "evt-json"); len(recs) != 2 || recs[1].ce.Type != "taskflow.task.updated.v1" {
			t.Errorf("task-events has %d records of evt-json, want 2 (original, one replay of type taskflow.task.updated.v1)", len(recs))
		}
	})

	t.Run("without the stack's logs the reason points at the service log", func(t *testing.T) {
		out, err := taskflow(t, "dlq", "list", "--brokers", broker.Addr, "--topic", probeDLQ)
		if err != nil {
			t.Fatalf("dlq list = %v, want success\n%s", err, out)
		}
		if line := lineWith(out, "id=evt-garbled "); !strings.Contains(line, "reason: see the service log (event_dropped, event_id=evt-garbled)") {
			t.Errorf("dlq list line = %q, want the pointer to the service log", line)
		}
	})

	t.Run("a record that is not a CloudEvent is shown raw and refused", func(t *testing.T) {
		const raw = "task-events-raw-dlq"
		if err := broker.Client(t, kgo.AllowAutoTopicCreation()).ProduceSync(context.Background(),
			&kgo.Record{Topic: raw, Key: []byte("k"), Value: []byte("poison")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		out, err := taskflow(t, "dlq", "show", "--stack", stack, "--topic", raw, "--offset", "0:0")
		if err != nil || !strings.Contains(out, "NOT a valid event: invalid event: the record is not a CloudEvent") || !strings.Contains(out, `"poison"`) {
			t.Errorf("dlq show = %v\n%s\nwant the raw value and why it is not an event", err, out)
		}
		if _, err := taskflow(t, "dlq", "replay", "--stack", stack, "--topic", raw, "--all"); err == nil || !strings.Contains(err.Error(), "nothing published") {
			t.Errorf("dlq replay --all = %v, want a refusal", err)
		}
	})

	t.Run("bad usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"dlq", "replay", "--stack", stack, "--topic", probeDLQ},
			{"dlq", "show", "--stack", stack, "--topic", "reminders"},
			{"dlq", "replay", "--stack", stack, "--topic", probeDLQ, "--offset", "x"},
		} {
			if _, err := taskflow(t, args...); !errors.Is(err, errUsage) {
				t.Errorf("taskflow %v = %v, want a usage error", args, err)
			}
		}
	})
}

// TestDLQReplayReminder: on the local stack, a reminder whose e-mail target a producer sent
// as a list is dead-lettered by the notification service; replayed with the target fixed
// it sends one e-mail, and a second replay sends nothing (nor adds an audit record).
func TestDLQReplayReminder(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the whole stack")
	}
	chdirRoot(t)
	root, _ := os.Getwd()
	runDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := devstack.Start(ctx, devstack.Config{Root: root, RunDir: runDir, PortBase: portBase(t), LogLevel: "debug",
		TaskAPIAppID: testenv.UniqueAppID("task-api")})
	if err != nil {
		t.Fatalf("start the local stack: %v", err)
	}
	t.Cleanup(s.Stop)
	stack := filepath.Join(runDir, "stack.json")
	const dlq = "reminders-notification-dlq"
	id := uuid.NewString()
	title := "Renew passport " + id[:8]
	reminder := func(email string) string {
		return fmt.Sprintf(`{"event_id":%q,"reminder_id":"r-%s","task_id":"task-passport","user_id":%q,"title":%q,`+
			`"due_at":%q,"remind_at":%q,"time_zone":"Europe/Berlin","targets":{"email":%s}}`, id, id[:8], devstack.DevUser, title,
			time.Now().Add(30*time.Minute).UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339), email)
	}
	publishJSON(t, s.Info.TaskAPI.DaprHTTP, "reminders", "taskflow.reminder.due.v1", id, "task-passport", reminder(`["demo-user@example.com"]`))

	var out string
	testenv.WaitFor(t, 30*time.Second, "the reminder on "+dlq, func() bool {
		out, _ = taskflow(t, "dlq", "list", "--stack", stack, "--topic", dlq)
		return strings.Contains(out, "id="+id)
	})
	t.Log(out)
	if line := lineWith(out, "id="+id); !strings.Contains(line, "reason: invalid event: decode JSON taskflow.events.v1.ReminderEvent") ||
		!strings.Contains(line, "from=reminders@") {
		t.Errorf("dlq list line = %q, want the source topic and the decode error the notification service logged", line)
	}
	if out, err := taskflow(t, "dlq", "replay", "--stack", stack, "--topic", dlq, "--id", id); err == nil ||
		!strings.Contains(err.Error(), "invalid value for string field email") {
		t.Errorf("dlq replay of the malformed reminder = %v\n%s\nwant a refusal with the decode error", err, out)
	}

	fixed := filepath.Join(runDir, "fixed.json")
	writeFile(t, fixed, reminder(`"demo-user@example.com"`))
	handled := func(service string) int {
		b, _ := os.ReadFile(s.Info.Services[service].Log)
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, `"msg":"event_handled"`) && strings.Contains(l, `"event_id":"`+id+`"`) {
				n++
			}
		}
		return n
	}
	for replay := 1; replay <= 2; replay++ {
		out, err := taskflow(t, "dlq", "replay", "--stack", stack, "--topic", dlq, "--id", id, "--edit", fixed)
		if err != nil {
			t.Fatalf("dlq replay %d --edit = %v, want success\n%s", replay, err, out)
		}
		t.Log(out)
		testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("replay %d handled by notification and audit", replay), func() bool {
			return handled("notification") >= replay && handled("audit") >= replay
		})
		if replay == 1 {
			testenv.WaitFor(t, 30*time.Second, "the e-mail", func() bool { return mailsAbout(t, s.Info.MailUI, title) > 0 })
		}
		time.Sleep(time.Second)
		if n := mailsAbout(t, s.Info.MailUI, title); n != 1 {
			t.Errorf("after replay %d: %d e-mails about %q, want 1", replay, n, title)
		}
	}
	out, err = taskflow(t, "audit", "list", "--stack", stack, "--user", devstack.DevUser)
	if err != nil || strings.Count(out, "event="+id) != 1 {
		t.Errorf("audit list = %v\n%s\nwant the reminder recorded once", err, out)
	}
}

// publishJSON publishes a protojson body through daprd's HTTP API, as a Python producer would.
func publishJSON(t *testing.T, daprHTTP, topic, ceType, id, key, body string) {
	t.Helper()
	url := fmt.Sprintf("%s/v1.0/publish/%s/%s?metadata.cloudevent.type=%s&metadata.cloudevent.id=%s&metadata.partitionKey=%s",
		daprHTTP, testenv.PubsubName, topic, ceType, id, key)
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("publish to %s: HTTP %d", topic, resp.StatusCode)
	}
}

// mailsAbout counts the messages in mailpit whose subject contains s.
func mailsAbout(t *testing.T, mailUI, s string) int {
	t.Helper()
	resp, err := http.Get(mailUI + "/api/v1/messages?limit=500")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Messages []struct{ Subject string } `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range body.Messages {
		if strings.Contains(m.Subject, s) {
			n++
		}
	}
	return n
}

func TestSplitDLQ(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ dlq, topic, service string }{
		{"reminders-notification-dlq", "reminders", "notification"},
		{"task-events-recurring-dlq", "task-events", "recurring"},
		{"task-updates-websocket-dlq", "task-updates", "websocket"},
		{"task-events-audit-dlq", "task-events", "audit"},
		{"reminders", "", ""},
		{"reminders-dlq", "", ""},
		{"audit-checkpoints-audit-dlq", "", ""},
	} {
		topic, service, err := splitDLQ(tc.dlq)
		if topic != tc.topic || service != tc.service || (err != nil) != (tc.topic == "") {
			t.Errorf("splitDLQ(%q) = %q, %q, %v, want %q, %q", tc.dlq, topic, service, err, tc.topic, tc.service)
		}
	}
}

func TestParseDLQEntry(t *testing.T) {
	t.Parallel()
	ev := &eventsv1.ReminderEvent{EventId: "evt-1", TaskId: "task-1", Title: "Call mom"}
	bin, _ := proto.Marshal(ev)
	js, _ := protojson.Marshal(ev)
	ce := func(contentType, data string) []byte {
		return []byte(`{"specversion":"1.0","id":"evt-1","type":"taskflow.reminder.due.v1","datacontenttype":"` + contentType + `",` + data + `}`)
	}
	b64, _ := json.Marshal(bin)
	for _, tc := range []struct {
		name    string
		value   []byte
		wantErr string
	}{
		{"binary protobuf in data_base64", ce("application/octet-stream", `"data_base64":`+string(b64)), ""},
		{"protojson in data", ce("application/json", `"data":`+string(js)), ""},
		{"protojson as a JSON string", ce("text/plain", `"data":`+strconv.Quote(string(js))), "unsupported content type"},
		{"no event_id", ce("application/json", `"data":{"task_id":"t"}`), "has no event_id"},
		{"wrong field type", ce("application/json", `"data":{"event_id":"evt-1","title":1}`), "decode JSON taskflow.events.v1.ReminderEvent"},
		{"no data", ce("application/json", `"data":null`), "empty body"},
		{"not a CloudEvent", []byte("poison"), "not a CloudEvent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := parseEntry(&kgo.Record{Value: tc.value}, wireTopics["reminders"])
			if tc.wantErr == "" {
				if e.err != nil || !proto.Equal(e.msg, ev) {
					t.Errorf("parseEntry = %v, %v, want %v", e.msg, e.err, ev)
				}
				return
			}
			if e.msg != nil || e.err == nil || !strings.Contains(e.err.Error(), tc.wantErr) {
				t.Errorf("parseEntry error = %v, want one containing %q", e.err, tc.wantErr)
			}
		})
	}
}

func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
