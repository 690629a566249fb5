// Package console is the local stack's web console: one page that shows the events flowing
// through the broker (a live timeline over server-sent events), each event's effects (audit
// row, deliveries, next occurrence), the audit log, a recurrence playground, the dead-letter
// topics with replay, and publish forms. Its static files are embedded; it listens on
// loopback only, next to the stack it shows.
package console

import (
	"context"
	"embed"
	"io/fs"
	"net/http"
	"time"

	"google.golang.org/grpc"

	auditv1 "github.com/taskflow/taskflow-events/gen/taskflow/audit/v1"
	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
	recurrencev1 "github.com/taskflow/taskflow-events/gen/taskflow/recurrence/v1"
	"github.com/taskflow/taskflow-events/internal/wire"
)

//go:embed static
var static embed.FS

// Audit is the part of taskflow.audit.v1.AuditService the console reads.
type Audit interface {
	ListEvents(ctx context.Context, in *auditv1.ListEventsRequest, opts ...grpc.CallOption) (*auditv1.ListEventsResponse, error)
	VerifyChain(ctx context.Context, in *auditv1.VerifyChainRequest, opts ...grpc.CallOption) (*auditv1.VerifyChainResponse, error)
}

// Deliveries is the part of taskflow.notification.v1.NotificationService the console reads.
type Deliveries interface {
	ListDeliveries(ctx context.Context, in *notificationv1.ListDeliveriesRequest, opts ...grpc.CallOption) (*notificationv1.ListDeliveriesResponse, error)
}

// Recurrence previews a rule (taskflow.recurrence.v1.RecurrenceService).
type Recurrence interface {
	Preview(ctx context.Context, in *recurrencev1.PreviewRequest, opts ...grpc.CallOption) (*recurrencev1.PreviewResponse, error)
}

// Publisher publishes an event in our wire format (devstack.Publish through a sidecar).
type Publisher interface {
	Publish(ctx context.Context, topic, ceType, key string, msg wire.Event) error
}

// PublishFunc adapts a function to Publisher.
type PublishFunc func(ctx context.Context, topic, ceType, key string, msg wire.Event) error

// Publish calls f.
func (f PublishFunc) Publish(ctx context.Context, topic, ceType, key string, msg wire.Event) error {
	return f(ctx, topic, ceType, key, msg)
}

// TaskAPI lists the tasks the Task API (double) received from the recurring service.
type TaskAPI interface {
	Created() []*eventsv1.Task
}

// DeadLetters lists the dead-letter topics and replays an entry (the code behind
// `taskflow dlq`).
type DeadLetters interface {
	List(ctx context.Context) ([]DeadLetterTopic, error)
	Replay(ctx context.Context, topic string, partition int32, offset int64) (string, error)
}

// DeadLetterTopic is one dead-letter topic and its entries.
type DeadLetterTopic struct {
	Topic   string            `json:"topic"`
	Entries []DeadLetterEntry `json:"entries"`
}

// DeadLetterEntry is one dead-lettered record.
type DeadLetterEntry struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	ID        string `json:"id"`
	EventID   string `json:"event_id"`
	Type      string `json:"type"`
	Time      string `json:"time"`
	Source    string `json:"source"`
	Reason    string `json:"reason"`
	Valid     bool   `json:"valid"`
}

// Config is what the page needs to know about the stack, and its backends. A nil backend
// is shown as down.
type Config struct {
	// Broker is the Kafka bootstrap address the timeline reads.
	Broker string
	// WebSocketURL, DevUser and DevToken let the page open the dev user's WebSocket.
	WebSocketURL, DevUser, DevToken string
	Audit                           Audit
	Deliveries                      Deliveries
	Recurrence                      Recurrence
	Publisher                       Publisher
	TaskAPI                         TaskAPI
	DeadLetters                     DeadLetters
	// CallTimeout bounds each backend call (default 3s).
	CallTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server is the console: its HTTP handler and the timeline it feeds.
type Server struct {
	cfg      Config
	timeline *timeline
	mux      *http.ServeMux
}

// New returns a console without a timeline feed; Start adds the broker's.
func New(cfg Config) *Server {
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 3 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, timeline: newTimeline(2000), mux: http.NewServeMux()}
	sub, _ := fs.Sub(static, "static")
	s.mux.Handle("GET /", http.FileServerFS(sub))
	s.mux.HandleFunc("GET /api/config", s.handleConfig)
	s.mux.HandleFunc("GET /api/stream", s.handleStream)
	s.mux.HandleFunc("GET /api/events/{seq}", s.handleEvent)
	s.mux.HandleFunc("GET /api/audit", s.handleAudit)
	s.mux.HandleFunc("POST /api/audit/verify", s.handleVerify)
	s.mux.HandleFunc("GET /api/preview", s.handlePreview)
	s.mux.HandleFunc("POST /api/publish", s.handlePublish)
	s.mux.HandleFunc("GET /api/dlq", s.handleDLQ)
	s.mux.HandleFunc("POST /api/dlq/replay", s.handleReplay)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Everything is served from here: nothing on the page may reach out to the network.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws://127.0.0.1:* ws://localhost:*")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) handleConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"websocket_url": s.cfg.WebSocketURL, "dev_user": s.cfg.DevUser,
		"dev_token": s.cfg.DevToken, "broker": s.cfg.Broker})
}

// Run feeds the timeline from the broker until ctx ends.
func (s *Server) Run(ctx context.Context) error { return s.timeline.follow(ctx, s.cfg.Broker) }
