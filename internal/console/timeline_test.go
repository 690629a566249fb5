package console

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	auditv1 "github.com/taskflow/taskflow-events/gen/taskflow/audit/v1"
	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
)

var (
	completed = &eventsv1.TaskEvent{EventId: "ev-done", Kind: eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED,
		Task: &eventsv1.Task{Id: "t1", UserId: "u1", Recurrence: &eventsv1.Recurrence{Rrule: "FREQ=DAILY", SeriesId: "s1", OccurrenceIndex: 2}}}
	reminder = &eventsv1.ReminderEvent{EventId: "ev-remind", TaskId: "t2", UserId: "u1"}
	update   = &eventsv1.TaskUpdate{EventId: "ev-update", UserId: "u1"}
)

func TestParseRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		rec        *kgo.Record
		wantDLQ    bool
		wantID     string
		wantErr    string
		wantInJSON string
	}{
		{"task event", record("task-events", 1, 7, "t1", "taskflow.task.completed.v1", completed), false, "ev-done", "", `"series_id":"s1"`},
		{"dead-lettered reminder", record("reminders-notification-dlq", 0, 0, "t2", "taskflow.reminder.due.v1", reminder), true, "ev-remind", "", `"task_id":"t2"`},
		{"not a CloudEvent", &kgo.Record{Topic: "task-updates", Value: []byte("garbage")}, false, "", "not a CloudEvent", ""},
		{"undecodable payload", &kgo.Record{Topic: "task-updates", Value: []byte(`{"specversion":"1.0","id":"ce1","datacontenttype":"application/octet-stream","data_base64":"/////w=="}`)},
			false, "ce1", "invalid event", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := parseRecord(tc.rec)
			if e.DeadLetter != tc.wantDLQ || e.EventID != tc.wantID || !strings.Contains(e.PayloadError, tc.wantErr) || (tc.wantErr == "") != (e.PayloadError == "") {
				t.Errorf("parseRecord(%s) = dlq %v id %q error %q, want dlq %v id %q error containing %q", tc.name, e.DeadLetter, e.EventID, e.PayloadError, tc.wantDLQ, tc.wantID, tc.wantErr)
			}
			if !strings.Contains(string(e.Payload), tc.wantInJSON) {
				t.Errorf("parseRecord(%s) payload = %s, want it to contain %s", tc.name, e.Payload, tc.wantInJSON)
			}
		})
	}
}

func TestEventDetail(t *testing.T) {
	t.Parallel()
	auditRows := []*auditv1.AuditEvent{{Seq: 1, EventId: "other"}, {Seq: 2, EventId: "ev-done"}, {Seq: 3, EventId: "ev-remind"}, {Seq: 4, EventId: "ev-update"}}
	next := &eventsv1.Task{Id: "t1-next", Recurrence: &eventsv1.Recurrence{SeriesId: "s1", OccurrenceIndex: 3}}
	cfg := Config{Audit: &fakeAudit{events: auditRows}, TaskAPI: fakeTaskAPI{{Id: "unrelated"}, next},
		Deliveries: fakeDeliveries{deliveries: []*notificationv1.Delivery{{EventId: "ev-remind", Channel: notificationv1.Channel_CHANNEL_EMAIL}}}}
	downCfg := Config{Audit: &fakeAudit{err: down}, Deliveries: fakeDeliveries{err: down}, TaskAPI: fakeTaskAPI{}}
	type want struct {
		audit, deliveries, next string // effect states; "" = absent
		auditSeq                string // of the one audit row found
	}
	tests := []struct {
		name string
		cfg  Config
		rec  *kgo.Record
		want want
	}{
		{"completed recurring task", cfg, record("task-events", 0, 0, "t1", "taskflow.task.completed.v1", completed), want{"found", "", "found", "2"}},
		{"reminder", cfg, record("reminders", 0, 0, "t2", "taskflow.reminder.due.v1", reminder), want{"found", "found", "", "3"}},
		{"update", cfg, record("task-updates", 0, 0, "u1", "taskflow.update.notification.v1", update), want{"found", "", "", "4"}},
		{"not audited yet", Config{Audit: &fakeAudit{}, TaskAPI: fakeTaskAPI{}}, record("task-events", 0, 0, "t1", "taskflow.task.completed.v1", completed), want{"pending", "", "pending", ""}},
		{"backends down", downCfg, record("reminders", 0, 0, "t2", "taskflow.reminder.due.v1", reminder), want{"down", "down", "", ""}},
		{"no backends", Config{}, record("reminders", 0, 0, "t2", "taskflow.reminder.due.v1", reminder), want{"down", "down", "", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := New(tc.cfg)
			srv.timeline.add(parseRecord(tc.rec))
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/events/1", nil))
			var d struct {
				Event          Event
				Audit          effect
				Deliveries     *effect
				NextOccurrence *effect `json:"next_occurrence"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || rec.Code != http.StatusOK {
				t.Fatalf("GET /api/events/1 = %d %s (%v)", rec.Code, rec.Body, err)
			}
			state := func(e *effect) string {
				if e == nil {
					return ""
				}
				return e.State
			}
			got := want{d.Audit.State, state(d.Deliveries), state(d.NextOccurrence), ""}
			if len(d.Audit.Items) == 1 {
				var row struct{ Seq string } // protojson writes uint64 as a string
				_ = json.Unmarshal(d.Audit.Items[0], &row)
				got.auditSeq = row.Seq
			}
			if got != tc.want {
				t.Errorf("GET /api/events/1 = %+v, want %+v\n%s", got, tc.want, rec.Body)
			}
			if len(d.Event.Payload) == 0 {
				t.Errorf("GET /api/events/1 has no payload: %s", rec.Body)
			}
		})
	}
	t.Run("unknown event", func(t *testing.T) {
		t.Parallel()
		code, _ := do(t, cfg, "GET", "/api/events/99", "")
		if code != http.StatusNotFound {
			t.Errorf("GET /api/events/99 = %d, want 404", code)
		}
	})
}

// TestStream: a page that connects gets the backlog, then each new event and the broker's
// status as they happen.
func TestStream(t *testing.T) {
	t.Parallel()
	srv := New(Config{})
	srv.timeline.add(parseRecord(record("task-events", 0, 0, "t1", "taskflow.task.completed.v1", completed)))
	ts := httptest.NewServer(srv)
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	next := func() (string, string) {
		var name, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			case line == "" && name != "":
				return name, data
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return "", ""
	}
	for i, want := range []struct{ name, contains string }{
		{"status", `"broker":"connecting"`},
		{"event", `"event_id":"ev-done"`},
	} {
		if name, data := next(); name != want.name || !strings.Contains(data, want.contains) {
			t.Fatalf("message %d = %s %s, want %s containing %s", i, name, data, want.name, want.contains)
		}
	}
	srv.timeline.add(parseRecord(record("reminders-notification-dlq", 0, 0, "t2", "taskflow.reminder.due.v1", reminder)))
	if name, data := next(); name != "event" || !strings.Contains(data, `"event_id":"ev-remind"`) || !strings.Contains(data, `"dead_letter":true`) || strings.Contains(data, `"payload"`) {
		t.Errorf("live message = %s %s, want the dead-lettered reminder's summary (no payload)", name, data)
	}
	srv.timeline.setStatus("down: connection refused")
	if name, data := next(); name != "status" || !strings.Contains(data, "down: connection refused") {
		t.Errorf("status message = %s %s, want the broker down", name, data)
	}
}
