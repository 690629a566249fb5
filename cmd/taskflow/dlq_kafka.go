package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Reading dead-letter topics over the Kafka protocol (franz-go).

// kafkaClient connects to the brokers with the optional TLS and SASL settings.
func kafkaClient(f dlqFlags) (*kgo.Client, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(splitList(f.brokers)...), kgo.FetchMaxWait(time.Second)}
	if f.tls {
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	pass := os.Getenv("KAFKA_SASL_PASSWORD")
	switch strings.ToUpper(f.saslMech) {
	case "":
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: f.saslUser, Pass: pass}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: f.saslUser, Pass: pass}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: f.saslUser, Pass: pass}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("%w: --sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", errUsage, f.saslMech)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %s: %w", f.brokers, err)
	}
	return cl, nil
}

// listTopics returns the topics on the broker.
func listTopics(ctx context.Context, cl *kgo.Client) (map[string]bool, error) {
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	out := map[string]bool{}
	for _, t := range resp.Topics {
		if t.Topic != nil && t.ErrorCode == 0 {
			out[*t.Topic] = true
		}
	}
	return out, nil
}

// partitionRanges returns [start, end) offsets per partition of topic; none when the
// topic does not exist (daprd creates a dead-letter topic on its first entry).
func partitionRanges(ctx context.Context, cl *kgo.Client, topic string) (map[int32][2]int64, error) {
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	out := map[int32][2]int64{}
	for _, t := range mresp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); errors.Is(err, kerr.UnknownTopicOrPartition) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("metadata of %s: %w", topic, err)
		}
		for _, p := range t.Partitions {
			out[p.Partition] = [2]int64{}
		}
	}
	for i, ts := range []int64{-2, -1} { // earliest, latest
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for p := range out {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p, ts
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, fmt.Errorf("offsets of %s: %w", topic, err)
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("offsets of %s partition %d: %w", topic, p.Partition, err)
				}
				r := out[p.Partition]
				r[i] = p.Offset
				out[p.Partition] = r
			}
		}
	}
	return out, nil
}

// readTopic reads every record topic holds now, ordered by partition and offset.
func readTopic(ctx context.Context, cl *kgo.Client, topic string) ([]*kgo.Record, error) {
	ranges, err := partitionRanges(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	from := map[int32]kgo.Offset{}
	for p, r := range ranges {
		if r[1] > r[0] {
			from[p] = kgo.NewOffset().At(r[0])
		}
	}
	if len(from) == 0 {
		return nil, nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: from})
	defer cl.RemoveConsumePartitions(map[string][]int32{topic: slices.Collect(maps.Keys(from))})
	var out []*kgo.Record
	for len(from) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("read %s: %d partition(s) not read to the end: %w", topic, len(from), ctx.Err())
		}
		if err := fs.Err0(); err != nil {
			return nil, fmt.Errorf("read %s: %w", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end := ranges[r.Partition][1]
			if r.Offset < end {
				out = append(out, r)
			}
			if r.Offset >= end-1 {
				delete(from, r.Partition)
			}
		})
	}
	slices.SortFunc(out, func(a, b *kgo.Record) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	return out, nil
}
