package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/taskflow/taskflow-events/gen/taskflow/audit/v1"
	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/localrun"
	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/services/audit/auditsig"
)

// stack is the audit service with its real dependencies.
type stack struct {
	pg     *testenv.Postgres
	dsn    string // the runtime role's: what the service runs as
	owner  string // the owner role's
	broker *testenv.Broker
	svc    *testenv.Service
	daprd  *testenv.Daprd
	conn   *grpc.ClientConn
}

// testSigningKey is the e2e tests' audit signing key (base64 seed).
var testSigningKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{42}, ed25519.SeedSize))

func startStack(t *testing.T, retries int, env ...string) *stack {
	t.Helper()
	s := &stack{pg: testenv.StartPostgres(t)}
	s.owner, s.dsn = s.pg.OwnedDatabase(t, "audit_e2e")
	s.broker = testenv.StartBroker(t, topicTaskEvents, topicReminders, topicTaskUpdates, "audit-checkpoints")
	daprGRPC := testenv.FreePort(t)
	vars := map[string]string{"DATABASE_URL": s.dsn, "AUDIT_MIGRATION_DATABASE_URL": s.owner,
		"AUDIT_SIGNING_KEY": testSigningKey, "DAPR_GRPC_PORT": strconv.Itoa(daprGRPC)}
	// One pub/sub Component per topic, as the chart and `make run` deploy the service.
	pubsubEnv, pubsubs := perTopicPubsubs()
	maps.Copy(vars, pubsubEnv)
	for i := 0; i+1 < len(env); i += 2 {
		vars[env[i]] = env[i+1]
	}
	s.svc = testenv.RunService(t, run, vars)
	s.daprd = testenv.StartDaprd(t, testenv.DaprdConfig{
		AppID: "audit-service", AppPort: s.svc.GRPCPort, Broker: s.broker, AppHealthCheck: true,
		Retries: retries, RetryInterval: 200 * time.Millisecond, GRPCPort: daprGRPC, ExtraPubsubs: pubsubs,
	})
	for _, topic := range []string{topicTaskEvents, topicReminders, topicTaskUpdates} {
		s.daprd.WaitSubscribed(t, topic)
	}
	s.conn = s.svc.Conn(t)
	return s
}

// perTopicPubsubs returns the service's AUDIT_PUBSUB_* variables for one pub/sub Component
// per topic and the Components' names.
func perTopicPubsubs() (map[string]string, []string) {
	env := localrun.AuditPubsubEnv()
	return env, slices.Sorted(maps.Values(env))
}

// event is one publish of the test stream.
type event struct {
	topic, ceType, key string
	msg                interface {
		proto.Message
		GetEventId() string
	}
	json      bool
	malformed bool
}

// makeEvent builds a valid event number i, on one of the three topics.
func makeEvent(i int, at time.Time) event {
	id := fmt.Sprintf("evt-%04d", i)
	user, task := fmt.Sprintf("user-%d", i%7), fmt.Sprintf("task-%d", i%50)
	ts := timestamppb.New(at)
	switch i % 3 {
	case 0:
		kind := eventsv1.TaskEventKind(1 + i%5)
		return event{topic: topicTaskEvents, ceType: "taskflow.task.v1", key: task, msg: &eventsv1.TaskEvent{
			EventId: id, Kind: kind, OccurredAt: ts, ActorId: user,
			Task: &eventsv1.Task{Id: task, UserId: user, Title: "task " + id, Status: eventsv1.TaskStatus_TASK_STATUS_OPEN, Tags: []string{"x"}},
		}}
	case 1:
		return event{topic: topicReminders, ceType: "taskflow.reminder.due.v1", key: task, msg: &eventsv1.ReminderEvent{
			EventId: id, ReminderId: "r-" + id, TaskId: task, UserId: user, Title: "remind " + id, RemindAt: ts, DueAt: ts,
			Targets: &eventsv1.DeliveryTargets{Email: user + "@example.com"},
		}}
	default:
		return event{topic: topicTaskUpdates, ceType: "taskflow.update.notification.v1", key: user, msg: &eventsv1.TaskUpdate{
			EventId: id, UserId: user, OccurredAt: ts,
			Update: &eventsv1.TaskUpdate_Notification{Notification: &eventsv1.Notification{Id: "n-" + id, Title: "hi", TaskId: task}},
		}}
	}
}

