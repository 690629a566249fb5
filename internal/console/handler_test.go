package console

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/taskflow/taskflow-events/gen/taskflow/audit/v1"
	recurrencev1 "github.com/taskflow/taskflow-events/gen/taskflow/recurrence/v1"
)

var (
	down       = status.Error(codes.Unavailable, "connection refused")
	badRule    = status.Error(codes.InvalidArgument, `rrule "FREQ=SOMETIMES": unknown FREQ`)
	fixedNow   = time.Date(2026, 3, 2, 7, 5, 0, 0, time.UTC)
	lastFriday = &recurrencev1.PreviewResponse{Text: "every month on the last Friday at 09:00", Rrule: "FREQ=MONTHLY;BYDAY=-1FR",
		Occurrences: []*recurrencev1.Occurrence{{At: timestamppb.New(time.Date(2026, 1, 30, 14, 0, 0, 0, time.UTC))},
			{At: timestamppb.New(time.Date(2026, 2, 27, 14, 0, 0, 0, time.UTC))}}}
)

// do sends one request to a console with cfg and decodes the JSON answer.
func do(t *testing.T, cfg Config, method, target, body string) (int, map[string]any) {
	t.Helper()
	cfg.Now = func() time.Time { return fixedNow }
	srv := New(cfg)
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s answered %d %q: not JSON: %v", method, target, rec.Code, rec.Body, err)
	}
	return rec.Code, out
}

