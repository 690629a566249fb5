package nexttask

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

type fakeCreator struct {
	err   error
	tasks []*eventsv1.Task
	keys  []string
}

func (f *fakeCreator) Create(_ context.Context, task *eventsv1.Task, key string) error {
	f.tasks = append(f.tasks, task)
	f.keys = append(f.keys, key)
	return f.err
}

func ts(s string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

func completed(task *eventsv1.Task) *eventsv1.TaskEvent {
	return &eventsv1.TaskEvent{EventId: "ev-1", Kind: eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED,
		OccurredAt: task.GetCompletedAt(), Task: task}
}

func weeklyTask() *eventsv1.Task {
	return &eventsv1.Task{
		Id: "task-3", UserId: "user-1", Title: "Water plants", Description: "balcony",
		Status: eventsv1.TaskStatus_TASK_STATUS_COMPLETED, Priority: eventsv1.TaskPriority_TASK_PRIORITY_HIGH,
		Tags: []string{"home", "garden"}, TimeZone: "America/New_York",
		DueAt: ts("2024-03-04T09:00:00-05:00"), RemindAt: ts("2024-03-04T08:30:00-05:00"),
		CompletedAt: ts("2024-03-04T10:00:00-05:00"),
		Recurrence: &eventsv1.Recurrence{Rrule: "FREQ=WEEKLY;BYDAY=MO,TH", SeriesId: "series-x", OccurrenceIndex: 0,
			Dtstart: ts("2024-03-04T09:00:00-05:00")},
	}
}

func TestHandleCreatesNext(t *testing.T) {
	t.Parallel()
	fc := &fakeCreator{}
	h := New(fc, nil)
	res, err := h.Handle(t.Context(), completed(weeklyTask()))
	if err != nil {
		t.Fatalf("Handle error: %v", err)
	}
	want := &eventsv1.Task{
		// uuid5(uuid5(NAMESPACE_URL, "https://taskflow.dev/ns/recurring-task"), "series-x/1"), from Python.
		Id: "94dfb29a-4309-56bc-98d3-85ff8ad63698", UserId: "user-1", Title: "Water plants", Description: "balcony",
		Status: eventsv1.TaskStatus_TASK_STATUS_OPEN, Priority: eventsv1.TaskPriority_TASK_PRIORITY_HIGH,
		Tags: []string{"home", "garden"}, TimeZone: "America/New_York",
		DueAt: ts("2024-03-07T09:00:00-05:00"), RemindAt: ts("2024-03-07T08:30:00-05:00"),
		Recurrence: &eventsv1.Recurrence{Rrule: "FREQ=WEEKLY;BYDAY=MO,TH", SeriesId: "series-x", OccurrenceIndex: 1,
			Dtstart: ts("2024-03-04T09:00:00-05:00")},
	}
	if res.Action != Created {
		t.Errorf("Handle action = %v, want %v", res.Action, Created)
	}
	if diff := cmp.Diff([]*eventsv1.Task{want}, fc.tasks, protocmp.Transform()); diff != "" {
		t.Errorf("created tasks mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{want.Id}, fc.keys); diff != "" {
		t.Errorf("idempotency keys mismatch (-want +got):\n%s", diff)
	}
}

func TestHandleOutcomes(t *testing.T) {
	t.Parallel()
	errDown := errors.New("task api down")
	tests := []struct {
		name          string
		mutate        func(ev *eventsv1.TaskEvent)
		creatorErr    error
		wantAction    Action
		wantCalls     int
		wantPermanent bool
		wantErr       error
	}{
		{name: "not a completion", mutate: func(ev *eventsv1.TaskEvent) { ev.Kind = eventsv1.TaskEventKind_TASK_EVENT_KIND_UPDATED }, wantAction: Ignored},
		{name: "no recurrence", mutate: func(ev *eventsv1.TaskEvent) { ev.Task.Recurrence = nil }, wantAction: Ignored},
		{name: "count reached", mutate: func(ev *eventsv1.TaskEvent) {
			ev.Task.Recurrence.Rrule = "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=4"
			ev.Task.Recurrence.OccurrenceIndex = 3
		}, wantAction: Ended},
		{name: "until reached", mutate: func(ev *eventsv1.TaskEvent) {
			ev.Task.Recurrence.Rrule = "FREQ=WEEKLY;BYDAY=MO,TH;UNTIL=20240306T000000Z"
		}, wantAction: Ended},
		{name: "bad rule", mutate: func(ev *eventsv1.TaskEvent) { ev.Task.Recurrence.Rrule = "FREQ=SOMETIMES" }, wantPermanent: true},
		{name: "bad time zone", mutate: func(ev *eventsv1.TaskEvent) { ev.Task.TimeZone = "Mars/Olympus" }, wantPermanent: true},
		{name: "no due time", mutate: func(ev *eventsv1.TaskEvent) { ev.Task.DueAt = nil }, wantPermanent: true},
		{name: "no task", mutate: func(ev *eventsv1.TaskEvent) { ev.Task = nil }, wantPermanent: true},
		{name: "no kind", mutate: func(ev *eventsv1.TaskEvent) { ev.Kind = eventsv1.TaskEventKind_TASK_EVENT_KIND_UNSPECIFIED }, wantPermanent: true},
		{name: "byweekno with monthly", mutate: func(ev *eventsv1.TaskEvent) { ev.Task.Recurrence.Rrule = "FREQ=MONTHLY;BYWEEKNO=1" }, wantPermanent: true},
		{name: "creator transient", creatorErr: errDown, wantCalls: 1, wantErr: errDown},
		{name: "creator rejects", creatorErr: ErrPermanent, wantCalls: 1, wantPermanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := completed(weeklyTask())
			if tt.mutate != nil {
				tt.mutate(ev)
			}
			fc := &fakeCreator{err: tt.creatorErr}
			res, err := New(fc, nil).Handle(t.Context(), ev)
			if got := errors.Is(err, ErrPermanent); got != tt.wantPermanent {
				t.Errorf("Handle error = %v, permanent %v, want permanent %v", err, got, tt.wantPermanent)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Handle error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && res.Action != tt.wantAction {
				t.Errorf("Handle action = %v, want %v", res.Action, tt.wantAction)
			}
			if len(fc.tasks) != tt.wantCalls {
				t.Errorf("Create called %d times, want %d", len(fc.tasks), tt.wantCalls)
			}
		})
	}
}

func TestNextAnchorsForOverdueTask(t *testing.T) {
	t.Parallel()
	task := weeklyTask()
	task.Recurrence.Rrule = "FREQ=DAILY;INTERVAL=3"
	task.DueAt = ts("2024-03-04T09:00:00-05:00")
	done := time.Date(2024, 3, 12, 20, 0, 0, 0, time.UTC) // eight days late, 16:00 EDT
	tests := []struct {
		anchor eventsv1.RecurrenceAnchor
		want   string
	}{
		{eventsv1.RecurrenceAnchor_RECURRENCE_ANCHOR_UNSPECIFIED, "2024-03-13T09:00:00-04:00"},
		{eventsv1.RecurrenceAnchor_RECURRENCE_ANCHOR_SCHEDULE, "2024-03-13T09:00:00-04:00"},
		{eventsv1.RecurrenceAnchor_RECURRENCE_ANCHOR_COMPLETION, "2024-03-15T09:00:00-04:00"},
	}
	now := done
	for _, tt := range tests {
		t.Run(tt.anchor.String(), func(t *testing.T) {
			t.Parallel()
			in := weeklyTask()
			in.Recurrence.Rrule, in.DueAt, in.RemindAt = task.Recurrence.Rrule, task.DueAt, nil
			in.Recurrence.Anchor = tt.anchor
			next, ok, err := Next(in, done, now)
			if err != nil || !ok {
				t.Fatalf("Next = %v, %v, %v; want an occurrence", next, ok, err)
			}
			got := next.GetDueAt().AsTime().In(time.FixedZone("EDT", -4*3600)).Format(time.RFC3339)
			if got != tt.want {
				t.Errorf("Next(%v) due = %s, want %s", tt.anchor, got, tt.want)
			}
		})
	}
}

// A completion replayed long after it happened: the default keeps the schedule (the
// occurrence after the completion, though past), SKIP_TO_NOW moves past now.
func TestNextCatchUp(t *testing.T) {
	t.Parallel()
	done := time.Date(2024, 3, 4, 15, 0, 0, 0, time.UTC)
	now := time.Date(2024, 3, 20, 12, 0, 0, 0, time.UTC) // processed 16 days later
	tests := []struct {
		catchUp eventsv1.RecurrenceCatchUp
		want    string
	}{
		{eventsv1.RecurrenceCatchUp_RECURRENCE_CATCH_UP_UNSPECIFIED, "2024-03-07T09:00:00-05:00"},
		{eventsv1.RecurrenceCatchUp_RECURRENCE_CATCH_UP_KEEP_SCHEDULE, "2024-03-07T09:00:00-05:00"},
		{eventsv1.RecurrenceCatchUp_RECURRENCE_CATCH_UP_SKIP_TO_NOW, "2024-03-21T09:00:00-04:00"},
	}
	for _, tt := range tests {
		t.Run(tt.catchUp.String(), func(t *testing.T) {
			t.Parallel()
			in := weeklyTask()
			in.DueAt, in.RemindAt = ts("2024-03-04T09:00:00-05:00"), nil
			in.Recurrence.Rrule, in.Recurrence.CatchUp = "FREQ=WEEKLY;BYDAY=MO,TH", tt.catchUp
			next, ok, err := Next(in, done, now)
			if err != nil || !ok {
				t.Fatalf("Next = %v, %v, %v; want an occurrence", next, ok, err)
			}
			got := next.GetDueAt().AsTime().In(mustNY(t)).Format(time.RFC3339)
			if got != tt.want {
				t.Errorf("Next(%v) due = %s, want %s", tt.catchUp, got, tt.want)
			}
		})
	}
}

func mustNY(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatalf("load zone: %v", err)
	}
	return loc
}

func TestOccurrenceID(t *testing.T) {
	t.Parallel()
	// Expected values from Python's uuid.uuid5 with the same namespace (the first two) and
	// from the hand-rolled UUIDv5 this package had before it used google/uuid (the rest):
	// ids already stored by the Task API must not change.
	tests := []struct {
		series string
		index  uint32
		want   string
	}{
		{"0b6a4bd2-3f0e-4f1b-9a39-5f4b0f0d3c11", 4, "dc0ab51b-e7f0-5dbc-9d79-49e950a32f7b"},
		{"series-x", 1, "94dfb29a-4309-56bc-98d3-85ff8ad63698"},
		{"series-x", 0, "5fa9c3c7-fae9-5e7d-991c-a5b5b316ce34"},
		{"0f8fad5b-d9cb-469f-a165-70867728950e", 4294967295, "cac0e624-510a-5ef1-b633-729f86e94a1c"},
		{"", 0, "93b6a914-f6ae-569e-a673-6242d98c8f50"},
		{"Wäsche/β", 42, "1caabfa4-4f01-5496-b1c8-7795b9dc5a8e"},
		{"a/b", 7, "f27d08cd-3ac8-5abb-a3aa-91dd574ceb93"},
	}
	if got, want := namespace.String(), "5bb750dc-f23d-52a2-860a-7bdde4dce779"; got != want {
		t.Errorf("namespace = %s, want %s", got, want)
	}
	for _, tt := range tests {
		if got := OccurrenceID(tt.series, tt.index); got != tt.want {
			t.Errorf("OccurrenceID(%q, %d) = %s, want %s", tt.series, tt.index, got, tt.want)
		}
	}
}
