// Package daprpub publishes protobuf events through the Dapr sidecar in the wire format
// the consumers expect: binary protobuf as application/octet-stream, with the CloudEvent
// type, the CloudEvent id (= event_id) and the Kafka partition key set as metadata.
package daprpub

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/taskflow/taskflow-events/internal/wire"
)

// Client is the part of the go-sdk client the publisher uses.
type Client interface {
	PublishEvent(ctx context.Context, pubsubName, topicName string, data interface{}, opts ...dapr.PublishEventOption) error
	PublishEvents(ctx context.Context, pubsubName, topicName string, events []interface{}, opts ...dapr.PublishEventsOption) dapr.PublishEventsResponse
}

// Publisher publishes to one pub/sub component.
type Publisher struct {
	client Client
	pubsub string
	// raw reaches daprd's bulk alpha method where the go-sdk cannot (daprd 1.16, batch.go);
	// nil when the client does not expose its connection (tests).
	raw       runtimev1.DaprClient
	alphaOnly atomic.Bool
}

// New returns a Publisher over a go-sdk client.
func New(client Client, pubsubName string) *Publisher {
	p := &Publisher{client: client, pubsub: pubsubName}
	if cc, ok := client.(interface{ GrpcClientConn() *grpc.ClientConn }); ok {
		p.raw = runtimev1.NewDaprClient(cc.GrpcClientConn())
	}
	return p
}

// Publish sends msg to topic with CloudEvent type ceType, keyed by key (same key, same partition).
func (p *Publisher) Publish(ctx context.Context, topic, ceType, key string, msg wire.Event) error {
	data, err := marshal(msg)
	if err != nil {
		return err
	}
	md := metadata(ceType, key, msg)
	if err := p.client.PublishEvent(ctx, p.pubsub, topic, data,
		dapr.PublishEventWithContentType(wire.ContentType), dapr.PublishEventWithMetadata(md)); err != nil {
		return fmt.Errorf("publish %s to %s: %w", ceType, topic, err)
	}
	return nil
}

// ErrMarshal marks an event that could not be encoded; publishing it again cannot succeed.
var ErrMarshal = errors.New("marshal")

func marshal(msg wire.Event) ([]byte, error) {
	data, err := proto.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrMarshal, msg.ProtoReflect().Descriptor().FullName(), err)
	}
	return data, nil
}

// metadata is the per-event metadata daprd turns into the CloudEvent type and id and the
// Kafka record key.
func metadata(ceType, key string, msg wire.Event) map[string]string {
	return wire.Metadata(ceType, msg.GetEventId(), key)
}
