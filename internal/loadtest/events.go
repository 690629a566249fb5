// Package loadtest publishes TaskFlow events through daprd and observes their effects in
// every service: the audit log, the Task API double, the notification ledger and the SMTP
// catcher, WebSocket frames. The fault tests (internal/faulttest) and the load tool
// (`taskflow load`, `make bench`, `make soak`) are built on it.
package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// Kind is the kind of a published event.
type Kind int

// The kinds: a recurring task completed (task-events), a reminder with in-app and e-mail
// delivery (reminders), a task change for the WebSocket (task-updates).
const (
	Completion Kind = iota
	Reminder
	Update
)

// Kinds lists every kind.
var Kinds = []Kind{Completion, Reminder, Update}

func (k Kind) String() string {
	return [...]string{"completion", "reminder", "update"}[k]
}

// Topic is the topic events of k are published to.
func (k Kind) Topic() string {
	return [...]string{wire.TopicTaskEvents, wire.TopicReminders, wire.TopicTaskUpdates}[k]
}

// Event is one publish: its payload and what it is expected to cause.
type Event struct {
	Kind   Kind
	CEType string
	Key    string
	// ID is the event_id (for a malformed event, the CloudEvent id: it has no event_id).
	ID   string
	Data []byte
	// Malformed events are not protobuf: every subscriber must dead-letter them.
	Malformed bool
	// TaskID is the task the event is about; SeriesID the recurrence series (completions);
	// Title the reminder's title (the e-mail subject contains it).
	TaskID, SeriesID, Title string
	// InAppOnly: a reminder without an e-mail target (Gen.Email empty).
	InAppOnly bool
}

// NewID returns a random UUID (version 4).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Gen makes events for one user; every event has fresh ids so its effects can be counted.
type Gen struct {
	User string
	// Email is the reminders' e-mail target; empty sends them in-app only.
	Email string
	Now   func() time.Time
}

// Next returns a well-formed event of kind k.
func (g Gen) Next(k Kind) Event {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	t := now().UTC().Truncate(time.Second)
	taskID, id := NewID(), NewID()
	ev := Event{Kind: k, ID: id, TaskID: taskID, Key: taskID}
	var msg proto.Message
	switch k {
	case Completion:
		series := NewID()
		due := t.Add(-time.Hour)
		task := &eventsv1.Task{Id: taskID, UserId: g.User, Title: "load " + taskID, Status: eventsv1.TaskStatus_TASK_STATUS_COMPLETED,
			Priority: eventsv1.TaskPriority_TASK_PRIORITY_MEDIUM, DueAt: timestamppb.New(due), TimeZone: "Europe/Berlin",
			CreatedAt: timestamppb.New(due.Add(-time.Hour)), UpdatedAt: timestamppb.New(t), CompletedAt: timestamppb.New(t),
			Recurrence: &eventsv1.Recurrence{Rrule: "FREQ=DAILY", SeriesId: series, Dtstart: timestamppb.New(due)}}
		msg = &eventsv1.TaskEvent{EventId: id, Kind: eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED, OccurredAt: timestamppb.New(t),
			ActorId: g.User, Task: task}
		ev.CEType, ev.SeriesID = wire.TypeTaskCompleted, series
	case Reminder:
		ev.Title = "Reminder " + taskID
		msg = &eventsv1.ReminderEvent{EventId: id, ReminderId: NewID(), TaskId: taskID, UserId: g.User, Title: ev.Title,
			DueAt: timestamppb.New(t.Add(30 * time.Minute)), RemindAt: timestamppb.New(t), TimeZone: "Europe/Berlin",
			Targets: &eventsv1.DeliveryTargets{Email: g.Email}}
		ev.CEType, ev.InAppOnly = wire.TypeReminderDue, g.Email == ""
	case Update:
		task := &eventsv1.Task{Id: taskID, UserId: g.User, Title: "update " + taskID, Status: eventsv1.TaskStatus_TASK_STATUS_OPEN,
			Priority: eventsv1.TaskPriority_TASK_PRIORITY_LOW, CreatedAt: timestamppb.New(t), UpdatedAt: timestamppb.New(t)}
		msg = &eventsv1.TaskUpdate{EventId: id, UserId: g.User, OccurredAt: timestamppb.New(t),
			Update: &eventsv1.TaskUpdate_TaskChange{TaskChange: &eventsv1.TaskChange{Kind: eventsv1.TaskEventKind_TASK_EVENT_KIND_UPDATED, Task: task}}}
		ev.CEType, ev.Key = wire.TypeUpdateTask, g.User
	}
	data, err := proto.Marshal(msg)
	if err != nil {
		panic(err) // a message built above always marshals
	}
	ev.Data = data
	return ev
}

// Malformed returns an event of kind k whose payload is not protobuf.
func (g Gen) Malformed(k Kind) Event {
	ev := g.Next(k)
	ev.Malformed = true
	ev.Data = []byte("\xff\xff\xff\xffnot a protobuf message " + ev.ID)
	return ev
}

// Publisher publishes through daprd: over its HTTP API (NewPublisher) or over the gRPC API
// of one or more sidecars (NewGRPCPublisher).
type Publisher struct {
	DaprHTTP string
	Client   *http.Client
	grpc     *grpcPub
}

// NewPublisher returns a Publisher over one daprd's HTTP API with a connection pool sized
// for concurrent publishing.
func NewPublisher(daprHTTP string) *Publisher {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &Publisher{DaprHTTP: daprHTTP, Client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Close releases the publisher's gRPC connections.
func (p *Publisher) Close() {
	if p.grpc != nil {
		p.grpc.close()
	}
}

// PublishBatch publishes evs: over gRPC with one bulk publish per topic (concurrently),
// over HTTP one by one. On error some of evs may have been published.
func (p *Publisher) PublishBatch(ctx context.Context, evs []Event) error {
	if p.grpc == nil {
		for _, ev := range evs {
			if err := p.Publish(ctx, ev); err != nil {
				return err
			}
		}
		return nil
	}
	var byTopic [3][]Event
	for _, ev := range evs {
		byTopic[ev.Kind] = append(byTopic[ev.Kind], ev)
	}
	errs := make([]error, len(byTopic))
	var wg sync.WaitGroup
	for k, group := range byTopic {
		if len(group) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = p.grpc.publishBatch(ctx, Kind(k).Topic(), group)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Publish sends ev as binary protobuf (application/octet-stream) with its CloudEvent type
// and id and its partition key, as the Task API does.
func (p *Publisher) Publish(ctx context.Context, ev Event) error {
	if p.grpc != nil {
		return p.grpc.publish(ctx, ev)
	}
	u := fmt.Sprintf("%s/v1.0/publish/taskflow-pubsub/%s?%s", p.DaprHTTP, ev.Kind.Topic(), wire.MetadataQuery(ev.metadata()))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(ev.Data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", wire.ContentType)
	resp, err := p.Client.Do(req)
	if err != nil {
		return fmt.Errorf("publish %s %s: %w", ev.Kind, ev.ID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("publish %s %s: HTTP %d: %s", ev.Kind, ev.ID, resp.StatusCode, body)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}
