package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/taskflow/taskflow-events/gen/taskflow/audit/v1"
	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
)

// Effect states: found, not (yet) there, or the backend did not answer.
const (
	effectFound   = "found"
	effectPending = "pending"
	effectDown    = "down"
)

// effect is what one backend says about an event.
type effect struct {
	State string            `json:"state"`
	Error string            `json:"error,omitempty"`
	Items []json.RawMessage `json:"items"`
}

// eventDetail is an event with its payload and its effects. An effect that does not apply
// to the event (deliveries of a task event) is absent.
type eventDetail struct {
	Event          *Event  `json:"event"`
	Audit          effect  `json:"audit"`
	Deliveries     *effect `json:"deliveries,omitempty"`
	NextOccurrence *effect `json:"next_occurrence,omitempty"`
}

var errBackendMissing = errors.New("not configured")

func (s *Server) handleEvent(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "seq", "seq: want a number")
		return
	}
	e := s.timeline.get(seq)
	if e == nil {
		writeError(w, http.StatusNotFound, "seq", "no event "+strconv.FormatInt(seq, 10)+" on the timeline")
		return
	}
	d := eventDetail{Event: e, Audit: s.auditEffect(r.Context(), e)}
	switch m := e.msg.(type) {
	case *eventsv1.ReminderEvent:
		d.Deliveries = ptr(s.deliveriesEffect(r.Context(), e.EventID, m.GetUserId()))
	case *eventsv1.TaskEvent:
		if m.GetKind() == eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED && m.GetTask().GetRecurrence().GetRrule() != "" {
			d.NextOccurrence = ptr(s.nextOccurrenceEffect(m.GetTask()))
		}
	}
	writeJSON(w, http.StatusOK, d)
}

func ptr[T any](v T) *T { return &v }

func marshalAll[M proto.Message](ms []M) []json.RawMessage {
	out := []json.RawMessage{}
	for _, m := range ms {
		b, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		out = append(out, b)
	}
	return out
}

func result[M proto.Message](items []M, err error) effect {
	switch {
	case err != nil:
		return effect{State: effectDown, Error: err.Error(), Items: []json.RawMessage{}}
	case len(items) == 0:
		return effect{State: effectPending, Items: []json.RawMessage{}}
	}
	return effect{State: effectFound, Items: marshalAll(items)}
}

// auditEffect finds the event's audit row: ListEvents by its task (or user, for updates),
// newest first, filtered to the event id.
func (s *Server) auditEffect(ctx context.Context, e *Event) effect {
	if s.cfg.Audit == nil {
		return result[*auditv1.AuditEvent](nil, errBackendMissing)
	}
	req := &auditv1.ListEventsRequest{PageSize: 100}
	switch m := e.msg.(type) {
	case *eventsv1.TaskEvent:
		req.TaskId = m.GetTask().GetId()
	case *eventsv1.ReminderEvent:
		req.TaskId = m.GetTaskId()
	case *eventsv1.TaskUpdate:
		req.UserId = m.GetUserId()
	default:
		return effect{State: effectPending, Error: "the payload does not decode: the audit service drops it", Items: []json.RawMessage{}}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	resp, err := s.cfg.Audit.ListEvents(ctx, req)
	var rows []*auditv1.AuditEvent
	for _, a := range resp.GetEvents() {
		if a.GetEventId() == e.EventID {
			rows = append(rows, a)
		}
	}
	return result(rows, err)
}

func (s *Server) deliveriesEffect(ctx context.Context, eventID, userID string) effect {
	if s.cfg.Deliveries == nil {
		return result[*notificationv1.Delivery](nil, errBackendMissing)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	resp, err := s.cfg.Deliveries.ListDeliveries(ctx, &notificationv1.ListDeliveriesRequest{EventId: eventID, UserId: userID, PageSize: 50})
	return result(resp.GetDeliveries(), err)
}

// nextOccurrenceEffect finds the task the recurring service created in the Task API double
// for the completed occurrence: same series, next index.
func (s *Server) nextOccurrenceEffect(t *eventsv1.Task) effect {
	if s.cfg.TaskAPI == nil {
		return result[*eventsv1.Task](nil, errBackendMissing)
	}
	rec := t.GetRecurrence()
	series := cmp.Or(rec.GetSeriesId(), t.GetId())
	var next []*eventsv1.Task
	for _, c := range s.cfg.TaskAPI.Created() {
		if c.GetRecurrence().GetSeriesId() == series && c.GetRecurrence().GetOccurrenceIndex() == rec.GetOccurrenceIndex()+1 {
			next = append(next, c)
		}
	}
	return result(next, nil)
}
