package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/taskflow/taskflow-events/gen/taskflow/audit/v1"
	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// Step is one checked effect of the demo.
type Step struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Report is the demo's outcome.
type Report struct {
	Steps []Step `json:"steps"`
}

// OK reports whether every step passed.
func (r Report) OK() bool {
	for _, s := range r.Steps {
		if !s.OK {
			return false
		}
	}
	return len(r.Steps) > 0
}

// String renders the report for a terminal.
func (r Report) String() string {
	var b strings.Builder
	b.WriteString("\nTaskFlow demo report\n")
	for _, s := range r.Steps {
		mark := "PASS"
		if !s.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "  [%s] %s\n         %s\n", mark, s.Name, s.Detail)
	}
	passed := 0
	for _, s := range r.Steps {
		if s.OK {
			passed++
		}
	}
	fmt.Fprintf(&b, "%d passed, %d failed\n", passed, len(r.Steps)-passed)
	return b.String()
}

// Publish sends msg as binary protobuf through a sidecar's HTTP API, as the Task API does.
func Publish(ctx context.Context, daprHTTP, topic, ceType, key string, msg wire.Event) error {
	data, err := proto.Marshal(msg)
	if err != nil {
		return err
	}
	url := fmt.Sprintf("%s/v1.0/publish/taskflow-pubsub/%s?%s", daprHTTP, topic, wire.MetadataQuery(wire.Metadata(ceType, msg.GetEventId(), key)))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(data)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", wire.ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("publish %s: %w", ceType, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("publish %s: HTTP %d: %s", ceType, resp.StatusCode, body)
	}
	return nil
}

// frameLog collects WebSocket frames and prints each as it arrives.
type frameLog struct {
	mu     sync.Mutex
	frames []string
	out    io.Writer
}

func (f *frameLog) add(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frames = append(f.frames, s)
	short := s
	if len(short) > 160 {
		short = short[:160] + "…"
	}
	fmt.Fprintf(f.out, "  ws ← %s\n", short)
}

func (f *frameLog) containing(sub string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, fr := range f.frames {
		if strings.Contains(fr, sub) {
			n++
		}
	}
	return n
}

