package daprsub

import (
	"context"
	"errors"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
)

// Subscription describes one topic subscription as daprd should configure it.
type Subscription struct {
	PubsubName string
	Topic      string
	// DeadLetterTopic receives every DROPped event (and events that exhaust retries).
	DeadLetterTopic string
	// Rules route events by CEL over CloudEvent attributes, e.g. `event.type == "x"`.
	// Beware: daprd (1.14 to 1.17.5, TestDaprdRuntimeBehaviour) sends an event that matches
	// no rule and has no Default to the dead-letter topic, so a filtering subscription also
	// sets Default and acks there.
	Rules   []Rule
	Default string
	// Bulk, when set, turns on bulk delivery with per-entry statuses.
	Bulk *Bulk
	// Metadata is passed to the pub/sub component (e.g. "consumerID" for a consumer group).
	Metadata map[string]string
	// Timeout bounds the handling of one event (or one bulk batch); zero means 30s.
	Timeout time.Duration
}

// Rule routes events whose CloudEvent matches Match to Path.
type Rule struct {
	Match string
	Path  string
}

// Bulk configures bulk delivery.
type Bulk struct {
	MaxMessages int32
	MaxAwait    time.Duration
}

func (s Subscription) proto() *runtimev1.TopicSubscription {
	p := &runtimev1.TopicSubscription{
		PubsubName: s.PubsubName, Topic: s.Topic, Metadata: s.Metadata, DeadLetterTopic: s.DeadLetterTopic,
	}
	if len(s.Rules) > 0 || s.Default != "" {
		p.Routes = &runtimev1.TopicRoutes{Default: s.Default}
		for _, r := range s.Rules {
			p.Routes.Rules = append(p.Routes.Rules, &runtimev1.TopicRule{Match: r.Match, Path: r.Path})
		}
	}
	if s.Bulk != nil {
		p.BulkSubscribe = &runtimev1.BulkSubscribeConfig{
			Enabled: true, MaxMessagesCount: s.Bulk.MaxMessages, MaxAwaitDurationMs: int32(s.Bulk.MaxAwait / time.Millisecond),
		}
		// pubsub.kafka reads these from the subscription metadata as well.
		if p.Metadata == nil {
			p.Metadata = map[string]string{}
		}
		// daprd's bulk gRPC delivery loses binary (data_base64) payloads (1.14 to 1.17.5,
		// TestDaprdRuntimeBehaviour): take the raw records and unwrap the CloudEvent
		// envelope ourselves (cloudevent.go).
		p.Metadata["rawPayload"] = "true"
		p.Metadata["maxBulkSubCount"] = strconv.Itoa(int(s.Bulk.MaxMessages))
		p.Metadata["maxBulkSubAwaitDurationMs"] = strconv.Itoa(int(s.Bulk.MaxAwait / time.Millisecond))
	}
	return p
}

// Event is one decoded event with its delivery metadata.
type Event[T Message] struct {
	Meta Meta
	Msg  T
}

// Handler handles one event. Return nil when done, Permanent(err) when the event can
// never succeed (it is dropped to the dead-letter topic), any other error to be retried.
type Handler[T Message] func(ctx context.Context, meta Meta, msg T) error

// BatchHandler handles a batch of valid events and returns one error per event
// (nil, Permanent or transient, as for Handler). Returning a shorter slice is a bug
// and answers RETRY for the missing entries.
type BatchHandler[T Message] func(ctx context.Context, events []Event[T]) []error

type route struct {
	sub    Subscription
	decode func(m Meta, data []byte) (Message, error)
	handle func(ctx context.Context, metas []Meta, msgs []Message) []error
	// one is the allocation-free path for single deliveries to a per-event Handler.
	one     func(ctx context.Context, m Meta, msg Message) error
	timeout time.Duration
}

// Handle subscribes h to sub. PT is the pointer type of the event message (e.g. *eventsv1.TaskEvent).
func Handle[T any, PT interface {
	*T
	Message
}](s *Server, sub Subscription, h Handler[PT]) {
	one := recovering(h)
	r := newRoute[T, PT](sub, func(ctx context.Context, metas []Meta, msgs []Message) []error {
		errs := make([]error, len(msgs))
		for i := range msgs {
			errs[i] = one(ctx, metas[i], msgs[i])
		}
		return errs
	})
	r.one = one
	s.add(r)
}

