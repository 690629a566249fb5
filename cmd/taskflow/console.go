package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	auditv1 "github.com/taskflow/taskflow-events/gen/taskflow/audit/v1"
	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
	recurrencev1 "github.com/taskflow/taskflow-events/gen/taskflow/recurrence/v1"
	"github.com/taskflow/taskflow-events/internal/console"
	"github.com/taskflow/taskflow-events/internal/devstack"
	"github.com/taskflow/taskflow-events/internal/localrun"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// newConsole builds the local console for a running stack (devstack.Config.Console): the
// services' APIs as `taskflow audit` / `next` call them (with the stack's APP_API_TOKEN as
// dapr-api-token when set), publishing as `taskflow publish`, dead letters as `taskflow dlq`.
func newConsole(s *devstack.Stack) (devstack.Console, error) {
	info := s.Info
	dial := func(target string) (*grpc.ClientConn, error) {
		opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
		if token := s.APIToken(); token != "" {
			opts = append(opts, grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				return invoker(metadata.AppendToOutgoingContext(ctx, "dapr-api-token", token), method, req, reply, cc, opts...)
			}))
		}
		return grpc.NewClient(target, opts...)
	}
	// grpc.NewClient connects lazily: a service that is down fails its calls, which the
	// page shows as down. The connections close when the console's feed ends (Stop).
	audit, err := dial(info.Services["audit"].GRPC)
	if err != nil {
		return nil, err
	}
	notification, err := dial(info.Services["notification"].GRPC)
	if err != nil {
		return nil, err
	}
	recurrence, err := dial(info.Services["recurring-task"].GRPC)
	if err != nil {
		return nil, err
	}
	srv := console.New(console.Config{
		Broker: info.Broker, WebSocketURL: info.WebSocketURL, DevUser: info.DevUser, DevToken: info.DevToken,
		Audit:      auditv1.NewAuditServiceClient(audit),
		Deliveries: notificationv1.NewNotificationServiceClient(notification),
		Recurrence: recurrencev1.NewRecurrenceServiceClient(recurrence),
		Publisher: console.PublishFunc(func(ctx context.Context, topic, ceType, key string, msg wire.Event) error {
			return devstack.Publish(ctx, info.TaskAPI.DaprHTTP, topic, ceType, key, msg)
		}),
		TaskAPI:     s.TaskAPI,
		DeadLetters: consoleDLQ{info: info},
	})
	return closingConsole{srv, []*grpc.ClientConn{audit, notification, recurrence}}, nil
}

// closingConsole closes the console's connections once its feed ends.
type closingConsole struct {
	*console.Server
	conns []*grpc.ClientConn
}

func (c closingConsole) Run(ctx context.Context) error {
	defer func() {
		for _, conn := range c.conns {
			conn.Close()
		}
	}()
	return c.Server.Run(ctx)
}

// consoleDLQ is the console's dead-letter panel on the code behind `taskflow dlq`.
type consoleDLQ struct{ info devstack.Info }

var _ console.DeadLetters = consoleDLQ{}

func (d consoleDLQ) List(ctx context.Context) ([]console.DeadLetterTopic, error) {
	cl, err := kafkaClient(dlqFlags{brokers: d.info.Broker})
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	onBroker, err := listTopics(ctx, cl)
	if err != nil {
		return nil, err
	}
	out := []console.DeadLetterTopic{}
	for _, t := range dlqTopics {
		dt := console.DeadLetterTopic{Topic: t, Entries: []console.DeadLetterEntry{}}
		if onBroker[t] {
			entries, err := d.read(ctx, cl, t)
			if err != nil {
				return nil, err
			}
			_, service, _ := splitDLQ(t)
			logs := serviceLogs(&d.info, service)
			for _, e := range entries {
				dt.Entries = append(dt.Entries, console.DeadLetterEntry{Partition: e.partition, Offset: e.offset, ID: e.ce.ID,
					EventID: e.eventID(), Type: e.ce.Type, Time: e.ce.Time, Source: e.source(), Reason: dropReason(logs, e), Valid: e.msg != nil})
			}
		}
		out = append(out, dt)
	}
	return out, nil
}

// read reads a dead-letter topic's entries as `taskflow dlq list` does.
func (d consoleDLQ) read(ctx context.Context, cl *kgo.Client, topic string) ([]dlqEntry, error) {
	origin, _, err := splitDLQ(topic)
	if err != nil {
		return nil, err
	}
	recs, err := readTopic(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	entries := make([]dlqEntry, len(recs))
	for i, r := range recs {
		entries[i] = parseEntry(r, wireTopics[origin])
	}
	return entries, nil
}

// Replay republishes one entry as `taskflow dlq replay --topic T --offset P:O` does.
func (d consoleDLQ) Replay(ctx context.Context, topic string, partition int32, offset int64) (string, error) {
	origin, _, err := splitDLQ(topic)
	if err != nil {
		return "", console.BadEntry(err)
	}
	f := dlqFlags{cmd: "replay", brokers: d.info.Broker, topic: topic, pubsub: localrun.PubsubName,
		offsets: []string{fmt.Sprintf("%d:%d", partition, offset)}}
	cl, err := kafkaClient(f)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	entries, err := d.read(ctx, cl, topic)
	if err != nil {
		return "", err
	}
	sel, err := selectEntries(entries, nil, f.offsets, topic)
	if err != nil {
		return "", console.BadEntry(err)
	}
	if sel[0].msg == nil {
		// dlqReplay would refuse it too; said here so the page blames the entry, not a backend.
		return "", console.BadEntry(fmt.Errorf("entry %d:%d is not a valid event (fix it with taskflow dlq replay --edit): %w", partition, offset, sel[0].err))
	}
	var out bytes.Buffer
	info := d.info
	if err := dlqReplay(ctx, f, &info, origin, entries, &out); err != nil {
		return "", err
	}
	return strings.TrimSpace(out.String()), nil
}
