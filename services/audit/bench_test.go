//go:build auditbench

package main

// The throughput benchmark behind `make bench-audit`; not part of `go test ./...`.
// One run on one PostgreSQL, one broker and one daprd build reports:
//   (a) raw COPY of N prepared rows into the audit table,
//   (b) the service's bulk write path (auditlog.Store.Append, 500-event batches) for the same events,
//   (c) events/s end to end: broker -> daprd (bulk) -> audit service -> PostgreSQL,
//   (d) events/s of a no-op bulk subscriber (same runtime, handler does nothing) on the same backlog.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/telemetry"
	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/services/audit/auditsig"
	"github.com/taskflow/taskflow-events/services/audit/internal/auditlog"
)

const benchBatch = 500

func benchEvents(n int, at time.Time) []event {
	out := make([]event, n)
	for i := range n {
		out[i] = makeEvent(i, at.Add(time.Duration(i)*time.Millisecond))
	}
	return out
}

// migratedPool makes a database migrated by its owner role and returns a pool of the
// runtime role (what the service runs as) and that role's DSN.
func migratedPool(t *testing.T, pg *testenv.Postgres, name string) (*pgxpool.Pool, string) {
	t.Helper()
	ctx := context.Background()
	ownerDSN, dsn := pg.OwnedDatabase(t, name)
	owner, err := pgxpool.New(ctx, ownerDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if _, err := auditlog.Migrate(ctx, owner); err != nil {
		t.Fatal(err)
	}
	if err := auditlog.Grant(ctx, owner, name+"_app"); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := benchStore(pool).EnsurePartitions(ctx, time.Now(), 1); err != nil {
		t.Fatal(err)
	}
	return pool, dsn
}

func benchStore(pool *pgxpool.Pool) *auditlog.Store {
	return auditlog.NewStore(pool, time.Now, auditsig.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, ed25519.SeedSize))))
}

// rawCopy copies prepared rows (payload JSON, hashes and all computed beforehand) in
// transactions of batch rows and returns the rows/s.
func rawCopy(t *testing.T, pool *pgxpool.Pool, evs []event, received time.Time, batch int) float64 {
	t.Helper()
	ctx := context.Background()
	rows := make([][]any, len(evs))
	for i, e := range evs {
		rec, err := auditlog.NewRecord(e.topic, e.ceType, "", time.Time{}, received, e.msg)
		if err != nil {
			t.Fatal(err)
		}
		js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(e.msg)
		if err != nil {
			t.Fatal(err)
		}
		h := make([]byte, 32)
		copy(h, fmt.Sprintf("%032d", i))
		rows[i] = []any{int64(i + 1), rec.EventID, rec.Topic, rec.Kind, rec.CEType,
			string(e.msg.ProtoReflect().Descriptor().FullName()), rec.OccurredAt, received, false, rec.ActorID, rec.UserID,
			rec.TaskID, js, rec.TraceID, h, h}
	}
	cols := []string{"seq", "event_id", "topic", "kind", "ce_type", "payload_type", "occurred_at",
		"received_at", "occurred_out_of_window", "actor_id", "user_id", "task_id", "payload", "trace_id", "prev_hash", "hash"}
	start := time.Now()
	for off := 0; off < len(rows); off += batch {
		end := min(off+batch, len(rows))
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"audit_events"}, cols, pgx.CopyFromRows(rows[off:end])); err != nil {
			t.Fatalf("COPY: %v", err)
		}
	}
	return float64(len(rows)) / time.Since(start).Seconds()
}

// storeAppend appends the events in batches of batch events from 4 concurrent callers, as
// concurrent bulk deliveries do, and returns the events/s.
func storeAppend(t *testing.T, pool *pgxpool.Pool, evs []event, batch int) float64 {
	t.Helper()
	s := benchStore(pool)
	batches := make(chan []event)
	var wg sync.WaitGroup
	start := time.Now()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				recs := make([]auditlog.Record, 0, len(b))
				for _, e := range b {
					rec, err := auditlog.NewRecord(e.topic, e.ceType, "", time.Time{}, time.Now(), e.msg)
					if err != nil {
						t.Error(err)
						return
					}
					recs = append(recs, rec)
				}
				if n, err := s.Append(context.Background(), recs); err != nil || n != len(recs) {
					t.Errorf("Append = %d, %v", n, err)
				}
			}
		}()
	}
	for off := 0; off < len(evs); off += batch {
		batches <- evs[off:min(off+batch, len(evs))]
	}
	close(batches)
	wg.Wait()
	return float64(len(evs)) / time.Since(start).Seconds()
}