func publish(d *testenv.Daprd, e event) error {
	md := testenv.Meta(e.ceType, "", e.key)
	if e.malformed {
		if e.json {
			return d.TryPublishRaw(e.topic, "application/json", []byte(`{"event_id": "broken`), md)
		}
		return d.TryPublishRaw(e.topic, "application/octet-stream", []byte("\xff\xff\xffnot a protobuf"), md)
	}
	md["cloudevent.id"] = e.msg.GetEventId()
	md["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if e.json {
		data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(e.msg)
		if err != nil {
			return err
		}
		return d.TryPublishRaw(e.topic, "application/json", data, md)
	}
	data, err := proto.Marshal(e.msg)
	if err != nil {
		return err
	}
	return d.TryPublishRaw(e.topic, "application/octet-stream", data, md)
}

// publishAll publishes events with workers concurrent publishers.
func publishAll(t *testing.T, d *testenv.Daprd, events []event, workers int) {
	t.Helper()
	ch := make(chan event)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range ch {
				if err := publish(d, e); err != nil {
					t.Errorf("publish: %v", err)
				}
			}
		}()
	}
	for _, e := range events {
		ch <- e
	}
	close(ch)
	wg.Wait()
}

func countRows(t *testing.T, dsn string) (rows, distinct int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return -1, -1
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SELECT count(*), count(DISTINCT event_id) FROM audit_events").Scan(&rows, &distinct); err != nil {
		return -1, -1
	}
	return rows, distinct
}

func waitRows(t *testing.T, dsn string, want int, timeout time.Duration) {
	t.Helper()
	testenv.WaitFor(t, timeout, fmt.Sprintf("%d stored events", want), func() bool {
		n, _ := countRows(t, dsn)
		return n >= want
	})
	time.Sleep(time.Second) // let stragglers (wrong extra rows) show up
	if n, d := countRows(t, dsn); n != want || d != want {
		t.Fatalf("audit_events has %d rows (%d distinct event ids), want %d", n, d, want)
	}
}

func verifyChain(t *testing.T, conn *grpc.ClientConn, want uint64) {
	t.Helper()
	resp, err := auditv1.NewAuditServiceClient(conn).VerifyChain(context.Background(), &auditv1.VerifyChainRequest{})
	if err != nil {
		t.Fatalf("VerifyChain: %v", err)
	}
	if !resp.GetOk() || resp.GetRowsChecked() != want {
		t.Errorf("VerifyChain = %v, want ok over %d rows", resp, want)
	}
}

