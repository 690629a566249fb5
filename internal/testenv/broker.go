package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Broker is an embedded Kafka-protocol broker (franz-go's kfake) on a free loopback port.
type Broker struct {
	// Addr is host:port for the brokers list of a pubsub.kafka component.
	Addr    string
	cluster *kfake.Cluster
}

// DefaultPartitions is how many partitions StartBroker gives a topic: a non-bulk
// subscriber handles one event at a time per partition.
const DefaultPartitions = 8

// StartBroker starts a broker with the topics created with DefaultPartitions partitions;
// other topics (dead-letter topics, say) are created on first use.
func StartBroker(t testing.TB, topics ...string) *Broker {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(DefaultPartitions)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(DefaultPartitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("testenv: start kafka broker: %v", err)
	}
	t.Cleanup(c.Close)
	return &Broker{Addr: c.ListenAddrs()[0], cluster: c}
}

// Client returns a franz-go client connected to the broker, closed with the test.
func (b *Broker) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr)}, opts...)...)
	if err != nil {
		t.Fatalf("testenv: kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Consume reads topic from the beginning until it has n records or timeout passes, and
// returns what it read (possibly fewer than n: the caller asserts).
func (b *Broker) Consume(t testing.TB, topic string, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl := b.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// Produce writes raw records to topic, bypassing Dapr (for poison messages that are not
// even CloudEvents).
func (b *Broker) Produce(t testing.TB, topic string, key, value []byte) {
	t.Helper()
	cl := b.Client(t)
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Key: key, Value: value}).FirstErr(); err != nil {
		t.Fatalf("testenv: produce to %s: %v", topic, err)
	}
}
