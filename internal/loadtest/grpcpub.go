package loadtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/taskflow/taskflow-events/internal/daprpub"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// PubsubName is the stack's pub/sub component.
const PubsubName = "taskflow-pubsub"

// grpcPub publishes over daprd's gRPC API (go-sdk), round-robin over one connection per
// sidecar address.
type grpcPub struct {
	clients []dapr.Client
	pubs    []*daprpub.Publisher
	conns   []*grpc.ClientConn
	next    atomic.Uint64
}

// NewGRPCPublisher returns a Publisher that publishes over the gRPC API of the daprd at
// each address (host:port), spreading publishes round-robin over them. Connections are
// made lazily; Close releases them.
func NewGRPCPublisher(addrs ...string) (*Publisher, error) {
	if len(addrs) == 0 {
		return nil, errors.New("a gRPC publisher needs at least one daprd address")
	}
	g := &grpcPub{}
	for _, a := range addrs {
		conn, err := grpc.NewClient(a, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			g.close()
			return nil, fmt.Errorf("daprd gRPC %s: %w", a, err)
		}
		g.conns = append(g.conns, conn)
		c := dapr.NewClientWithConnection(conn)
		g.clients = append(g.clients, c)
		g.pubs = append(g.pubs, daprpub.New(c, PubsubName))
	}
	return &Publisher{grpc: g}, nil
}

func (g *grpcPub) close() {
	for _, c := range g.conns {
		_ = c.Close()
	}
}

func (g *grpcPub) client() dapr.Client {
	return g.clients[(g.next.Add(1)-1)%uint64(len(g.clients))]
}

// metadata is the per-event publish metadata: CloudEvent type and id, partition key.
func (ev Event) metadata() map[string]string { return wire.Metadata(ev.CEType, ev.ID, ev.Key) }

func (g *grpcPub) publish(ctx context.Context, ev Event) error {
	if err := g.client().PublishEvent(ctx, PubsubName, ev.Kind.Topic(), ev.Data,
		dapr.PublishEventWithContentType(wire.ContentType), dapr.PublishEventWithMetadata(ev.metadata())); err != nil {
		return fmt.Errorf("publish %s %s: %w", ev.Kind, ev.ID, err)
	}
	return nil
}

// publishBatch sends evs, all of one topic, with one bulk publish (daprpub: the stable
// method, or the alpha one on daprd 1.16),
// each entry with its own content type and metadata as publish sends them.
func (g *grpcPub) publishBatch(ctx context.Context, topic string, evs []Event) error {
	entries := make([]any, len(evs))
	for i, ev := range evs {
		entries[i] = dapr.PublishEventsEvent{EntryID: strconv.Itoa(i), Data: ev.Data, ContentType: wire.ContentType, Metadata: ev.metadata()}
	}
	resp := g.pubs[(g.next.Add(1)-1)%uint64(len(g.pubs))].PublishEvents(ctx, topic, entries)
	if resp.Error != nil {
		return fmt.Errorf("bulk publish %d events to %s: %d failed: %w", len(evs), topic, len(resp.FailedEvents), resp.Error)
	}
	return nil
}
