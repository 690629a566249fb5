package console

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/taskflow/taskflow-events/gen/taskflow/audit/v1"
	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
	recurrencev1 "github.com/taskflow/taskflow-events/gen/taskflow/recurrence/v1"
	"github.com/taskflow/taskflow-events/internal/wire"
)

type fakeAudit struct {
	events  []*auditv1.AuditEvent
	verify  []*auditv1.VerifyChainResponse // one per page
	err     error
	lastReq *auditv1.ListEventsRequest
}

func (f *fakeAudit) ListEvents(_ context.Context, in *auditv1.ListEventsRequest, _ ...grpc.CallOption) (*auditv1.ListEventsResponse, error) {
	f.lastReq = in
	if f.err != nil {
		return nil, f.err
	}
	return &auditv1.ListEventsResponse{Events: f.events}, nil
}

func (f *fakeAudit) VerifyChain(_ context.Context, in *auditv1.VerifyChainRequest, _ ...grpc.CallOption) (*auditv1.VerifyChainResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	for _, r := range f.verify {
		if r.GetFirstSeq() == in.GetFromSeq() {
			return r, nil
		}
	}
	return &auditv1.VerifyChainResponse{Ok: true}, nil
}

type fakeDeliveries struct {
	deliveries []*notificationv1.Delivery
	err        error
}

func (f fakeDeliveries) ListDeliveries(_ context.Context, in *notificationv1.ListDeliveriesRequest, _ ...grpc.CallOption) (*notificationv1.ListDeliveriesResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []*notificationv1.Delivery
	for _, d := range f.deliveries {
		if d.GetEventId() == in.GetEventId() {
			out = append(out, d)
		}
	}
	return &notificationv1.ListDeliveriesResponse{Deliveries: out}, nil
}

type fakeRecurrence struct {
	resp *recurrencev1.PreviewResponse
	err  error
}

func (f fakeRecurrence) Preview(context.Context, *recurrencev1.PreviewRequest, ...grpc.CallOption) (*recurrencev1.PreviewResponse, error) {
	return f.resp, f.err
}

type sent struct {
	topic, ceType, key string
	msg                wire.Event
}

type fakePublisher struct {
	mu   sync.Mutex
	sent []sent
	err  error
}

func (f *fakePublisher) Publish(_ context.Context, topic, ceType, key string, msg wire.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, sent{topic, ceType, key, msg})
	return nil
}

type fakeTaskAPI []*eventsv1.Task

func (f fakeTaskAPI) Created() []*eventsv1.Task { return f }

type fakeDLQ struct {
	topics []DeadLetterTopic
	result string
	err    error
}

func (f fakeDLQ) List(context.Context) ([]DeadLetterTopic, error) { return f.topics, f.err }

func (f fakeDLQ) Replay(context.Context, string, int32, int64) (string, error) {
	return f.result, f.err
}

// record is what daprd writes to the broker for msg: a structured CloudEvent with the
// binary payload in data_base64.
func record(topic string, partition int32, offset int64, key, ceType string, msg wire.Event) *kgo.Record {
	data, _ := proto.Marshal(msg)
	v, _ := json.Marshal(map[string]any{"id": msg.GetEventId(), "type": ceType, "specversion": "1.0", "source": "task-api",
		"datacontenttype": "application/octet-stream", "data_base64": data, "topic": topic})
	return &kgo.Record{Topic: topic, Partition: partition, Offset: offset, Key: []byte(key), Value: v}
}