// publishBacklog bulk-publishes every event (binary protobuf) through a publisher sidecar.
func publishBacklog(t *testing.T, broker *testenv.Broker, evs []event) {
	t.Helper()
	pub := testenv.StartDaprd(t, testenv.DaprdConfig{AppID: "bench-publisher", Broker: broker, Retries: -1})
	c := pub.Client(t)
	type chunk struct {
		topic   string
		entries []any
	}
	byTopic := map[string][]any{}
	for _, e := range evs {
		data, err := proto.Marshal(e.msg)
		if err != nil {
			t.Fatal(err)
		}
		byTopic[e.topic] = append(byTopic[e.topic], dapr.PublishEventsEvent{
			EntryID: e.msg.GetEventId(), Data: data, ContentType: "application/octet-stream",
			// Keyed by event id: production keys by task or user id over many tasks and users,
			// which spreads as evenly; the test stream's 7 users and 50 tasks would not.
			Metadata: map[string]string{"cloudevent.type": e.ceType, "partitionKey": e.msg.GetEventId()},
		})
	}
	ch := make(chan chunk)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ck := range ch {
				if r := c.PublishEvents(context.Background(), testenv.PubsubName, ck.topic, ck.entries); r.Error != nil {
					t.Errorf("PublishEvents: %v (%d failed)", r.Error, len(r.FailedEvents))
				}
			}
		}()
	}
	start := time.Now()
	for topic, entries := range byTopic {
		for off := 0; off < len(entries); off += benchBatch {
			ch <- chunk{topic: topic, entries: entries[off:min(off+benchBatch, len(entries))]}
		}
	}
	close(ch)
	wg.Wait()
	t.Logf("published %d events in %v", len(evs), time.Since(start).Round(time.Millisecond))
	pub.Proc.Stop(5 * time.Second)
}

// noopCounter counts handled events and when the first and the last batch arrived.
type noopCounter struct {
	mu          sync.Mutex
	n           int
	first, last time.Time
	arrivals    []arrival
}

// arrival is k events handled (or stored) at t.
type arrival struct {
	t time.Time
	k int
}

// steadyRate is the events/s between the arrivals that took the count past 10 % and past
// 90 % of n (arrivals in time order): the rate once every partition's consumer has joined
// and before the last stragglers, which the whole-backlog rate mixes in. Group joins of the
// three Components take their own time in each run; (d) drains 50,000 events in under a
// second, so they moved its whole-backlog rate between 38k and 94k/s in one session.
func steadyRate(as []arrival, n int) float64 {
	var t10, t90 time.Time
	var c10, c90, sum int
	for _, a := range as {
		sum += a.k
		if t10.IsZero() && sum >= n/10 {
			t10, c10 = a.t, sum
		}
		if sum >= n*9/10 {
			t90, c90 = a.t, sum
			break
		}
	}
	if !t90.After(t10) {
		return 0
	}
	return float64(c90-c10) / t90.Sub(t10).Seconds()
}

func (c *noopCounter) add(k int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.n == 0 {
		c.first = now
	}
	c.n += k
	c.last = now
	c.arrivals = append(c.arrivals, arrival{now, k})
}

// timeline is the events per 100 ms from the first arrival to the last.
func (c *noopCounter) timeline() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return timeline(c.arrivals)
}

// timeline formats the events per 100 ms slot of arrivals (in time order), first to last,
// empty slots as 0.
func timeline(as []arrival) string {
	if len(as) == 0 {
		return ""
	}
	per := map[int64]int{}
	for _, a := range as {
		per[a.t.UnixMilli()/100] += a.k
	}
	lo, hi := as[0].t.UnixMilli()/100, as[len(as)-1].t.UnixMilli()/100
	var b strings.Builder
	for k := lo; k <= hi; k++ {
		fmt.Fprintf(&b, " %d", per[k])
	}
	return strings.TrimSpace(b.String())
}