func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// RunDemo plays the TaskFlow scenario against a running stack and checks every effect.
func RunDemo(ctx context.Context, s *Stack, out io.Writer) Report {
	var rep Report
	add := func(name string, ok bool, format string, args ...any) {
		rep.Steps = append(rep.Steps, Step{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	publisher := s.Info.TaskAPI.DaprHTTP
	const effectTimeout = 30 * time.Second

	// The user's browser tab.
	frames := &frameLog{out: out}
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, s.Info.WebSocketURL, http.Header{"Authorization": {"Bearer " + s.Info.DevToken}})
	if err != nil {
		add("WebSocket client connects with the dev token", false, "%v", err)
		return rep
	}
	defer ws.Close()
	add("WebSocket client connects with the dev token", true, "%s as %s", s.Info.WebSocketURL, s.Info.DevUser)
	go func() {
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			frames.add(string(msg))
		}
	}()

	berlin, _ := time.LoadLocation("Europe/Berlin")
	due := time.Date(2026, 12, 7, 8, 0, 0, 0, berlin) // a Monday, 08:00 in Berlin
	completed := due.Add(time.Hour)
	taskID, seriesID := uuid.NewString(), uuid.NewString()
	task := &eventsv1.Task{
		Id: taskID, UserId: s.Info.DevUser, Title: "Water the plants", Description: "Living room and balcony",
		Status: eventsv1.TaskStatus_TASK_STATUS_OPEN, Priority: eventsv1.TaskPriority_TASK_PRIORITY_MEDIUM,
		Tags: []string{"home"}, DueAt: timestamppb.New(due), RemindAt: timestamppb.New(due.Add(-30 * time.Minute)),
		TimeZone: "Europe/Berlin", CreatedAt: timestamppb.Now(), UpdatedAt: timestamppb.Now(),
		Recurrence: &eventsv1.Recurrence{Rrule: "FREQ=WEEKLY;BYDAY=MO,TH", SeriesId: seriesID, Dtstart: timestamppb.New(due)},
	}
	var eventIDs []string
	change := func(kind eventsv1.TaskEventKind, name string, t *eventsv1.Task, prev *eventsv1.Task) error {
		ev := &eventsv1.TaskEvent{EventId: uuid.NewString(), Kind: kind, OccurredAt: timestamppb.Now(), ActorId: s.Info.DevUser, Task: t, Previous: prev}
		if kind == eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED {
			ev.OccurredAt = timestamppb.New(completed)
		}
		up := &eventsv1.TaskUpdate{EventId: uuid.NewString(), UserId: t.GetUserId(), OccurredAt: ev.GetOccurredAt(),
			Update: &eventsv1.TaskUpdate_TaskChange{TaskChange: &eventsv1.TaskChange{Kind: kind, Task: t}}}
		eventIDs = append(eventIDs, ev.GetEventId(), up.GetEventId())
		if err := Publish(ctx, publisher, wire.TopicTaskEvents, wire.TaskEventType(kind), wire.TaskEventKey(ev), ev); err != nil {
			return err
		}
		if err := Publish(ctx, publisher, wire.TopicTaskUpdates, wire.UpdateType(up), wire.UpdateKey(up), up); err != nil {
			return err
		}
		fmt.Fprintf(out, "published task %s (%s)\n", name, up.GetEventId())
		if !waitUntil(ctx, effectTimeout, func() bool { return frames.containing(up.GetEventId()) > 0 }) {
			return fmt.Errorf("no WebSocket frame for the %s update within %v", name, effectTimeout)
		}
		return nil
	}

	// 1-3. A recurring task is created, edited and completed; each change shows live.
	created := proto.Clone(task).(*eventsv1.Task)
	err1 := change(eventsv1.TaskEventKind_TASK_EVENT_KIND_CREATED, "created", created, nil)
	edited := proto.Clone(task).(*eventsv1.Task)
	edited.Title = "Water the plants (and the herbs)"
	err2 := change(eventsv1.TaskEventKind_TASK_EVENT_KIND_UPDATED, "updated", edited, created)
	done := proto.Clone(edited).(*eventsv1.Task)
	done.Status, done.CompletedAt = eventsv1.TaskStatus_TASK_STATUS_COMPLETED, timestamppb.New(completed)
	err3 := change(eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED, "completed", done, nil)
	liveErr := firstErr(err1, err2, err3)
	add("task changes reach the user's WebSocket live (created, updated, completed)", liveErr == nil, "%s", errText(liveErr, "3 task_change frames received"))

	// The recurring service creates the next occurrence through the Task API.
	wantNext := time.Date(2026, 12, 10, 8, 0, 0, 0, berlin) // the Thursday after
	var next *eventsv1.Task
	waitUntil(ctx, effectTimeout, func() bool {
		for _, t := range s.TaskAPI.Created() {
			if t.GetRecurrence().GetSeriesId() == seriesID {
				next = t
				return true
			}
		}
		return false
	})
	switch {
	case next == nil:
		add("completing the recurring task creates the next occurrence", false, "the Task API double received no create call within %v", effectTimeout)
	case !next.GetDueAt().AsTime().Equal(wantNext):
		add("completing the recurring task creates the next occurrence", false, "next due %s, want %s",
			next.GetDueAt().AsTime().In(berlin).Format(time.RFC3339), wantNext.Format(time.RFC3339))
	default:
		add("completing the recurring task creates the next occurrence", true, "%q due %s (Thu 08:00 Berlin), occurrence %d, Task API calls %d",
			next.GetTitle(), next.GetDueAt().AsTime().In(berlin).Format("Mon 2006-01-02 15:04 MST"), next.GetRecurrence().GetOccurrenceIndex(), s.TaskAPI.Calls())
	}

	// 4. A reminder falls due: e-mail, signed webhook, in-app notification.
	remDue := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	rem := &eventsv1.ReminderEvent{EventId: uuid.NewString(), ReminderId: uuid.NewString(), TaskId: taskID, UserId: s.Info.DevUser,
		Title: edited.GetTitle(), DueAt: timestamppb.New(remDue), RemindAt: timestamppb.Now(), TimeZone: "Europe/Berlin",
		Targets: &eventsv1.DeliveryTargets{Email: "demo-user@example.com", WebhookUrl: s.Info.WebhookURL}}
	eventIDs = append(eventIDs, rem.GetEventId())
	if err := Publish(ctx, publisher, wire.TopicReminders, wire.TypeReminderDue, wire.ReminderKey(rem), rem); err != nil {
		add("reminder published", false, "%v", err)
		return rep
	}
	fmt.Fprintf(out, "published reminder %s\n", rem.GetEventId())
	mails := 0
	mailOK := waitUntil(ctx, effectTimeout, func() bool {
		mails = s.mailCount(ctx, edited.GetTitle())
		return mails > 0
	})
	add("the reminder arrives as an e-mail in the SMTP catcher", mailOK && mails == 1, "%d message(s) about %q at %s", mails, edited.GetTitle(), s.Info.MailUI)
	var calls []WebhookCall
	hookOK := waitUntil(ctx, effectTimeout, func() bool { calls = s.Webhook.Calls(); return len(calls) > 0 })
	verified := hookOK && len(calls) == 1 && calls[0].Verified
	add("the reminder arrives as a signed webhook call", verified, "%d call(s), signature verified: %v", len(calls), verified)
	notifOK := waitUntil(ctx, effectTimeout, func() bool { return frames.containing(`"type":"notification"`) > 0 })
	add("the reminder arrives as an in-app notification on the WebSocket", notifOK && frames.containing(`"type":"notification"`) == 1,
		"%d notification frame(s)", frames.containing(`"type":"notification"`))

	// 5. The audit log lists every event of the scenario and its chain verifies.
	conn, err := grpc.NewClient(s.Info.Services["audit"].GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		add("the audit log lists every event", false, "%v", err)
		return rep
	}
	defer conn.Close()
	audit := auditv1.NewAuditServiceClient(conn)
	var missing []string
	var listed int
	listOK := waitUntil(ctx, effectTimeout, func() bool {
		seen := map[string]bool{}
		listed = 0
		token := ""
		for {
			resp, err := audit.ListEvents(ctx, &auditv1.ListEventsRequest{UserId: s.Info.DevUser, PageSize: 100, PageToken: token})
			if err != nil {
				return false
			}
			for _, e := range resp.GetEvents() {
				seen[e.GetEventId()] = true
				listed++
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		missing = missing[:0]
		for _, id := range eventIDs {
			if !seen[id] {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0
	})
	add("the audit log lists every event of the scenario", listOK, "%d events listed for %s; missing: %v", listed, s.Info.DevUser, missing)
	v, err := audit.VerifyChain(ctx, &auditv1.VerifyChainRequest{})
	add("the audit hash chain verifies", err == nil && v.GetOk(), "%s", errText(err, fmt.Sprintf("%d rows checked, ok=%v", v.GetRowsChecked(), v.GetOk())))
	return rep
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func errText(err error, okText string) string {
	if err != nil {
		return err.Error()
	}
	return okText
}

// mailCount asks mailpit how many messages mention subject.
func (s *Stack) mailCount(ctx context.Context, subject string) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Info.MailUI+"/api/v1/messages", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var body struct {
		Messages []struct {
			Subject string `json:"Subject"`
		} `json:"messages"`
	}
	if json.NewDecoder(resp.Body).Decode(&body) != nil {
		return 0
	}
	n := 0
	for _, m := range body.Messages {
		if strings.Contains(m.Subject, subject) {
			n++
		}
	}
	return n
}
