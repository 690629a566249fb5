package devstack

import (
	"context"
	"fmt"
	"net/http"
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

// The steps of RunDemo, in order; each adds its checks to the report.

// connect opens the user's WebSocket as a browser tab does and logs every frame it gets.
func (d *demo) connect(ctx context.Context) (*websocket.Conn, bool) {
	s := d.s
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, s.Info.WebSocketURL, http.Header{"Authorization": {"Bearer " + s.Info.DevToken}})
	if err != nil {
		d.add("WebSocket client connects with the dev token", false, "%v", err)
		return nil, false
	}
	d.add("WebSocket client connects with the dev token", true, "%s as %s", s.Info.WebSocketURL, s.Info.DevUser)
	go func() {
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			d.frames.add(string(msg))
		}
	}()
	return ws, true
}

// taskChanges creates, edits and completes the scenario's task and checks each change
// shows live on the WebSocket; it returns the edited task.
func (d *demo) taskChanges(ctx context.Context, sc scenario) *eventsv1.Task {
	created := proto.Clone(sc.task).(*eventsv1.Task)
	err1 := d.change(ctx, sc, eventsv1.TaskEventKind_TASK_EVENT_KIND_CREATED, "created", created, nil)
	edited := proto.Clone(sc.task).(*eventsv1.Task)
	edited.Title = "Water the plants (and the herbs)"
	err2 := d.change(ctx, sc, eventsv1.TaskEventKind_TASK_EVENT_KIND_UPDATED, "updated", edited, created)
	done := proto.Clone(edited).(*eventsv1.Task)
	done.Status, done.CompletedAt = eventsv1.TaskStatus_TASK_STATUS_COMPLETED, timestamppb.New(sc.completed)
	err3 := d.change(ctx, sc, eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED, "completed", done, nil)
	liveErr := firstErr(err1, err2, err3)
	d.add("task changes reach the user's WebSocket live (created, updated, completed)", liveErr == nil, "%s", errText(liveErr, "3 task_change frames received"))
	return edited
}

// change publishes one task change as the Task API does (the task event and the user's
// update) and waits for its frame on the WebSocket.
func (d *demo) change(ctx context.Context, sc scenario, kind eventsv1.TaskEventKind, name string, t *eventsv1.Task, prev *eventsv1.Task) error {
	ev := &eventsv1.TaskEvent{EventId: uuid.NewString(), Kind: kind, OccurredAt: timestamppb.Now(), ActorId: d.s.Info.DevUser, Task: t, Previous: prev}
	if kind == eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED {
		ev.OccurredAt = timestamppb.New(sc.completed)
	}
	up := &eventsv1.TaskUpdate{EventId: uuid.NewString(), UserId: t.GetUserId(), OccurredAt: ev.GetOccurredAt(),
		Update: &eventsv1.TaskUpdate_TaskChange{TaskChange: &eventsv1.TaskChange{Kind: kind, Task: t}}}
	d.eventIDs = append(d.eventIDs, ev.GetEventId(), up.GetEventId())
	if err := Publish(ctx, d.publisher, wire.TopicTaskEvents, wire.TaskEventType(kind), wire.TaskEventKey(ev), ev); err != nil {
		return err
	}
	if err := Publish(ctx, d.publisher, wire.TopicTaskUpdates, wire.UpdateType(up), wire.UpdateKey(up), up); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "published task %s (%s)\n", name, up.GetEventId())
	if !waitUntil(ctx, effectTimeout, func() bool { return d.frames.containing(up.GetEventId()) > 0 }) {
		return fmt.Errorf("no WebSocket frame for the %s update within %v", name, effectTimeout)
	}
	return nil
}

// nextOccurrence checks the recurring service created the next occurrence, on the
// Thursday after, through the Task API double.
func (d *demo) nextOccurrence(ctx context.Context, sc scenario) {
	s, berlin := d.s, sc.berlin
	wantNext := time.Date(2026, 12, 10, 8, 0, 0, 0, berlin) // the Thursday after
	var next *eventsv1.Task
	waitUntil(ctx, effectTimeout, func() bool {
		for _, t := range s.TaskAPI.Created() {
			if t.GetRecurrence().GetSeriesId() == sc.seriesID {
				next = t
				return true
			}
		}
		return false
	})
	switch {
	case next == nil:
		d.add("completing the recurring task creates the next occurrence", false, "the Task API double received no create call within %v", effectTimeout)
	case !next.GetDueAt().AsTime().Equal(wantNext):
		d.add("completing the recurring task creates the next occurrence", false, "next due %s, want %s",
			next.GetDueAt().AsTime().In(berlin).Format(time.RFC3339), wantNext.Format(time.RFC3339))
	default:
		d.add("completing the recurring task creates the next occurrence", true, "%q due %s (Thu 08:00 Berlin), occurrence %d, Task API calls %d",
			next.GetTitle(), next.GetDueAt().AsTime().In(berlin).Format("Mon 2006-01-02 15:04 MST"), next.GetRecurrence().GetOccurrenceIndex(), s.TaskAPI.Calls())
	}
}