func TestPreview(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		rec        Recurrence
		query      string
		wantCode   int
		wantField  string
		wantDates  []any
		wantInBody string
	}{
		{"last Fridays", fakeRecurrence{resp: lastFriday}, "rrule=FREQ%3DMONTHLY%3BBYDAY%3D-1FR&tz=America/New_York&start=2026-01-01T09:00&count=2",
			http.StatusOK, "", []any{"2026-01-30", "2026-02-27"}, "every month on the last Friday"},
		{"unknown time zone", fakeRecurrence{resp: lastFriday}, "rrule=FREQ%3DDAILY&tz=Mars/Olympus&start=2026-01-01T09:00", http.StatusBadRequest, "tz", nil, "Mars/Olympus"},
		{"bad start", fakeRecurrence{resp: lastFriday}, "rrule=FREQ%3DDAILY&tz=UTC&start=yesterday", http.StatusBadRequest, "start", nil, "yesterday"},
		{"bad count", fakeRecurrence{resp: lastFriday}, "rrule=FREQ%3DDAILY&tz=UTC&start=2026-01-01T09:00&count=-1", http.StatusBadRequest, "count", nil, "count"},
		{"the service refuses the rule", fakeRecurrence{err: badRule}, "rrule=FREQ%3DSOMETIMES&tz=UTC&start=2026-01-01T09:00", http.StatusBadRequest, "rrule", nil, "unknown FREQ"},
		{"the service is down", fakeRecurrence{err: down}, "rrule=FREQ%3DDAILY&tz=UTC&start=2026-01-01T09:00", http.StatusBadGateway, "", nil, "recurring-task service is down"},
		{"no service", nil, "rrule=FREQ%3DDAILY&tz=UTC&start=2026-01-01T09:00", http.StatusBadGateway, "", nil, "down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, body := do(t, Config{Recurrence: tc.rec}, "GET", "/api/preview?"+tc.query, "")
			if code != tc.wantCode || body["field"] != nilIfEmpty(tc.wantField) {
				t.Fatalf("GET /api/preview?%s = %d %v, want %d field %q", tc.query, code, body, tc.wantCode, tc.wantField)
			}
			if b, _ := json.Marshal(body); !strings.Contains(string(b), tc.wantInBody) {
				t.Errorf("GET /api/preview?%s = %s, want it to contain %q", tc.query, b, tc.wantInBody)
			}
			if tc.wantDates != nil {
				var dates []any
				for _, o := range body["occurrences"].([]any) {
					dates = append(dates, o.(map[string]any)["date"])
				}
				if diff := cmp.Diff(tc.wantDates, dates); diff != "" {
					t.Errorf("occurrence dates (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func TestPublish(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		form      string
		rec       Recurrence
		pubErr    error
		wantCode  int
		wantField string
		wantTopic string
		wantType  string
	}{
		{"task completion", `{"what":"task","user":"u1","title":"Pay rent","rrule":"FREQ=MONTHLY;BYMONTHDAY=-1","tz":"Europe/Berlin"}`,
			fakeRecurrence{resp: lastFriday}, nil, http.StatusOK, "", "task-events", "taskflow.task.completed.v1"},
		{"reminder", `{"what":"reminder","user":"u1","title":"Call mom","email":"me@example.com"}`, nil, nil, http.StatusOK, "", "reminders", "taskflow.reminder.due.v1"},
		{"update", `{"what":"update","user":"u1","title":"Hi","body":"there"}`, nil, nil, http.StatusOK, "", "task-updates", "taskflow.update.notification.v1"},
		{"no title", `{"what":"task","user":"u1","title":" "}`, nil, nil, http.StatusBadRequest, "title", "", ""},
		{"unknown kind", `{"what":"poem","user":"u1","title":"x"}`, nil, nil, http.StatusBadRequest, "what", "", ""},
		{"unknown time zone", `{"what":"reminder","user":"u1","title":"x","tz":"Nowhere/Land"}`, nil, nil, http.StatusBadRequest, "tz", "", ""},
		{"bad due", `{"what":"reminder","user":"u1","title":"x","due":"soon"}`, nil, nil, http.StatusBadRequest, "due", "", ""},
		{"rule the service refuses", `{"what":"task","user":"u1","title":"x","rrule":"FREQ=SOMETIMES"}`, fakeRecurrence{err: badRule}, nil, http.StatusBadRequest, "rrule", "", ""},
		{"daprd down", `{"what":"update","user":"u1","title":"x"}`, nil, errors.New("connection refused"), http.StatusBadGateway, "", "", ""},
		{"not JSON", `{`, nil, nil, http.StatusBadRequest, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pub := &fakePublisher{err: tc.pubErr}
			code, body := do(t, Config{Recurrence: tc.rec, Publisher: pub}, "POST", "/api/publish", tc.form)
			if code != tc.wantCode || body["field"] != nilIfEmpty(tc.wantField) {
				t.Fatalf("POST /api/publish %s = %d %v, want %d field %q", tc.form, code, body, tc.wantCode, tc.wantField)
			}
			if tc.wantTopic == "" {
				if len(pub.sent) != 0 {
					t.Errorf("POST /api/publish %s published %v, want nothing", tc.form, pub.sent)
				}
				return
			}
			if len(pub.sent) != 1 {
				t.Fatalf("published %d events, want 1", len(pub.sent))
			}
			got := pub.sent[0]
			if got.topic != tc.wantTopic || got.ceType != tc.wantType || body["event_id"] != got.msg.GetEventId() || body["key"] != got.key || got.key == "" {
				t.Errorf("published %s %s key %q event %s (answer %v), want %s %s with the answer naming it", got.topic, got.ceType, got.key, got.msg.GetEventId(), body, tc.wantTopic, tc.wantType)
			}
		})
	}
}

func TestAuditList(t *testing.T) {
	t.Parallel()
	rows := []*auditv1.AuditEvent{{Seq: 2, EventId: "e2", Topic: "reminders"}, {Seq: 1, EventId: "e1", Topic: "task-events"}}
	tests := []struct {
		name      string
		audit     *fakeAudit
		query     string
		wantCode  int
		wantField string
		wantRows  int
	}{
		{"filtered", &fakeAudit{events: rows}, "user=u1&task=t1&from=2026-01-01T00:00:00Z", http.StatusOK, "", 2},
		{"bad from", &fakeAudit{events: rows}, "from=monday", http.StatusBadRequest, "from", 0},
		{"bad to", &fakeAudit{events: rows}, "to=later", http.StatusBadRequest, "to", 0},
		{"page size refused", &fakeAudit{err: status.Error(codes.InvalidArgument, "page_size 5000: want 1 to 1000")}, "limit=5000", http.StatusBadRequest, "limit", 0},
		{"service down", &fakeAudit{err: down}, "", http.StatusBadGateway, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, body := do(t, Config{Audit: tc.audit}, "GET", "/api/audit?"+tc.query, "")
			if code != tc.wantCode || body["field"] != nilIfEmpty(tc.wantField) {
				t.Fatalf("GET /api/audit?%s = %d %v, want %d field %q", tc.query, code, body, tc.wantCode, tc.wantField)
			}
			if code == http.StatusOK {
				if n := len(body["events"].([]any)); n != tc.wantRows {
					t.Errorf("GET /api/audit?%s = %d rows, want %d", tc.query, n, tc.wantRows)
				}
				if r := tc.audit.lastReq; r.GetUserId() != "u1" || r.GetTaskId() != "t1" || !r.GetFromTime().AsTime().Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("ListEvents request = %v, want user u1, task t1, from 2026-01-01", r)
				}
			}
		})
	}
}