func (c *noopCounter) get() (int, time.Time, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.first, c.last
}

func noopHandler[PT daprsub.Message](c *noopCounter) daprsub.BatchHandler[PT] {
	return func(_ context.Context, evs []daprsub.Event[PT]) []error {
		c.add(len(evs))
		return make([]error, len(evs))
	}
}

// noopRun is a service with the audit service's subscriptions whose handlers do nothing.
func noopRun(c *noopCounter) testenv.RunFunc {
	return func(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
		r := envconfig.New(getenv)
		cfg := Config{App: grpcapp.ReadConfig(r)}
		cfg.BulkMaxMessages, cfg.BulkMaxAwait = readBulk(r)
		cfg.TopicPubsubs = readTopicPubsubs(r, cfg.App.PubsubName)
		if err := r.Err(); err != nil {
			return err
		}
		logger, err := telemetry.NewLogger(stdout, cfg.App.LogLevel, "noop", "bench")
		if err != nil {
			return err
		}
		app := grpcapp.New(cfg.App, logger)
		daprsub.HandleBatch(app.Events, subscription(cfg, topicTaskEvents), noopHandler[*eventsv1.TaskEvent](c))
		daprsub.HandleBatch(app.Events, subscription(cfg, topicReminders), noopHandler[*eventsv1.ReminderEvent](c))
		daprsub.HandleBatch(app.Events, subscription(cfg, topicTaskUpdates), noopHandler[*eventsv1.TaskUpdate](c))
		return app.Run(ctx)
	}
}

// storeRounds measures (a), (a2) and (b) rounds times, alternating, each in fresh
// databases, prints every round's ratios and returns the medians.
func storeRounds(t *testing.T, pg *testenv.Postgres, evs []event, received time.Time, rounds, bulk int) (a, a2, b500, b float64) {
	t.Helper()
	var as, a2s, b500s, bs, ratios500, ratios []float64
	for r := range rounds {
		poolA, _ := migratedPool(t, pg, fmt.Sprintf("bench_copy_all_%d", r))
		checkpoint(t, pg)
		cpu := readCPU()
		as = append(as, rawCopy(t, poolA, evs, received, len(evs)))
		cpuA := cpu.perEvent(len(evs))
		poolA2, _ := migratedPool(t, pg, fmt.Sprintf("bench_copy_batches_%d", r))
		checkpoint(t, pg)
		a2s = append(a2s, rawCopy(t, poolA2, evs, received, benchBatch))
		poolB500, _ := migratedPool(t, pg, fmt.Sprintf("bench_append_500_%d", r))
		checkpoint(t, pg)
		cpu = readCPU()
		b500s = append(b500s, storeAppend(t, poolB500, evs, benchBatch))
		cpuB500 := cpu.perEvent(len(evs))
		poolB, _ := migratedPool(t, pg, fmt.Sprintf("bench_append_%d", r))
		checkpoint(t, pg)
		cpu = readCPU()
		bs = append(bs, storeAppend(t, poolB, evs, bulk))
		cpuB := cpu.perEvent(len(evs))
		ratios500, ratios = append(ratios500, b500s[r]/as[r]), append(ratios, bs[r]/as[r])
		line := fmt.Sprintf("round %d: (a) %.0f/s, (a2) %.0f/s, (b500) %.0f/s = %.0f%% of (a), (b) %.0f/s = %.0f%% of (a)\n"+
			"  (a) %s\n  (b500) %s\n  (b) %s\n",
			r+1, as[r], a2s[r], b500s[r], 100*b500s[r]/as[r], bs[r], 100*bs[r]/as[r], cpuA, cpuB500, cpuB)
		t.Log(line)
		fmt.Fprint(os.Stderr, line)
		for _, p := range []*pgxpool.Pool{poolA, poolA2, poolB500, poolB} {
			p.Close()
		}
	}
	slices.Sort(ratios500)
	slices.Sort(ratios)
	line := fmt.Sprintf("over %d rounds: (b500)/(a) median %.0f%% (range %.0f%%–%.0f%%), (b)/(a) median %.0f%% (range %.0f%%–%.0f%%)\n", rounds,
		100*median(ratios500), 100*ratios500[0], 100*ratios500[len(ratios500)-1],
		100*median(ratios), 100*ratios[0], 100*ratios[len(ratios)-1])
	t.Log(line)
	fmt.Fprint(os.Stderr, line)
	return median(as), median(a2s), median(b500s), median(bs)
}

