package faulttest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/taskflow/taskflow-events/internal/devstack"
	"github.com/taskflow/taskflow-events/internal/loadtest"
	"github.com/taskflow/taskflow-events/internal/testenv"
)

// portBase picks a base port whose block of devstack.PortBlock ports is free right now.
func portBase(t *testing.T) int {
	t.Helper()
	base, err := devstack.FreePortBase()
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// env is a running stack with an observer of its effects and a publisher.
type env struct {
	s   *devstack.Stack
	obs *loadtest.Observer
	pub *loadtest.Publisher
	gen loadtest.Gen
}

func startStack(t *testing.T) *env {
	t.Helper()
	root := testenv.RepoRoot(t)
	testenv.Bin(t, "daprd")
	testenv.Bin(t, "mailpit")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out testenv.SyncBuffer
	cfg := devstack.Config{Root: root, RunDir: t.TempDir(), PortBase: portBase(t), Out: &out,
		TaskAPIAppID: testenv.UniqueAppID("task-api"),
		// HANDLER_TIMEOUT (notification only) sets its ledger lease to twice that: an e-mail
		// in flight when KillServiceMidStream kills the service goes out again after the
		// lease. With the default 30 s that took a minute of the 90 s effectTimeout.
		ServiceEnv: map[string]string{"HEALTH_INTERVAL": "500ms", "HANDLER_TIMEOUT": "10s"}}
	if dir := os.Getenv("TASKFLOW_FAULT_RUNDIR"); dir != "" {
		// Keep every log (services at debug, sidecars at info) to investigate a failure.
		cfg.RunDir, cfg.LogLevel, cfg.DaprdLogLevel = dir, "debug", "info"
	}
	s, err := devstack.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start the stack: %v\n%s", err, out.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"audit", "notification", "recurring-task", "websocket"} {
				t.Logf("--- %s log tail ---\n%s", name, s.Procs[name].Tail(15))
			}
		}
		s.Stop()
	})
	obs, err := loadtest.Observe(ctx, s, nil)
	if err != nil {
		t.Fatalf("observe the stack: %v", err)
	}
	t.Cleanup(obs.Close)
	return &env{s: s, obs: obs, pub: loadtest.NewPublisher(s.Info.TaskAPI.DaprHTTP),
		gen: loadtest.Gen{User: devstack.DevUser, Email: "load@example.com"}}
}

// stream publishes n events (completion, reminder, update in turn) one every interval;
// with malformedEvery > 0 every malformedEvery-th event is malformed.
type stream struct {
	mu     sync.Mutex
	events []loadtest.Event
	sent   chan struct{} // one token per published event
	done   chan struct{}
	err    error
}

func (e *env) stream(t *testing.T, n int, interval time.Duration, malformedEvery int) *stream {
	t.Helper()
	st := &stream{sent: make(chan struct{}, n), done: make(chan struct{})}
	go func() {
		defer close(st.done)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := range n {
			k := loadtest.Kinds[i%len(loadtest.Kinds)]
			ev := e.gen.Next(k)
			if malformedEvery > 0 && i%malformedEvery == malformedEvery-1 {
				ev = e.gen.Malformed(k)
			}
			if err := e.pub.Publish(ctx, ev); err != nil {
				st.err = err
				return
			}
			st.mu.Lock()
			st.events = append(st.events, ev)
			st.mu.Unlock()
			st.sent <- struct{}{}
			<-tick.C
		}
	}()
	return st
}

