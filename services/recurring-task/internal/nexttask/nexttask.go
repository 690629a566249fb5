// Package nexttask turns a completed recurring task into its next occurrence and hands
// it to the Task API. It knows nothing about Dapr: the caller maps ErrPermanent to DROP.
package nexttask

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/services/recurring-task/internal/recurrence"
)

// ErrPermanent is wrapped by every error that retrying cannot fix: an invalid rule or
// time zone in the event, or a task the Task API rejected.
var ErrPermanent = errors.New("permanent failure")

// Creator creates a task at the Task API. It returns nil when the task was created or
// already existed with that idempotency key, an error wrapping ErrPermanent when the
// Task API rejected it, and any other error when the call may succeed later.
type Creator interface {
	Create(ctx context.Context, task *eventsv1.Task, idempotencyKey string) error
}

// Action says what Handle did with an event.
type Action int

const (
	// Ignored: not a completion, or the task does not recur.
	Ignored Action = iota
	// Ended: the series has no further occurrence (COUNT or UNTIL reached).
	Ended
	// Created: the next occurrence was created (or already existed).
	Created
)

func (a Action) String() string {
	switch a {
	case Ended:
		return "series_ended"
	case Created:
		return "created"
	default:
		return "ignored"
	}
}

// Result reports the outcome of one event.
type Result struct {
	Action Action
	// Next is the task that was created (Action Created).
	Next *eventsv1.Task
	// Reason explains Ignored and Ended.
	Reason string
}

// Handler creates the next occurrence of completed recurring tasks.
type Handler struct {
	creator Creator
	now     func() time.Time
}

// New returns a Handler that creates tasks through creator; now is the clock used when
// an event carries neither completed_at nor occurred_at.
func New(creator Creator, now func() time.Time) *Handler {
	if now == nil {
		now = time.Now
	}
	return &Handler{creator: creator, now: now}
}

// Handle processes one task event.
func (h *Handler) Handle(ctx context.Context, ev *eventsv1.TaskEvent) (Result, error) {
	if ev.GetKind() == eventsv1.TaskEventKind_TASK_EVENT_KIND_UNSPECIFIED {
		return Result{}, fmt.Errorf("%w: task event %s has no kind", ErrPermanent, ev.GetEventId())
	}
	if ev.GetKind() != eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED {
		return Result{Reason: "event kind " + ev.GetKind().String() + " is not a completion"}, nil
	}
	task := ev.GetTask()
	if task == nil {
		return Result{}, fmt.Errorf("%w: completed event %s has no task", ErrPermanent, ev.GetEventId())
	}
	if task.GetRecurrence().GetRrule() == "" {
		return Result{Reason: "task does not recur"}, nil
	}
	next, ok, err := Next(task, completedAt(ev, h.now), h.now())
	if err != nil {
		return Result{}, fmt.Errorf("compute next occurrence of task %s: %w", task.GetId(), err)
	}
	if !ok {
		return Result{Action: Ended, Reason: "series ended (COUNT or UNTIL reached)"}, nil
	}
	if err := h.creator.Create(ctx, next, next.GetId()); err != nil {
		return Result{}, fmt.Errorf("create occurrence %d of series %s: %w",
			next.GetRecurrence().GetOccurrenceIndex(), next.GetRecurrence().GetSeriesId(), err)
	}
	return Result{Action: Created, Next: next}, nil
}

func completedAt(ev *eventsv1.TaskEvent, now func() time.Time) time.Time {
	if t := ev.GetTask().GetCompletedAt(); t != nil {
		return t.AsTime()
	}
	if t := ev.GetOccurredAt(); t != nil {
		return t.AsTime()
	}
	return now()
}

// Next builds the task that follows task, completed at done and processed at now (which
// only the catch-up option RECURRENCE_CATCH_UP_SKIP_TO_NOW looks at), or reports false when
// the series has ended. Errors about the rule, the time zone or missing fields, and a rule
// too sparse to evaluate within the engine's limits, wrap ErrPermanent.
func Next(task *eventsv1.Task, done, now time.Time) (*eventsv1.Task, bool, error) {
	rec := task.GetRecurrence()
	loc, err := recurrence.LoadLocation(task.GetTimeZone())
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	rule, err := recurrence.ParseRule(rec.GetRrule())
	if err != nil {
		return nil, false, fmt.Errorf("%w: rrule %q: %w", ErrPermanent, rec.GetRrule(), err)
	}
	if task.GetDueAt() == nil {
		return nil, false, fmt.Errorf("%w: recurring task %s has no due_at", ErrPermanent, task.GetId())
	}
	c := recurrence.Completion{
		Rule: rule, Location: loc, Index: int(rec.GetOccurrenceIndex()),
		Due: task.GetDueAt().AsTime(), CompletedAt: done, Now: now,
	}
	if rec.GetDtstart() != nil {
		c.DTStart = rec.GetDtstart().AsTime()
	}
	for _, e := range rec.GetExdates() {
		c.Exdates = append(c.Exdates, e.AsTime())
	}
	for _, r := range rec.GetRdates() {
		c.Rdates = append(c.Rdates, r.AsTime())
	}
	if rec.GetAnchor() == eventsv1.RecurrenceAnchor_RECURRENCE_ANCHOR_COMPLETION {
		c.Anchor = recurrence.AnchorCompletion
	}
	if rec.GetCatchUp() == eventsv1.RecurrenceCatchUp_RECURRENCE_CATCH_UP_SKIP_TO_NOW {
		c.CatchUp = recurrence.CatchUpSkipToNow
	}
	due, ok, err := recurrence.NextOccurrence(c)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	if !ok {
		return nil, false, nil
	}

	seriesID := rec.GetSeriesId()
	if seriesID == "" {
		seriesID = task.GetId()
	}
	nextRec := proto.CloneOf(rec)
	nextRec.SeriesId = seriesID
	nextRec.OccurrenceIndex = rec.GetOccurrenceIndex() + 1
	if nextRec.Dtstart == nil && rec.GetOccurrenceIndex() == 0 {
		nextRec.Dtstart = task.GetDueAt()
	}
	next := &eventsv1.Task{
		Id:          OccurrenceID(seriesID, nextRec.OccurrenceIndex),
		UserId:      task.GetUserId(),
		Title:       task.GetTitle(),
		Description: task.GetDescription(),
		Status:      eventsv1.TaskStatus_TASK_STATUS_OPEN,
		Priority:    task.GetPriority(),
		Tags:        append([]string(nil), task.GetTags()...),
		DueAt:       timestamppb.New(due),
		TimeZone:    task.GetTimeZone(),
		Recurrence:  nextRec,
	}
	if r := task.GetRemindAt(); r != nil {
		next.RemindAt = timestamppb.New(due.Add(r.AsTime().Sub(task.GetDueAt().AsTime())))
	}
	return next, true, nil
}
