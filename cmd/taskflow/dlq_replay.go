package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/taskflow/taskflow-events/internal/daprconn"
	"github.com/taskflow/taskflow-events/internal/daprpub"
	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/devstack"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// dlqReplay republishes the chosen entries to the original topic through daprd in our wire
// format, each event_id once. A chosen entry that is not a valid event refuses the whole
// replay before anything is published.
func dlqReplay(ctx context.Context, f dlqFlags, info *devstack.Info, topic string, entries []dlqEntry, stdout io.Writer) error {
	sel := entries
	if !f.all {
		var err error
		if sel, err = selectEntries(entries, f.ids, f.offsets, f.topic); err != nil {
			return err
		}
	}
	seen, uniq := map[string]dlqEntry{}, sel[:0:0]
	for _, e := range sel {
		if first, ok := seen[e.eventID()]; ok && e.eventID() != "" {
			fmt.Fprintf(stdout, "skipping %d:%d: same event_id %s as %d:%d\n", e.partition, e.offset, e.eventID(), first.partition, first.offset)
			continue
		}
		seen[e.eventID()] = e
		uniq = append(uniq, e)
	}
	if f.edit != "" {
		if len(uniq) != 1 {
			return fmt.Errorf("%w: --edit replaces one entry's payload; %d chosen", errUsage, len(uniq))
		}
		msg, err := editedEvent(f.edit, wireTopics[topic], uniq[0])
		if err != nil {
			return err
		}
		uniq[0].msg, uniq[0].err = msg, nil
	}
	var refused []error
	for _, e := range uniq {
		if e.msg == nil {
			refused = append(refused, fmt.Errorf("entry %d:%d (id %s): %w", e.partition, e.offset, e.ce.ID, e.err))
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("replay refused, nothing published (fix the payload with --edit): %w", errors.Join(refused...))
	}
	target := f.dapr
	if target == "" {
		target = info.TaskAPI.DaprGRPC
	}
	client, err := daprconn.New(daprconn.Config{Target: target, APIToken: os.Getenv("DAPR_API_TOKEN")})
	if err != nil {
		return err
	}
	defer client.Close()
	for _, e := range uniq {
		key := cmp.Or(wireTopics[topic].Key(e.msg), e.key)
		pub := daprpub.New(sameCloudEventID{Client: client, id: e.ce.ID}, f.pubsub)
		if err := pub.Publish(ctx, topic, e.ce.Type, key, e.msg); err != nil {
			return fmt.Errorf("replay %d:%d: %w", e.partition, e.offset, err)
		}
		fmt.Fprintf(stdout, "replayed %d:%d to %s through %s: id=%s type=%s event_id=%s key=%s\n",
			e.partition, e.offset, topic, target, e.ce.ID, e.ce.Type, e.msg.GetEventId(), key)
	}
	return nil
}

// editedEvent reads the corrected event for --edit (protojson of the topic's type, unknown
// fields refused so a typo is not silently dropped) and insists on the original event_id:
// consumers deduplicate on it, so a new one would be a new event, not a replay.
func editedEvent(path string, wt wire.Topic, e dlqEntry) (wire.Event, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	msg := wt.New()
	if err := protojson.Unmarshal(b, msg); err != nil {
		return nil, fmt.Errorf("--edit %s: parse as %s: %w", path, msg.ProtoReflect().Descriptor().FullName(), err)
	}
	if got, want := msg.GetEventId(), e.eventID(); got != want {
		return nil, fmt.Errorf("--edit %s: event_id %q, want the entry's %q (consumers deduplicate on it)", path, got, want)
	}
	bin, err := proto.Marshal(msg)
	if err == nil {
		err = daprsub.Decode(wire.ContentType, bin, wt.New())
	}
	if err != nil {
		return nil, fmt.Errorf("--edit %s: %w", path, err)
	}
	return msg, nil
}

// sameCloudEventID republishes under the entry's CloudEvent id. daprpub sets it to the
// event_id, as the wire format asks; an entry whose producer left the id to daprd keeps the
// id it was dead-lettered with, so traces and logs still find it.
type sameCloudEventID struct {
	daprpub.Client
	id string
}

func (c sameCloudEventID) PublishEvent(ctx context.Context, pubsub, topic string, data any, opts ...dapr.PublishEventOption) error {
	if c.id != "" {
		opts = append(opts, func(r *runtimev1.PublishEventRequest) { r.Metadata[wire.MetaID] = c.id })
	}
	return c.Client.PublishEvent(ctx, pubsub, topic, data, opts...)
}