// checkpoint writes every dirty buffer out, so that each measured phase starts from the
// same state and none pays for writing out the pages an earlier one dirtied: without it
// the first phase of the first round (a fresh cluster, every buffer clean) ran up to a
// third faster than the same phase later.
func checkpoint(t *testing.T, pg *testenv.Postgres) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func TestBenchAudit(t *testing.T) {
	n := 50000
	if v, err := strconv.Atoi(os.Getenv("AUDIT_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	pg := testenv.StartPostgres(t)
	evs := benchEvents(n, time.Now().UTC().Add(-time.Hour))
	received := time.Now().UTC().Truncate(time.Microsecond)

	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("AUDIT_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	// (b), (c) and (d) get the same bulk settings: the service's defaults, or
	// AUDIT_BULK_MAX_MESSAGES / AUDIT_BULK_MAX_AWAIT from the benchmark's environment.
	bulkEnv := map[string]string{}
	for _, k := range []string{"AUDIT_BULK_MAX_MESSAGES", "AUDIT_BULK_MAX_AWAIT"} {
		if v := os.Getenv(k); v != "" {
			bulkEnv[k] = v
		}
	}
	bulkCfg, err := readConfig(func(k string) string {
		switch k {
		case "DATABASE_URL":
			return "postgres://unused"
		case "AUDIT_SIGNING_KEY":
			return testSigningKey
		}
		return bulkEnv[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	rateA, rateA2, rateB500, rateB := storeRounds(t, pg, evs, received, rounds, bulkCfg.BulkMaxMessages)
	if os.Getenv("AUDIT_BENCH_STORE_ONLY") != "" {
		return
	}

	broker := testenv.StartBroker(t, topicTaskEvents, topicReminders, topicTaskUpdates)
	publishBacklog(t, broker, evs)

	// (d) the pipe's ceiling: a no-op subscriber drains the backlog.
	counter := &noopCounter{}
	// (c) and (d) subscribe each topic on its own Component, as deployed.
	pubsubEnv, pubsubs := perTopicPubsubs()
	noopEnv := maps.Clone(bulkEnv)
	maps.Copy(noopEnv, pubsubEnv)
	noop := testenv.RunService(t, noopRun(counter), noopEnv)
	noopd := testenv.StartDaprd(t, testenv.DaprdConfig{AppID: "bench-noop", AppPort: noop.GRPCPort, Broker: broker, AppHealthCheck: true, ExtraPubsubs: pubsubs})
	k0, _, _ := counter.get()
	cpuD := readPipeCPU(noopd.Proc.Pid(), k0)
	testenv.WaitFor(t, 5*time.Minute, "no-op subscriber drains the backlog", func() bool {
		k, _, _ := counter.get()
		return k >= n
	})
	k, first, last := counter.get()
	rateD := float64(k) / last.Sub(first).Seconds()
	counter.mu.Lock()
	steadyD := steadyRate(counter.arrivals, n)
	counter.mu.Unlock()
	t.Logf("(d) daprd: %s", scrapeBulkStats(t, noopd.Config.MetricsPort).describe(last.Sub(first)))
	t.Logf("(d) %s", cpuD.perEvent(n))
	t.Logf("(d) events per 100 ms: %s", counter.timeline())
	noopd.Proc.Stop(5 * time.Second)
	if err := noop.Stop(); err != nil {
		t.Errorf("no-op service: %v", err)
	}

	// (c) the audit service drains the same backlog into PostgreSQL.
	_, dsnC := migratedPool(t, pg, "bench_e2e")
	svcEnv := map[string]string{"DATABASE_URL": dsnC, "AUDIT_SIGNING_KEY": testSigningKey, "AUDIT_CHECKPOINT_TOPIC": ""}
	maps.Copy(svcEnv, noopEnv)
	svc := testenv.RunService(t, run, svcEnv)
	if f := os.Getenv("AUDIT_BENCH_CPUPROFILE"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			t.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); out.Close() }()
	}
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	sampler := &pgSampler{}
	go sampler.run(sampleCtx, dsnC, "bench_e2e")
	auditd := testenv.StartDaprd(t, testenv.DaprdConfig{AppID: "audit-service", AppPort: svc.GRPCPort, Broker: broker, AppHealthCheck: true, ExtraPubsubs: pubsubs})
	// Done when the newest seq (dense, from 1 in this database) reaches n, read on one
	// connection: a count(*), count(DISTINCT event_id) on a new connection every 50 ms cost
	// PostgreSQL more CPU per event than the write path itself (47.6 µs per event in all).
	// The rate comes from received_at, not from when this notices.
	conn, err := pgx.Connect(context.Background(), dsnC)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	stored := func() int64 {
		var last int64
		if err := conn.QueryRow(context.Background(), "SELECT last_seq FROM audit_state").Scan(&last); err != nil {
			return -1
		}
		return last
	}
	cpuC := readPipeCPU(auditd.Proc.Pid(), int(max(stored(), 0)))
	testenv.WaitFor(t, 5*time.Minute, "audit service stores the backlog", func() bool { return stored() >= int64(n) })
	stopSampling()
	t.Logf("(c) %s", cpuC.perEvent(n))
	// Each bulk delivery's rows share its received_at.
	var storedAt []arrival
	rs, err := conn.Query(context.Background(), "SELECT received_at, count(*) FROM audit_events GROUP BY 1 ORDER BY 1")
	if err == nil {
		var at time.Time
		var cnt int
		_, err = pgx.ForEachRow(rs, []any{&at, &cnt}, func() error { storedAt = append(storedAt, arrival{at, cnt}); return nil })
	}
	if err != nil || len(storedAt) == 0 {
		t.Fatalf("read the stored events' receive times: %v", err)
	}
	secs := storedAt[len(storedAt)-1].t.Sub(storedAt[0].t).Seconds()
	rateC := float64(n) / secs
	steadyC := steadyRate(storedAt, n)
	batches := len(storedAt)
	t.Logf("(c) daprd: %s", scrapeBulkStats(t, auditd.Config.MetricsPort).describe(time.Duration(secs*float64(time.Second))))
	t.Logf("(c) PostgreSQL: %s", sampler)
	t.Logf("(c) events stored per 100 ms: %s", timeline(storedAt))
	t.Logf("(c): %d bulk deliveries, %.0f events each; %d event_failed log lines", batches, float64(n)/float64(batches),
		strings.Count(svc.Logs(), `"event_failed"`))

	table := fmt.Sprintf(`
audit throughput, %d events (TaskEvent/ReminderEvent/TaskUpdate mix), bulk %d msgs / %v for (b), (c) and (d), %d partitions per topic;
(a)-(b) medians of %d rounds
| path                                                   | events/s | ratio          |
|--------------------------------------------------------|---------:|----------------|
| (a)  raw COPY of N prepared rows, one COPY              | %8.0f | 100%%           |
| (a2) raw COPY of N prepared rows, 500-row COPYs         | %8.0f | %3.0f%% of (a)    |
| (b500) Store.Append, 500-event batches, 4 callers      | %8.0f | %3.0f%% of (a)    |
| (b)  Store.Append, bulk-size batches, 4 callers        | %8.0f | %3.0f%% of (a)    |
| (d)  no-op bulk subscriber via daprd + broker           | %8.0f | 100%%           |
| (c)  audit service end to end via daprd + broker + PG   | %8.0f | %3.0f%% of (d)    |
| (d)  steady: from 10 %% to 90 %% of the backlog            | %8.0f | 100%%           |
| (c)  steady: from 10 %% to 90 %% of the backlog            | %8.0f | %3.0f%% of (d)    |
`, n, bulkCfg.BulkMaxMessages, bulkCfg.BulkMaxAwait, testenv.DefaultPartitions, rounds, rateA, rateA2, 100*rateA2/rateA, rateB500, 100*rateB500/rateA, rateB, 100*rateB/rateA, rateD, rateC, 100*rateC/rateD, steadyD, steadyC, 100*steadyC/max(steadyD, 1))
	t.Log(table)
	fmt.Fprint(os.Stderr, table)
}