func TestVerifyChain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		audit    *fakeAudit
		wantCode int
		wantOK   any
		wantRows any
	}{
		{"two pages", &fakeAudit{verify: []*auditv1.VerifyChainResponse{
			{Ok: true, FirstSeq: 0, RowsChecked: 1000, LastSeq: 1000, NextFromSeq: 1001},
			{Ok: true, FirstSeq: 1001, RowsChecked: 5, LastSeq: 1005}}}, http.StatusOK, true, 1005.0},
		{"a broken link", &fakeAudit{verify: []*auditv1.VerifyChainResponse{
			{Ok: false, RowsChecked: 3, LastSeq: 3, Findings: []*auditv1.BrokenLink{{Seq: 2, Detail: "hash mismatch"}}}}}, http.StatusOK, false, 3.0},
		{"service down", &fakeAudit{err: down}, http.StatusBadGateway, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, body := do(t, Config{Audit: tc.audit}, "POST", "/api/audit/verify", "")
			if code != tc.wantCode || body["ok"] != tc.wantOK || body["rows_checked"] != tc.wantRows {
				t.Errorf("POST /api/audit/verify = %d %v, want %d ok=%v rows=%v", code, body, tc.wantCode, tc.wantOK, tc.wantRows)
			}
		})
	}
}

func TestDeadLetters(t *testing.T) {
	t.Parallel()
	topics := []DeadLetterTopic{{Topic: "reminders-notification-dlq", Entries: []DeadLetterEntry{{Partition: 3, Offset: 0, EventID: "e1"}}}}
	tests := []struct {
		name, method, target, body string
		dlq                        DeadLetters
		wantCode                   int
		wantInBody                 string
	}{
		{"list", "GET", "/api/dlq", "", fakeDLQ{topics: topics}, http.StatusOK, "reminders-notification-dlq"},
		{"list, broker down", "GET", "/api/dlq", "", fakeDLQ{err: errors.New("dial tcp: connection refused")}, http.StatusBadGateway, "broker is down"},
		{"replay", "POST", "/api/dlq/replay", `{"topic":"reminders-notification-dlq","partition":3,"offset":0}`, fakeDLQ{result: "replayed 3:0"}, http.StatusOK, "replayed 3:0"},
		{"replay an invalid entry", "POST", "/api/dlq/replay", `{"topic":"reminders-notification-dlq","partition":3,"offset":0}`,
			fakeDLQ{err: BadEntry(errors.New("entry 3:0 is not a valid event"))}, http.StatusBadRequest, "not a valid event"},
		{"replay, daprd down", "POST", "/api/dlq/replay", `{"topic":"reminders-notification-dlq","partition":3,"offset":0}`,
			fakeDLQ{err: errors.New("connection refused")}, http.StatusBadGateway, "connection refused"},
		{"replay without a topic", "POST", "/api/dlq/replay", `{}`, fakeDLQ{}, http.StatusBadRequest, "topic"},
		{"no broker", "GET", "/api/dlq", "", nil, http.StatusBadGateway, "down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, body := do(t, Config{DeadLetters: tc.dlq}, tc.method, tc.target, tc.body)
			b, _ := json.Marshal(body)
			if code != tc.wantCode || !strings.Contains(string(b), tc.wantInBody) {
				t.Errorf("%s %s = %d %s, want %d containing %q", tc.method, tc.target, code, b, tc.wantCode, tc.wantInBody)
			}
		})
	}
}

func TestStaticPage(t *testing.T) {
	t.Parallel()
	srv := New(Config{})
	for _, path := range []string{"/", "/app.js", "/style.css"} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s = %d (%d bytes), want 200 with the embedded file", path, rec.Code, len(body))
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q, want default-src 'self'", path, csp)
		}
		if strings.Contains(string(body), "https://") || strings.Contains(string(body), "http://") {
			t.Errorf("GET %s refers to another site: the page must not reach out to the network", path)
		}
	}
}
