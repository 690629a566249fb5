package daprsub

import (
	"context"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"
)

// Meta is what the runtime knows about a delivered event besides its payload.
type Meta struct {
	// CloudEvent attributes.
	ID, Type, Source, SpecVersion, ContentType string
	// Time is the CloudEvent time, zero when absent.
	Time time.Time
	// PubsubName and Topic the event arrived on; Path is the matched route.
	PubsubName, Topic, Path string
	// TraceParent is the W3C traceparent of the event; TraceID is its trace-id part.
	TraceParent, TraceID string
	// Kafka record key, partition and offset (Partition and Offset are -1 when unknown).
	Key       string
	Partition int32
	Offset    int64
}

// traceIDOf returns the trace-id field of a W3C traceparent ("00-<trace-id>-<span-id>-<flags>").
// An all-zero trace id (what daprd sends when tracing is off) counts as none.
func traceIDOf(traceparent string) string {
	if len(traceparent) >= 36 && traceparent[2] == '-' && traceparent[35] == '-' {
		if id := traceparent[3:35]; id != "00000000000000000000000000000000" {
			return id
		}
	}
	return ""
}

func (m *Meta) setExtensions(ext *structpb.Struct) {
	if ext == nil {
		return
	}
	f := ext.GetFields()
	if v := f["traceparent"].GetStringValue(); v != "" {
		m.TraceParent = v
	} else if v := f["traceid"].GetStringValue(); v != "" {
		m.TraceParent = v
	}
	m.TraceID = traceIDOf(m.TraceParent)
	if v := f["time"].GetStringValue(); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			m.Time = t
		}
	}
}

// setKafka reads the Kafka record coordinates from string metadata: daprd sends them as
// gRPC metadata on OnTopicEvent and as entry metadata on bulk deliveries.
func (m *Meta) setKafka(get func(string) string) {
	m.Key = get("__key")
	m.Partition, m.Offset = -1, -1
	if v := get("__partition"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			m.Partition = int32(n)
		}
	}
	if v := get("__offset"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			m.Offset = n
		}
	}
	if m.TraceParent == "" {
		m.TraceParent = get("traceparent")
		m.TraceID = traceIDOf(m.TraceParent)
	}
}

func incomingGetter(ctx context.Context) func(string) string {
	return func(k string) string {
		if v := metadata.ValueFromIncomingContext(ctx, k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
}

func mapGetter(m map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := m[k]; ok {
			return v
		}
		// Header names may arrive in another case.
		for mk, v := range m {
			if strings.EqualFold(mk, k) {
				return v
			}
		}
		return ""
	}
}