// reminder publishes a reminder of the task (titled title) falling due and checks its
// e-mail, signed webhook call and in-app notification. It reports false when the reminder
// could not be published.
func (d *demo) reminder(ctx context.Context, sc scenario, title string) bool {
	s := d.s
	remDue := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	rem := &eventsv1.ReminderEvent{EventId: uuid.NewString(), ReminderId: uuid.NewString(), TaskId: sc.taskID, UserId: s.Info.DevUser,
		Title: title, DueAt: timestamppb.New(remDue), RemindAt: timestamppb.Now(), TimeZone: "Europe/Berlin",
		Targets: &eventsv1.DeliveryTargets{Email: "demo-user@example.com", WebhookUrl: s.Info.WebhookURL}}
	d.eventIDs = append(d.eventIDs, rem.GetEventId())
	if err := Publish(ctx, d.publisher, wire.TopicReminders, wire.TypeReminderDue, wire.ReminderKey(rem), rem); err != nil {
		d.add("reminder published", false, "%v", err)
		return false
	}
	fmt.Fprintf(d.out, "published reminder %s\n", rem.GetEventId())
	mails := 0
	mailOK := waitUntil(ctx, effectTimeout, func() bool {
		mails = s.mailCount(ctx, title)
		return mails > 0
	})
	d.add("the reminder arrives as an e-mail in the SMTP catcher", mailOK && mails == 1, "%d message(s) about %q at %s", mails, title, s.Info.MailUI)
	var calls []WebhookCall
	hookOK := waitUntil(ctx, effectTimeout, func() bool { calls = s.Webhook.Calls(); return len(calls) > 0 })
	verified := hookOK && len(calls) == 1 && calls[0].Verified
	d.add("the reminder arrives as a signed webhook call", verified, "%d call(s), signature verified: %v", len(calls), verified)
	notifOK := waitUntil(ctx, effectTimeout, func() bool { return d.frames.containing(`"type":"notification"`) > 0 })
	d.add("the reminder arrives as an in-app notification on the WebSocket", notifOK && d.frames.containing(`"type":"notification"`) == 1,
		"%d notification frame(s)", d.frames.containing(`"type":"notification"`))
	return true
}

// auditLog checks the audit log lists every event the demo published and its chain verifies.
func (d *demo) auditLog(ctx context.Context) {
	s := d.s
	conn, err := grpc.NewClient(s.Info.Services["audit"].GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		d.add("the audit log lists every event", false, "%v", err)
		return
	}
	defer conn.Close()
	audit := auditv1.NewAuditServiceClient(conn)
	var missing []string
	var listed int
	listOK := waitUntil(ctx, effectTimeout, func() bool {
		seen, n, err := auditedEvents(ctx, audit, s.Info.DevUser)
		listed = n
		if err != nil {
			return false
		}
		missing = missing[:0]
		for _, id := range d.eventIDs {
			if !seen[id] {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0
	})
	d.add("the audit log lists every event of the scenario", listOK, "%d events listed for %s; missing: %v", listed, s.Info.DevUser, missing)
	v, err := audit.VerifyChain(ctx, &auditv1.VerifyChainRequest{})
	d.add("the audit hash chain verifies", err == nil && v.GetOk(), "%s", errText(err, fmt.Sprintf("%d rows checked, ok=%v", v.GetRowsChecked(), v.GetOk())))
}

// auditedEvents pages through the audit log of user and returns the event ids it holds
// and how many events it listed (those listed so far, with an error).
func auditedEvents(ctx context.Context, audit auditv1.AuditServiceClient, user string) (map[string]bool, int, error) {
	seen := map[string]bool{}
	listed := 0
	token := ""
	for {
		resp, err := audit.ListEvents(ctx, &auditv1.ListEventsRequest{UserId: user, PageSize: 100, PageToken: token})
		if err != nil {
			return seen, listed, err
		}
		for _, e := range resp.GetEvents() {
			seen[e.GetEventId()] = true
			listed++
		}
		if token = resp.GetNextPageToken(); token == "" {
			return seen, listed, nil
		}
	}
}