// waitSent blocks until k events have been published in total.
func (st *stream) waitSent(t *testing.T, k int) {
	t.Helper()
	for {
		st.mu.Lock()
		n := len(st.events)
		st.mu.Unlock()
		if n >= k {
			return
		}
		select {
		case <-st.done:
			if st.err != nil {
				t.Fatalf("publish: %v", st.err)
			}
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// wait waits for the whole stream and returns its events.
func (st *stream) wait(t *testing.T) []loadtest.Event {
	t.Helper()
	<-st.done
	if st.err != nil {
		t.Fatalf("publish: %v", st.err)
	}
	return st.events
}

// expectExactlyOnce waits (up to timeout) until every effect of events has happened, waits
// settle more for late duplicates, and fails for every missing or duplicated effect.
func (e *env) expectExactlyOnce(t *testing.T, events []loadtest.Event, timeout, settle time.Duration) {
	t.Helper()
	e.expectEffects(t, events, timeout, settle, false)
}

// expectOnceExceptCrashResends is expectExactlyOnce for a scenario that kills the
// notification service with kill -9: an e-mail that was being sent at the instant of the
// kill (sent, not yet recorded) goes out once more after the ledger lease. Those second
// copies are counted and reported; any other duplicate, or a third copy, fails.
func (e *env) expectOnceExceptCrashResends(t *testing.T, events []loadtest.Event, timeout, settle time.Duration) {
	t.Helper()
	e.expectEffects(t, events, timeout, settle, true)
}

func (e *env) expectEffects(t *testing.T, events []loadtest.Event, timeout, settle time.Duration, allowCrashResend bool) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	start := time.Now()
	var tally loadtest.Tally
	var resent []string
	check := func(eff loadtest.Effects) loadtest.Tally {
		if allowCrashResend {
			resent = crashResends(events, eff)
		}
		return loadtest.Check(events, eff, 20)
	}
	for {
		eff, err := e.obs.Effects(ctx)
		if err == nil {
			tally = check(eff)
			if tally.Missing == 0 {
				break
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("read effects: %v", err)
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if tally.Missing == 0 {
		time.Sleep(settle)
		eff, err := e.obs.Effects(ctx)
		if err != nil {
			t.Fatalf("read effects: %v", err)
		}
		tally = check(eff)
		e.checkPollAgrees(t, eff)
	}
	t.Logf("%d events: %s (all effects seen %v after the last publish)", len(events), tally, time.Since(start).Round(time.Millisecond))
	if allowCrashResend {
		t.Logf("%d e-mails sent a second time because kill -9 hit between send and record: %v", len(resent), resent)
	}
	if !tally.OK() {
		t.Errorf("effects not exactly once: %s\n%s\n%s", tally, strings.Join(tally.Problems, "\n"), e.whereabouts(t, events))
	}
}

// checkPollAgrees checks that the benchmark's incremental reads of the audit log and the
// ledger (Observer.Poll, which make bench watches a run with) find what a full read found,
// here where services were killed and PostgreSQL restarted mid-stream. A row written
// between the two reads is told apart by a second full read.
func (e *env) checkPollAgrees(t *testing.T, full loadtest.Effects) {
	t.Helper()
	inc, err := e.obs.Poll(context.Background())
	if err != nil {
		t.Errorf("incremental read: %v", err)
		return
	}
	d := loadtest.DiffDatabaseEffects(full, inc)
	if d == "" {
		return
	}
	again, err := e.obs.Effects(context.Background())
	if err != nil {
		t.Errorf("read effects: %v", err)
		return
	}
	if d2 := loadtest.DiffDatabaseEffects(again, inc); d2 != "" {
		t.Errorf("the incremental read of the audit log and ledger disagrees with a full read: %s (before: %s)", d2, d)
	}
}

// crashResends finds the reminders whose e-mail arrived exactly twice while the ledger
// shows the channel claimed again after its lease (attempts ≥ 2, delivered): the copy
// sent by the killed process and the one sent after the lease. It counts each of those
// e-mails once in eff and returns the reminders' event ids.
func crashResends(events []loadtest.Event, eff loadtest.Effects) []string {
	var ids []string
	for _, ev := range events {
		if ev.Kind != loadtest.Reminder || ev.Malformed {
			continue
		}
		if eff.Mail[ev.TaskID] == 2 && eff.Attempts[ev.ID]["email"] >= 2 && eff.Ledger[ev.ID]["email"] == "delivered" {
			eff.Mail[ev.TaskID] = 1
			ids = append(ids, ev.ID)
		}
	}
	return ids
}

// allDLQs are the dead-letter topics of every subscription in the stack.
var allDLQs = []string{"task-events-audit-dlq", "task-events-recurring-dlq", "reminders-audit-dlq",
	"reminders-notification-dlq", "task-updates-audit-dlq", "task-updates-websocket-dlq"}

// whereabouts says, for every event with a missing effect, on which dead-letter topics it
// landed (and how often), so a loss is told apart from a dead-lettering.
func (e *env) whereabouts(t *testing.T, events []loadtest.Event) string {
	t.Helper()
	eff, err := e.obs.Effects(context.Background())
	if err != nil {
		return "whereabouts: " + err.Error()
	}
	dlq := deadLetters(t, e.s.Info.Broker, allDLQs, func(map[string]map[string]int) bool { return false }, 3*time.Second)
	var b strings.Builder
	for _, ev := range events {
		var missing []string
		for name, n := range loadtest.Expected(ev, eff) {
			if n == 0 {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			continue
		}
		var where []string
		for _, tp := range allDLQs {
			if n := dlq[tp][ev.ID]; n > 0 {
				where = append(where, fmt.Sprintf("%s×%d", tp, n))
			}
		}
		if len(where) == 0 {
			where = []string{"on no dead-letter topic"}
		}
		fmt.Fprintf(&b, "missing %s of %s %s: %s\n", strings.Join(missing, ", "), ev.Kind, ev.ID, strings.Join(where, ", "))
	}
	return b.String()
}

// deadLetters reads every record of topics from the beginning until want(records) holds or
// timeout passes, and returns the CloudEvent ids found per topic.
func deadLetters(t *testing.T, broker string, topics []string, want func(map[string]map[string]int) bool, timeout time.Duration) map[string]map[string]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	defer cl.Close()
	got := map[string]map[string]int{}
	for _, tp := range topics {
		got[tp] = map[string]int{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for ctx.Err() == nil && !want(got) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) { got[r.Topic][cloudEventID(r.Value)]++ })
	}
	return got
}

// cloudEventID is the id of a dead-lettered CloudEvent, or for a record that is not one,
// its value (the malformed events carry their id in their payload).
func cloudEventID(v []byte) string {
	var ce struct {
		ID         string `json:"id"`
		DataBase64 string `json:"data_base64"`
	}
	if json.Unmarshal(v, &ce) == nil && ce.ID != "" {
		return ce.ID
	}
	if b, err := base64.StdEncoding.DecodeString(ce.DataBase64); err == nil && len(b) > 0 {
		return string(b)
	}
	return string(v)
}