func listAll(t *testing.T, conn *grpc.ClientConn, req *auditv1.ListEventsRequest) []*auditv1.AuditEvent {
	t.Helper()
	var out []*auditv1.AuditEvent
	for {
		resp := &auditv1.ListEventsResponse{}
		if err := conn.Invoke(context.Background(), "/taskflow.audit.v1.AuditService/ListEvents", req, resp); err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		out = append(out, resp.GetEvents()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		req = proto.Clone(req).(*auditv1.ListEventsRequest)
		req.PageToken = resp.GetNextPageToken()
	}
}

func TestEndToEnd(t *testing.T) {
	s := startStack(t, 20)
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)

	// 1,000 publishes: 10 malformed (1%), 50 redeliveries of earlier events (5%), 940 distinct
	// valid events; binary and JSON alternate, a redelivery uses the other encoding.
	var events []event
	want := map[string]bool{}
	dlq := map[string]int{}
	for i := range 1000 {
		switch {
		case i%100 == 99:
			e := makeEvent(i, base)
			e.malformed, e.json = true, i%200 == 99
			events = append(events, e)
			dlq[e.topic+"-audit-dlq"]++
		case i%20 == 10:
			e := makeEvent(i-3, base.Add(time.Duration(i-3)*time.Second))
			e.json = (i-3)%2 == 0
			events = append(events, e)
		default:
			e := makeEvent(i, base.Add(time.Duration(i)*time.Second))
			e.json = i%2 == 1
			events = append(events, e)
			want[e.msg.GetEventId()] = true
		}
	}
	publishAll(t, s.daprd, events, 8)
	waitRows(t, s.dsn, len(want), 90*time.Second)

	for topic, n := range dlq {
		if recs := s.broker.Consume(t, topic, n, 20*time.Second); len(recs) != n {
			t.Errorf("%s has %d records, want the %d malformed events", topic, len(recs), n)
		}
	}
	verifyChain(t, s.conn, uint64(len(want)))

	got := listAll(t, s.conn, &auditv1.ListEventsRequest{PageSize: 64})
	seen := map[string]bool{}
	for i, e := range got {
		if seen[e.GetEventId()] {
			t.Errorf("ListEvents returned %s twice", e.GetEventId())
		}
		seen[e.GetEventId()] = true
		if i > 0 && e.GetOccurredAt().AsTime().After(got[i-1].GetOccurredAt().AsTime()) {
			t.Errorf("ListEvents: %s after the older %s, want newest first", e.GetEventId(), got[i-1].GetEventId())
		}
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("ListEvents is missing %s", id)
		}
	}
	if len(got) != len(want) {
		t.Errorf("ListEvents returned %d events, want %d", len(got), len(want))
	}

	t.Run("stored rows carry the event's fields", func(t *testing.T) {
		evs := listAll(t, s.conn, &auditv1.ListEventsRequest{TaskId: "task-3", Kinds: []string{"task.reopened"}})
		if len(evs) == 0 {
			t.Fatal("ListEvents(task-3, task.reopened) is empty")
		}
		for _, e := range evs {
			if e.GetTopic() != topicTaskEvents || e.GetKind() != "task.reopened" || e.GetTaskId() != "task-3" ||
				e.GetTraceId() != "4bf92f3577b34da6a3ce929d0e0e4736" || e.GetPayloadType() != "taskflow.events.v1.TaskEvent" ||
				e.GetPayload().GetFields()["event_id"].GetStringValue() != e.GetEventId() || len(e.GetHash()) != 32 {
				t.Errorf("stored event = %v, want a task.reopened task event of task-3 with trace id, payload and hash", e)
			}
		}
	})

	t.Run("bad requests are InvalidArgument", func(t *testing.T) {
		from := timestamppb.New(base.Add(time.Hour))
		to := timestamppb.New(base)
		for name, req := range map[string]*auditv1.ListEventsRequest{
			"garbage token":  {PageToken: "not-a-token!"},
			"oversize token": {PageToken: strings.Repeat("A", 4096)},
			"from after to":  {FromTime: from, ToTime: to},
			"token of another filter": {UserId: "user-1", PageToken: func() string {
				resp := &auditv1.ListEventsResponse{}
				_ = s.conn.Invoke(context.Background(), "/taskflow.audit.v1.AuditService/ListEvents", &auditv1.ListEventsRequest{PageSize: 1}, resp)
				return resp.GetNextPageToken()
			}()},
		} {
			err := s.conn.Invoke(context.Background(), "/taskflow.audit.v1.AuditService/ListEvents", req, &auditv1.ListEventsResponse{})
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("ListEvents(%s) error = %v, want InvalidArgument", name, err)
			}
		}
	})

	t.Run("oversize requests are ResourceExhausted", func(t *testing.T) {
		err := s.conn.Invoke(context.Background(), "/taskflow.audit.v1.AuditService/ListEvents",
			&auditv1.ListEventsRequest{UserId: strings.Repeat("u", 20<<10)}, &auditv1.ListEventsResponse{})
		if status.Code(err) != codes.ResourceExhausted {
			t.Errorf("ListEvents with a 20 KiB user_id = %v, want ResourceExhausted (16 KiB limit)", err)
		}
	})
}

