package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/envconfig"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/testenv"
	"github.com/taskflow/taskflow-events/internal/wire"
	"github.com/taskflow/taskflow-events/services/notification/internal/webhook"
)

// Benchmark sizes: reminders per measurement.
const (
	benchNoop   = 30000
	benchInApp  = 20000
	benchAllThr = 3000
)

// produceReminders writes n reminders to topic straight into the broker, as the
// CloudEvents daprd itself would write (binary protobuf in data_base64), keyed by task.
func produceReminders(b *testing.B, cl *kgo.Client, topic, prefix string, n int, email, webhookURL string) {
	due := time.Now().Add(time.Hour)
	for i := range n {
		ev := reminder(fmt.Sprintf("%s-%d", prefix, i), due, email, webhookURL)
		data, _ := proto.Marshal(ev)
		ce, err := json.Marshal(map[string]any{
			"specversion": "1.0", "id": ev.GetEventId(), "source": "bench", "type": "taskflow.reminder.due.v1",
			"datacontenttype": "application/octet-stream", "data_base64": data,
			"pubsubname": testenv.PubsubName, "topic": topic,
		})
		if err != nil {
			b.Errorf("encode CloudEvent: %v", err)
			return
		}
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Key: []byte(ev.GetTaskId()), Value: ce}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Errorf("flush: %v", err)
	}
}

// measure produces n reminders and returns reminders/s from the first produce to the last
// effect, as done reports them: how many are handled and when the newest was. It polls
// every 200 ms and takes the end time from the effects themselves, so the polling neither
// loads the machine it measures (a count every 20 ms over the ledger cost PostgreSQL CPU the
// service needs) nor rounds the span up to the next poll.
func measure(b *testing.B, cl *kgo.Client, topic, prefix string, n int, email, webhookURL string, done func() (int, time.Time)) float64 {
	b.Helper()
	start := time.Now()
	go produceReminders(b, cl, topic, prefix, n, email, webhookURL)
	deadline := start.Add(5 * time.Minute)
	for {
		k, last := done()
		if k >= n {
			return float64(n) / last.Sub(start).Seconds()
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: only %d of %d reminders handled after 5 minutes", prefix, k, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// BenchmarkEndToEnd measures reminders/s through daprd for a no-op subscriber (the pipe's
// ceiling), the notification service with in-app only, and with all three channels
// against local receivers. Run it with -benchtime=1x (make bench-notification).
func BenchmarkEndToEnd(b *testing.B) {
	s := startStack(b, map[string]string{"LOG_LEVEL": "warn"})
	// Every benchmark reminder has its own user; /bench verifies each with that user's key.
	s.hook.trustEveryUser(webhook.NewKeyring(s.webhookK, nil))
	cl := s.broker.Client(b, kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100000))
	pool, err := pgxpool.New(context.Background(), s.pg.DSN)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	delivered := func(prefix string, channels int) func() (int, time.Time) {
		return func() (int, time.Time) {
			var n int
			var last *time.Time
			err := pool.QueryRow(context.Background(),
				`SELECT count(*), max(delivered_at) FROM notification_deliveries WHERE event_id LIKE $1 AND status = 'delivered'`, prefix+"-%").Scan(&n, &last)
			if err != nil || last == nil {
				return 0, time.Time{}
			}
			return n / channels, *last
		}
	}

	// The no-op subscriber: same runtime, same daprd build and broker, the service's bulk
	// subscription (wire's defaults, which the service uses), handler does nothing.
	// Events handled, and when the newest was: under one lock, so a poll never sees the count
	// of a batch with the time of an earlier one.
	var noopMu sync.Mutex
	var noopN int
	var noopLast time.Time
	noopSvc := testenv.RunService(b, func(ctx context.Context, getenv func(string) string, _ io.Writer) error {
		app := grpcapp.New(grpcapp.ReadConfig(envconfig.New(getenv)), slog.New(slog.DiscardHandler))
		daprsub.HandleBatch(app.Events, daprsub.Subscription{PubsubName: testenv.PubsubName, Topic: "reminders-noop", DeadLetterTopic: "reminders-noop-dlq",
			Bulk: &daprsub.Bulk{MaxMessages: wire.NotificationBulkMaxMessages, MaxAwait: wire.NotificationBulkMaxAwait}},
			func(_ context.Context, evs []daprsub.Event[*eventsv1.ReminderEvent]) []error {
				noopMu.Lock()
				noopN += len(evs)
				noopLast = time.Now()
				noopMu.Unlock()
				return make([]error, len(evs))
			})
		return app.Run(ctx)
	}, nil)
	noopDaprd := testenv.StartDaprd(b, testenv.DaprdConfig{AppID: "noop-bench", AppPort: noopSvc.GRPCPort, Broker: s.broker})
	noopDaprd.WaitSubscribed(b, "reminders-noop")

	var noopRate, inAppRate, allRate float64
	round := 0
	for b.Loop() {
		round++
		p := "r" + strconv.Itoa(round)
		noopMu.Lock()
		base := noopN
		noopMu.Unlock()
		noopRate = measure(b, cl, "reminders-noop", p+"-noop", benchNoop, "", "", func() (int, time.Time) {
			noopMu.Lock()
			defer noopMu.Unlock()
			return noopN - base, noopLast
		})
		inAppRate = measure(b, cl, Topic, p+"-inapp", benchInApp, "", "", delivered(p+"-inapp", 1))
		allRate = measure(b, cl, Topic, p+"-all", benchAllThr, "bench@example.com", s.hook.URL("/bench"), delivered(p+"-all", 3))
	}
	b.ReportMetric(noopRate, "noop-events/s")
	b.ReportMetric(inAppRate, "inapp-reminders/s")
	b.ReportMetric(allRate, "all3-reminders/s")
	b.ReportMetric(inAppRate/noopRate, "inapp/noop")
	b.ReportMetric(allRate/noopRate, "all3/noop")
}