// HandleEach subscribes h to sub, which should ask for bulk delivery: the events of a bulk
// request are handled each on its own, at most n at a time, and each gets its own status
// (a panic answers RETRY for its event only and is logged with its stack). It suits
// handlers whose time goes into a round trip per event that is safe to run in parallel.
func HandleEach[T any, PT interface {
	*T
	Message
}](s *Server, sub Subscription, n int, h Handler[PT]) {
	if n < 1 {
		n = 1
	}
	one := recovering(h)
	r := newRoute[T, PT](sub, func(ctx context.Context, metas []Meta, msgs []Message) []error {
		errs := make([]error, len(msgs))
		slots := make(chan struct{}, n)
		var wg sync.WaitGroup
		for i := range msgs {
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				errs[i] = one(ctx, metas[i], msgs[i])
			}()
		}
		wg.Wait()
		return errs
	})
	r.one = one
	s.add(r)
}

// recovering wraps h for the route: the message's dynamic type is PT, and a panic is
// returned as an error that carries its stack.
func recovering[PT Message](h Handler[PT]) func(ctx context.Context, m Meta, msg Message) error {
	return func(ctx context.Context, m Meta, msg Message) (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = &errPanic{value: v, stack: debug.Stack()}
			}
		}()
		return h(ctx, m, msg.(PT))
	}
}

// HandleBatch subscribes a batch handler to sub: with bulk delivery it receives all valid
// entries of a bulk request at once; single deliveries arrive as batches of one.
func HandleBatch[T any, PT interface {
	*T
	Message
}](s *Server, sub Subscription, h BatchHandler[PT]) {
	s.add(newRoute[T, PT](sub, func(ctx context.Context, metas []Meta, msgs []Message) []error {
		evs := make([]Event[PT], len(msgs))
		for i := range msgs {
			evs[i] = Event[PT]{Meta: metas[i], Msg: msgs[i].(PT)}
		}
		var errs []error
		if err := call(func() error { errs = h(ctx, evs); return nil }); err != nil {
			errs = make([]error, len(msgs))
			for i := range errs {
				errs[i] = err
			}
		}
		return errs
	}))
}

func newRoute[T any, PT interface {
	*T
	Message
}](sub Subscription, handle func(context.Context, []Meta, []Message) []error) *route {
	timeout := sub.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &route{
		sub: sub, handle: handle, timeout: timeout,
		decode: func(m Meta, data []byte) (Message, error) {
			msg := PT(new(T))
			return msg, Decode(m.ContentType, data, msg)
		},
	}
}

var errMissingStatus = errors.New("batch handler returned no status for this event")

func (r *route) handleOne(ctx context.Context, s *Server, m Meta, data []byte) runtimev1.TopicEventResponse_TopicEventResponseStatus {
	start := s.now()
	msg, err := r.decode(m, data)
	if err != nil {
		return s.finish(ctx, m, msg.GetEventId(), err, start)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if r.one != nil {
		err = r.one(ctx, m, msg)
	} else if errs := r.handle(ctx, []Meta{m}, []Message{msg}); len(errs) > 0 {
		err = errs[0]
	} else {
		err = errMissingStatus
	}
	r.logPanic(ctx, s, m, msg, err)
	return s.finish(ctx, m, msg.GetEventId(), err, start)
}

func (r *route) handleBatch(ctx context.Context, s *Server, metas []Meta, datas [][]byte, envelopeErrs []indexedErr) []runtimev1.TopicEventResponse_TopicEventResponseStatus {
	start := s.now()
	out := make([]runtimev1.TopicEventResponse_TopicEventResponseStatus, len(metas))
	skip := make(map[int]bool, len(envelopeErrs))
	for _, e := range envelopeErrs {
		skip[e.i] = true
		out[e.i] = s.finish(ctx, metas[e.i], "", e.err, start)
	}
	validIdx := make([]int, 0, len(metas))
	validMeta := make([]Meta, 0, len(metas))
	validMsg := make([]Message, 0, len(metas))
	for i := range metas {
		if skip[i] {
			continue
		}
		msg, err := r.decode(metas[i], datas[i])
		if err != nil {
			out[i] = s.finish(ctx, metas[i], msg.GetEventId(), err, start)
			continue
		}
		validIdx = append(validIdx, i)
		validMeta = append(validMeta, metas[i])
		validMsg = append(validMsg, msg)
	}
	if len(validMsg) == 0 {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	errs := r.handle(ctx, validMeta, validMsg)
	for j, i := range validIdx {
		err := errMissingStatus
		if j < len(errs) {
			err = errs[j]
		}
		r.logPanic(ctx, s, metas[i], validMsg[j], err)
		out[i] = s.finish(ctx, metas[i], validMsg[j].GetEventId(), err, start)
	}
	return out
}

func (r *route) logPanic(ctx context.Context, s *Server, m Meta, msg Message, err error) {
	var p *errPanic
	if errors.As(err, &p) {
		s.logger.ErrorContext(ctx, "handler_panic", "event_id", msg.GetEventId(), "topic", m.Topic,
			"trace_id", m.TraceID, "panic", p.Error(), "stack", string(p.stack))
	}
}