func TestPostgresOutage(t *testing.T) {
	s := startStack(t, 1000)
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	const n = 400
	var events []event
	for i := range n {
		e := makeEvent(i, base.Add(time.Duration(i)*time.Second))
		e.json = i%2 == 1
		events = append(events, e)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, e := range events {
			if err := publish(s.daprd, e); err != nil {
				t.Errorf("publish: %v", err)
			}
			time.Sleep(15 * time.Millisecond)
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	s.pg.Stop(t)
	s.svc.WaitHealth(t, healthpb.HealthCheckResponse_NOT_SERVING, 10*time.Second)
	time.Sleep(3 * time.Second)
	s.pg.Start(t)
	if stored, _ := countRows(t, s.dsn); stored >= n {
		t.Fatalf("all %d events were stored before PostgreSQL came back; the outage tested nothing", stored)
	}
	s.svc.WaitHealth(t, healthpb.HealthCheckResponse_SERVING, 20*time.Second)
	<-done
	waitRows(t, s.dsn, n, 90*time.Second)
	if !strings.Contains(s.svc.Logs(), `"event_failed"`) {
		t.Errorf("service log has no event_failed line: no event was answered RETRY during the outage")
	}
	verifyChain(t, s.conn, n)
}

// TestCheckpoints: the service publishes signed checkpoints; an auditor holding only the
// public key verifies them offline and has VerifyChain check the log against them.
func TestCheckpoints(t *testing.T) {
	s := startStack(t, 20, "AUDIT_CHECKPOINT_INTERVAL", "1s")
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var events []event
	for i := range 30 {
		events = append(events, makeEvent(i, base.Add(time.Duration(i)*time.Second)))
	}
	publishAll(t, s.daprd, events, 4)
	waitRows(t, s.dsn, 30, 60*time.Second)

	pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	keys := auditsig.NewKeyRing(pub)
	var newest *auditv1.Checkpoint
	testenv.WaitFor(t, 30*time.Second, "a published checkpoint covering all 30 events", func() bool {
		for _, rec := range s.broker.Consume(t, "audit-checkpoints", 1, 2*time.Second) {
			var ce struct {
				Type       string `json:"type"`
				DataBase64 []byte `json:"data_base64"`
			}
			if err := json.Unmarshal(rec.Value, &ce); err != nil || ce.Type != "taskflow.audit.checkpoint.v1" {
				t.Fatalf("audit-checkpoints record %s: %v (type %q)", rec.Value, err, ce.Type)
			}
			p := &auditv1.Checkpoint{}
			if err := proto.Unmarshal(ce.DataBase64, p); err != nil {
				t.Fatalf("checkpoint payload: %v", err)
			}
			cp, err := auditsig.CheckpointFromProto(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := auditsig.VerifyCheckpoint(cp, keys); err != nil {
				t.Fatalf("published checkpoint at seq %d does not verify offline: %v", cp.Seq, err)
			}
			if newest == nil || p.GetSeq() > newest.GetSeq() {
				newest = p
			}
		}
		return newest.GetSeq() == 30
	})
	if !strings.Contains(s.svc.Logs(), `"msg":"audit_checkpoint"`) {
		t.Errorf("no audit_checkpoint log line")
	}
	client := auditv1.NewAuditServiceClient(s.conn)
	resp, err := client.VerifyChain(context.Background(), &auditv1.VerifyChainRequest{PublicKeys: [][]byte{pub}, Checkpoints: []*auditv1.Checkpoint{newest}})
	if err != nil || !resp.GetOk() || resp.GetRowsChecked() != 30 {
		t.Errorf("VerifyChain with the auditor's key and checkpoint = %v, %v, want ok over 30 rows", resp, err)
	}
	// A checkpoint the service never signed is named.
	forged := proto.Clone(newest).(*auditv1.Checkpoint)
	forged.Seq = 31
	resp, err = client.VerifyChain(context.Background(), &auditv1.VerifyChainRequest{Checkpoints: []*auditv1.Checkpoint{forged}})
	if err != nil || resp.GetOk() || resp.GetBrokenLink().GetReason() != auditv1.BreakReason_BREAK_REASON_CHECKPOINT_MISMATCH {
		t.Errorf("VerifyChain with a forged checkpoint = %v, %v, want CHECKPOINT_MISMATCH", resp, err)
	}
	// The wrong public key: every head invalid, naming the key the log was signed with.
	wrong := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	resp, err = client.VerifyChain(context.Background(), &auditv1.VerifyChainRequest{PublicKeys: [][]byte{wrong}})
	if err != nil || resp.GetOk() || resp.GetBrokenLink().GetReason() != auditv1.BreakReason_BREAK_REASON_HEAD_SIGNATURE_INVALID ||
		!strings.Contains(resp.GetBrokenLink().GetDetail(), auditsig.KeyID(pub)) {
		t.Errorf("VerifyChain with a wrong key = %v, %v, want HEAD_SIGNATURE_INVALID naming key %s", resp, err, auditsig.KeyID(pub))
	}
}

// TestStartupRefusals: the service does not start without a signing key, nor as a role
// that could rewrite the log.
func TestStartupRefusals(t *testing.T) {
	pg := testenv.StartPostgres(t)
	owner, runtime := pg.OwnedDatabase(t, "audit_refusals")
	super := pg.DSN
	if u, err := url.Parse(pg.DSN); err == nil {
		u.Path = "/audit_refusals"
		super = u.String()
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no signing key", map[string]string{"DATABASE_URL": runtime, "AUDIT_MIGRATION_DATABASE_URL": owner},
			"AUDIT_SIGNING_KEY_FILE (or AUDIT_SIGNING_KEY) is required"},
		{"bad signing key", map[string]string{"DATABASE_URL": runtime, "AUDIT_SIGNING_KEY": "c2hvcnQ="},
			"AUDIT_SIGNING_KEY: want a PKCS#8 PEM Ed25519 key or the base64 of a 32-byte seed"},
		{"runs as the owner", map[string]string{"DATABASE_URL": owner, "AUDIT_MIGRATION_DATABASE_URL": owner, "AUDIT_SIGNING_KEY": testSigningKey},
			"which owns the audit tables"},
		{"runs as a superuser", map[string]string{"DATABASE_URL": super, "AUDIT_MIGRATION_DATABASE_URL": owner, "AUDIT_SIGNING_KEY": testSigningKey},
			"a superuser"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			get := func(k string) string { return tc.env[k] }
			var out bytes.Buffer
			err := run(ctx, get, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run = %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(fmt.Sprint(err)+out.String(), testSigningKey) {
				t.Errorf("the signing key appears in the error or log")
			}
		})
	}
}

// TestAppToken: with APP_API_TOKEN set, events still flow through daprd (which sends the
// token), while a direct callback or API call without it, or with a wrong one, is refused
// and stores nothing.
func TestAppToken(t *testing.T) {
	const token = "audit-e2e-app-token"
	s := &stack{pg: testenv.StartPostgres(t)}
	s.owner, s.dsn = s.pg.OwnedDatabase(t, "audit_token")
	s.broker = testenv.StartBroker(t, topicTaskEvents, topicReminders, topicTaskUpdates, "audit-checkpoints")
	s.svc = testenv.RunService(t, run, map[string]string{"DATABASE_URL": s.dsn, "AUDIT_MIGRATION_DATABASE_URL": s.owner,
		"AUDIT_SIGNING_KEY": testSigningKey, "APP_API_TOKEN": token, "AUDIT_CHECKPOINT_TOPIC": ""})
	s.daprd = testenv.StartDaprd(t, testenv.DaprdConfig{AppID: "audit-service", AppPort: s.svc.GRPCPort, Broker: s.broker, AppToken: token})
	for _, topic := range []string{topicTaskEvents, topicReminders, topicTaskUpdates} {
		s.daprd.WaitSubscribed(t, topic)
	}
	base := time.Now().UTC().Truncate(time.Second)
	publishAll(t, s.daprd, []event{makeEvent(0, base), makeEvent(1, base), makeEvent(2, base)}, 1)
	waitRows(t, s.dsn, 3, 30*time.Second)

	conn := s.svc.Conn(t)
	injected := makeEvent(3, base)
	data, err := proto.Marshal(injected.msg)
	if err != nil {
		t.Fatal(err)
	}
	callback := runtimev1.NewAppCallbackClient(conn)
	alpha := runtimev1.NewAppCallbackAlphaClient(conn)
	audit := auditv1.NewAuditServiceClient(conn)
	for _, tc := range []struct{ name, token string }{{"no token", ""}, {"wrong token", "guess"}} {
		ctx := context.Background()
		if tc.token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "dapr-api-token", tc.token)
		}
		calls := map[string]error{}
		_, calls["OnTopicEvent"] = callback.OnTopicEvent(ctx, &runtimev1.TopicEventRequest{Id: injected.msg.GetEventId(), Type: injected.ceType,
			SpecVersion: "1.0", DataContentType: "application/octet-stream", Data: data, Topic: injected.topic, PubsubName: testenv.PubsubName})
		bulk := &runtimev1.TopicEventBulkRequest{Id: "b", Topic: injected.topic, PubsubName: testenv.PubsubName,
			Entries: []*runtimev1.TopicEventBulkRequestEntry{{EntryId: "1", ContentType: "application/octet-stream",
				Event: &runtimev1.TopicEventBulkRequestEntry_Bytes{Bytes: data}}}}
		_, calls["OnBulkTopicEvent"] = callback.OnBulkTopicEvent(ctx, bulk)
		_, calls["OnBulkTopicEventAlpha1"] = alpha.OnBulkTopicEventAlpha1(ctx, bulk) //nolint:staticcheck // daprd still calls the Alpha1 method: it must refuse a caller without the token too
		_, calls["ListEvents"] = audit.ListEvents(ctx, &auditv1.ListEventsRequest{})
		_, calls["VerifyChain"] = audit.VerifyChain(ctx, &auditv1.VerifyChainRequest{})
		for method, err := range calls {
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("%s with %s = %v, want Unauthenticated", method, tc.name, err)
			}
		}
	}
	if n, _ := countRows(t, s.dsn); n != 3 {
		t.Errorf("audit_events has %d rows after the refused injections, want the 3 delivered through daprd", n)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "dapr-api-token", token)
	if resp, err := audit.VerifyChain(ctx, &auditv1.VerifyChainRequest{}); err != nil || !resp.GetOk() || resp.GetRowsChecked() != 3 {
		t.Errorf("VerifyChain with the token = %v, %v, want ok over 3 rows", resp, err)
	}
	if strings.Contains(s.svc.Logs(), token) {
		t.Errorf("the service log contains the app token")
	}
}
