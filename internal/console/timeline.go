package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// topicPattern matches the topics the timeline shows, wire.EventTopics, and their
// <topic>-<service>-dlq dead-letter topics, which carry the same messages.
var topicPattern = `^(` + strings.Join(wire.EventTopicNames(), "|") + `)(-[a-z0-9-]+-dlq)?$`

// originTopic returns the topic whose messages a (dead-letter) topic holds.
func originTopic(topic string) (origin string, deadLetter bool) {
	if _, ok := wire.LookupTopic(topic); ok {
		return topic, false
	}
	if t, _, ok := wire.SplitDeadLetter(topic); ok {
		return t, true
	}
	return topic, false
}

// Event is one record of the timeline.
type Event struct {
	Seq          int64           `json:"seq"`
	Topic        string          `json:"topic"`
	DeadLetter   bool            `json:"dead_letter"`
	Partition    int32           `json:"partition"`
	Offset       int64           `json:"offset"`
	Key          string          `json:"key"`
	Type         string          `json:"type"`
	EventID      string          `json:"event_id"`
	CloudEventID string          `json:"cloudevent_id"`
	Time         time.Time       `json:"time"`
	Payload      json.RawMessage `json:"payload,omitempty"`
	PayloadError string          `json:"payload_error,omitempty"`

	msg wire.Event // nil when PayloadError is set
}

// summary is the event without its payload, as the stream sends it.
func (e *Event) summary() Event {
	c := *e
	c.Payload, c.msg = nil, nil
	return c
}

// parseRecord decodes a broker record into a timeline event.
func parseRecord(r *kgo.Record) *Event {
	origin, dlq := originTopic(r.Topic)
	e := &Event{Topic: r.Topic, DeadLetter: dlq, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Time: r.Timestamp}
	ce, err := daprsub.ParseCloudEvent(r.Value)
	if err != nil {
		e.PayloadError = "the record is not a CloudEvent"
		return e
	}
	e.Type, e.CloudEventID, e.EventID = ce.Type, ce.ID, ce.ID
	payload, err := ce.Payload()
	if err != nil {
		e.PayloadError = err.Error()
		return e
	}
	wt, ok := wire.LookupTopic(origin)
	if !ok {
		e.PayloadError = "unknown topic " + r.Topic
		return e
	}
	msg := wt.New()
	if err := daprsub.Decode(ce.DataContentType, payload, msg); err != nil {
		e.PayloadError = err.Error()
		return e
	}
	e.msg, e.EventID = msg, msg.GetEventId()
	e.Payload, _ = protojson.MarshalOptions{UseProtoNames: true}.Marshal(msg)
	return e
}

// streamMsg is one server-sent event: "event" (an Event summary) or "status".
type streamMsg struct {
	name string
	data any
}

// timeline keeps the last max events and fans new ones out to the page's streams.
type timeline struct {
	mu     sync.Mutex
	max    int
	events []*Event
	seq    int64
	status string
	subs   map[chan streamMsg]struct{}
}

func newTimeline(capacity int) *timeline {
	return &timeline{max: capacity, status: "connecting", subs: map[chan streamMsg]struct{}{}}
}

func (t *timeline) add(e *Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	e.Seq = t.seq
	t.events = append(t.events, e)
	if len(t.events) > t.max {
		t.events = t.events[len(t.events)-t.max:]
	}
	t.broadcast(streamMsg{"event", e.summary()})
}

func (t *timeline) setStatus(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s == t.status {
		return
	}
	t.status = s
	t.broadcast(streamMsg{"status", map[string]string{"broker": s}})
}

// broadcast sends m to every stream; a stream too slow to keep up is closed (the browser's
// EventSource reconnects and gets the whole backlog again). Called with mu held.
func (t *timeline) broadcast(m streamMsg) {
	for ch := range t.subs {
		select {
		case ch <- m:
		default:
			delete(t.subs, ch)
			close(ch)
		}
	}
}

// subscribe returns the backlog and the status, and a channel of what comes next.
func (t *timeline) subscribe() ([]Event, string, chan streamMsg) {
	t.mu.Lock()
	defer t.mu.Unlock()
	backlog := make([]Event, len(t.events))
	for i, e := range t.events {
		backlog[i] = e.summary()
	}
	ch := make(chan streamMsg, 512)
	t.subs[ch] = struct{}{}
	return backlog, t.status, ch
}

func (t *timeline) unsubscribe(ch chan streamMsg) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.subs[ch]; ok {
		delete(t.subs, ch)
		close(ch)
	}
}

func (t *timeline) get(seq int64) *Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.events {
		if e.Seq == seq {
			return e
		}
	}
	return nil
}

// follow reads every partition of the timeline's topics from the start (direct partition
// reads, no consumer group: the console commits nothing and sees the whole history of the
// stack's in-memory broker) and pings the broker so the page can show it down. It returns
// when ctx ends.
func (t *timeline) follow(ctx context.Context, broker string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeRegex(), kgo.ConsumeTopics(topicPattern),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond),
		// Dead-letter topics appear on their first entry: look for them often.
		kgo.MetadataMinAge(250*time.Millisecond), kgo.MetadataMaxAge(time.Second))
	if err != nil {
		t.setStatus(fmt.Sprintf("down: %v", err))
		return fmt.Errorf("kafka client for %s: %w", broker, err)
	}
	defer cl.Close()
	go func() {
		for {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := cl.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				t.setStatus(fmt.Sprintf("down: %v", err))
			} else {
				t.setStatus("up")
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
	}()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachRecord(func(r *kgo.Record) { t.add(parseRecord(r)) })
	}
}

// handleStream sends the backlog, then every new event, as server-sent events.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	backlog, status, ch := s.timeline.subscribe()
	defer s.timeline.unsubscribe(ch)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	send := func(name string, v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	}
	send("status", map[string]string{"broker": status})
	for _, e := range backlog {
		send("event", e)
	}
	fl.Flush()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			send(m.name, m.data)
			fl.Flush()
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		}
	}
}
