package daprsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	commonv1 "github.com/dapr/dapr/pkg/proto/common/v1"
	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Status names used in logs and metrics.
const (
	StatusSuccess = "success"
	StatusRetry   = "retry"
	StatusDrop    = "drop"
)

// Recorder receives one observation per handled event (telemetry.Metrics implements it).
type Recorder interface {
	ObserveEvent(topic, status string, d time.Duration)
}

// HealthFunc answers daprd's app health check: nil means healthy.
type HealthFunc func(ctx context.Context) error

// Server implements the AppCallback services for a set of typed subscriptions.
type Server struct {
	runtimev1.UnimplementedAppCallbackServer
	runtimev1.UnimplementedAppCallbackAlphaServer
	runtimev1.UnimplementedAppCallbackHealthCheckServer

	logger   *slog.Logger
	recorder Recorder
	health   HealthFunc
	now      func() time.Time

	mu       sync.RWMutex
	routes   map[routeKey]*route
	order    []*route
	inflight sync.WaitGroup
}

var (
	_ runtimev1.AppCallbackServer            = (*Server)(nil)
	_ runtimev1.AppCallbackAlphaServer       = (*Server)(nil)
	_ runtimev1.AppCallbackHealthCheckServer = (*Server)(nil)
)

type routeKey struct{ pubsub, topic string }

// Options configure a Server; the zero value is usable.
type Options struct {
	// Recorder gets one observation per event; nil records nothing.
	Recorder Recorder
	// Health answers daprd's app health check; nil is always healthy.
	Health HealthFunc
	// Now is the clock used for latency; nil means time.Now.
	Now func() time.Time
}

// NewServer returns a Server with no subscriptions.
func NewServer(logger *slog.Logger, opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Server{
		logger: logger, recorder: opts.Recorder, health: opts.Health, now: opts.Now,
		routes: make(map[routeKey]*route),
	}
}

// Register adds the subscriptions and callback services to a gRPC server.
func (s *Server) Register(g *grpc.Server) {
	runtimev1.RegisterAppCallbackServer(g, s)
	runtimev1.RegisterAppCallbackAlphaServer(g, s)
	runtimev1.RegisterAppCallbackHealthCheckServer(g, s)
}

// Wait blocks until every event being handled has been answered, or ctx ends.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for in-flight events: %w", ctx.Err())
	}
}

func (s *Server) add(r *route) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := routeKey{r.sub.PubsubName, r.sub.Topic}
	if _, dup := s.routes[k]; dup {
		panic(fmt.Sprintf("daprsub: topic %s/%s registered twice", k.pubsub, k.topic))
	}
	s.routes[k] = r
	s.order = append(s.order, r)
}

func (s *Server) lookup(pubsub, topic string) *route {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.routes[routeKey{pubsub, topic}]
}

// ListTopicSubscriptions tells daprd what to subscribe to.
func (s *Server) ListTopicSubscriptions(context.Context, *emptypb.Empty) (*runtimev1.ListTopicSubscriptionsResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := &runtimev1.ListTopicSubscriptionsResponse{}
	for _, r := range s.order {
		out.Subscriptions = append(out.Subscriptions, r.sub.proto())
	}
	return out, nil
}

// OnTopicEvent handles one event.
func (s *Server) OnTopicEvent(ctx context.Context, req *runtimev1.TopicEventRequest) (*runtimev1.TopicEventResponse, error) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	start := s.now()
	meta := Meta{
		ID: req.GetId(), Type: req.GetType(), Source: req.GetSource(), SpecVersion: req.GetSpecVersion(),
		ContentType: req.GetDataContentType(), PubsubName: req.GetPubsubName(), Topic: req.GetTopic(), Path: req.GetPath(),
	}
	meta.setExtensions(req.GetExtensions())
	meta.setKafka(incomingGetter(ctx))

	r := s.lookup(meta.PubsubName, meta.Topic)
	if r == nil {
		err := fmt.Errorf("%w: no subscription for %s/%s", ErrInvalidEvent, meta.PubsubName, meta.Topic)
		s.finish(ctx, meta, "", err, start)
		return &runtimev1.TopicEventResponse{Status: runtimev1.TopicEventResponse_DROP}, nil
	}
	st := r.handleOne(ctx, s, meta, req.GetData())
	return &runtimev1.TopicEventResponse{Status: st}, nil
}

