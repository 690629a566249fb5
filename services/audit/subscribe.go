package main

import (
	"context"
	"time"

	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/wire"
	"github.com/taskflow/taskflow-events/services/audit/internal/auditlog"
)

// Topics the audit service subscribes to, each with its own dead-letter topic.
const (
	topicTaskEvents  = wire.TopicTaskEvents
	topicReminders   = wire.TopicReminders
	topicTaskUpdates = wire.TopicTaskUpdates
)

// appender is what the subscription needs of the log.
type appender interface {
	Append(ctx context.Context, recs []auditlog.Record) (int, error)
}

// batchHandler turns a bulk delivery into one Append: invalid events are dropped, the
// rest succeed or are retried together.
func batchHandler[PT daprsub.Message](topic string, log appender, now func() time.Time) daprsub.BatchHandler[PT] {
	return func(ctx context.Context, evs []daprsub.Event[PT]) []error {
		errs := make([]error, len(evs))
		recs := make([]auditlog.Record, 0, len(evs))
		idx := make([]int, 0, len(evs))
		received := now()
		for i, ev := range evs {
			// A task event whose kind is unset or disagrees with its CloudEvent type is
			// dropped with that reason, as by every consumer of task events.
			if err := daprsub.CheckTaskEvent(ev.Meta.Type, ev.Msg); err != nil {
				errs[i] = daprsub.Permanent(err)
				continue
			}
			rec, err := auditlog.NewRecord(topic, ev.Meta.Type, ev.Meta.TraceID, ev.Meta.Time, received, ev.Msg)
			if err != nil {
				errs[i] = daprsub.Permanent(err)
				continue
			}
			recs = append(recs, rec)
			idx = append(idx, i)
		}
		if _, err := log.Append(ctx, recs); err != nil {
			for _, i := range idx {
				errs[i] = err
			}
		}
		return errs
	}
}

// subscription is the subscription of topic with its dead-letter topic and bulk delivery.
func subscription(cfg Config, topic string) daprsub.Subscription {
	pubsub := cfg.TopicPubsubs[topic]
	if pubsub == "" {
		pubsub = cfg.App.PubsubName
	}
	return daprsub.Subscription{
		PubsubName:      pubsub,
		Topic:           topic,
		DeadLetterTopic: wire.DeadLetter(topic, wire.SubscriberAudit),
		Bulk:            &daprsub.Bulk{MaxMessages: int32(cfg.BulkMaxMessages), MaxAwait: cfg.BulkMaxAwait},
	}
}
