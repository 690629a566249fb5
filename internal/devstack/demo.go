package devstack

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
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

// effectTimeout is how long the demo waits for each effect.
const effectTimeout = 30 * time.Second

// RunDemo plays the TaskFlow scenario against a running stack and checks every effect.
func RunDemo(ctx context.Context, s *Stack, out io.Writer) Report {
	d := &demo{s: s, out: out, publisher: s.Info.TaskAPI.DaprHTTP, frames: &frameLog{out: out}}
	// The user's browser tab.
	ws, ok := d.connect(ctx)
	if !ok {
		return d.rep
	}
	defer ws.Close()
	sc := newScenario(s.Info.DevUser)
	// 1-3. A recurring task is created, edited and completed; each change shows live.
	edited := d.taskChanges(ctx, sc)
	// The recurring service creates the next occurrence through the Task API.
	d.nextOccurrence(ctx, sc)
	// 4. A reminder falls due: e-mail, signed webhook, in-app notification.
	if !d.reminder(ctx, sc, edited.GetTitle()) {
		return d.rep
	}
	// 5. The audit log lists every event of the scenario and its chain verifies.
	d.auditLog(ctx)
	return d.rep
}

// demo is one run of the scenario: where it publishes, what it has seen, what it checked.
type demo struct {
	s         *Stack
	out       io.Writer
	publisher string // the Task API double's sidecar, as the Task API publishes
	frames    *frameLog
	eventIDs  []string // every event published so far, for the audit step
	rep       Report
}

func (d *demo) add(name string, ok bool, format string, args ...any) {
	d.rep.Steps = append(d.rep.Steps, Step{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// scenario is the demo's recurring task: weekly on Monday and Thursday at 08:00 in Berlin,
// first due on a Monday and completed an hour later.
type scenario struct {
	berlin           *time.Location
	due, completed   time.Time
	taskID, seriesID string
	task             *eventsv1.Task
}

func newScenario(user string) scenario {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	due := time.Date(2026, 12, 7, 8, 0, 0, 0, berlin) // a Monday, 08:00 in Berlin
	sc := scenario{berlin: berlin, due: due, completed: due.Add(time.Hour), taskID: uuid.NewString(), seriesID: uuid.NewString()}
	sc.task = &eventsv1.Task{
		Id: sc.taskID, UserId: user, Title: "Water the plants", Description: "Living room and balcony",
		Status: eventsv1.TaskStatus_TASK_STATUS_OPEN, Priority: eventsv1.TaskPriority_TASK_PRIORITY_MEDIUM,
		Tags: []string{"home"}, DueAt: timestamppb.New(due), RemindAt: timestamppb.New(due.Add(-30 * time.Minute)),
		TimeZone: "Europe/Berlin", CreatedAt: timestamppb.Now(), UpdatedAt: timestamppb.Now(),
		Recurrence: &eventsv1.Recurrence{Rrule: "FREQ=WEEKLY;BYDAY=MO,TH", SeriesId: sc.seriesID, Dtstart: timestamppb.New(due)},
	}
	return sc
}