// HealthCheck answers daprd's app health probe. While it fails, daprd stops delivering
// events to this app and resumes once it passes again.
func (s *Server) HealthCheck(ctx context.Context, _ *emptypb.Empty) (*runtimev1.HealthCheckResponse, error) {
	if s.health != nil {
		if err := s.health(ctx); err != nil {
			return nil, status.Errorf(codes.Unavailable, "unhealthy: %v", err)
		}
	}
	return &runtimev1.HealthCheckResponse{}, nil
}

// OnInvoke answers service invocation of methods this app does not serve.
func (s *Server) OnInvoke(_ context.Context, req *commonv1.InvokeRequest) (*commonv1.InvokeResponse, error) {
	return nil, status.Errorf(codes.Unimplemented, "method %q is not served over AppCallback.OnInvoke; call the gRPC API directly", req.GetMethod())
}

// ListInputBindings reports that the app uses no input bindings.
func (s *Server) ListInputBindings(context.Context, *emptypb.Empty) (*runtimev1.ListInputBindingsResponse, error) {
	return &runtimev1.ListInputBindingsResponse{}, nil
}

// OnBindingEvent rejects binding events: none are configured.
func (s *Server) OnBindingEvent(_ context.Context, req *runtimev1.BindingEventRequest) (*runtimev1.BindingEventResponse, error) {
	return nil, status.Errorf(codes.Unimplemented, "no input binding %q", req.GetName())
}

func statusName(st runtimev1.TopicEventResponse_TopicEventResponseStatus) string {
	switch st {
	case runtimev1.TopicEventResponse_DROP:
		return StatusDrop
	case runtimev1.TopicEventResponse_RETRY:
		return StatusRetry
	default:
		return StatusSuccess
	}
}

// outcome maps a handler or decode error to a status.
func outcome(err error) runtimev1.TopicEventResponse_TopicEventResponseStatus {
	switch {
	case err == nil:
		return runtimev1.TopicEventResponse_SUCCESS
	case errors.Is(err, ErrInvalidEvent), IsPermanent(err):
		return runtimev1.TopicEventResponse_DROP
	default:
		return runtimev1.TopicEventResponse_RETRY
	}
}

// finish logs and records one event's outcome and returns its status.
func (s *Server) finish(ctx context.Context, m Meta, eventID string, err error, start time.Time) runtimev1.TopicEventResponse_TopicEventResponseStatus {
	st := outcome(err)
	name := statusName(st)
	if s.recorder != nil {
		s.recorder.ObserveEvent(m.Topic, name, s.now().Sub(start))
	}
	switch st {
	case runtimev1.TopicEventResponse_SUCCESS:
		if s.logger.Enabled(ctx, slog.LevelDebug) {
			s.logger.DebugContext(ctx, "event_handled", "event_id", eventID, "topic", m.Topic, "trace_id", m.TraceID,
				"status", name, "cloudevent_id", m.ID, "type", m.Type)
		}
	case runtimev1.TopicEventResponse_RETRY:
		s.logger.WarnContext(ctx, "event_failed", "event_id", eventID, "topic", m.Topic, "trace_id", m.TraceID,
			"status", name, "cloudevent_id", m.ID, "type", m.Type, "error", err.Error())
	default:
		s.logger.ErrorContext(ctx, "event_dropped", "event_id", eventID, "topic", m.Topic, "trace_id", m.TraceID,
			"status", name, "cloudevent_id", m.ID, "type", m.Type, "content_type", m.ContentType,
			"partition", m.Partition, "offset", m.Offset, "error", err.Error())
	}
	return st
}

// errPanic wraps a recovered handler panic; it is answered RETRY.
type errPanic struct {
	value any
	stack []byte
}

func (e *errPanic) Error() string { return fmt.Sprintf("handler panic: %v", e.value) }

// call runs fn, turning a panic into an error.
func call(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &errPanic{value: v, stack: debug.Stack()}
		}
	}()
	return fn()
}
