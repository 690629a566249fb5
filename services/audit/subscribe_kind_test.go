package main

import (
	"context"
	"testing"
	"time"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/services/audit/internal/auditlog"
)

type appendRecorder struct{ recs []auditlog.Record }

func (a *appendRecorder) Append(_ context.Context, recs []auditlog.Record) (int, error) {
	a.recs = append(a.recs, recs...)
	return len(recs), nil
}

// A task event whose kind is unset or disagrees with its CloudEvent type is dropped; the
// rest of the batch is appended.
func TestBatchHandlerDropsTaskEventsWithBadKind(t *testing.T) {
	t.Parallel()
	completed := eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED
	evs := []daprsub.Event[*eventsv1.TaskEvent]{
		{Meta: daprsub.Meta{Type: "taskflow.task.completed.v1"}, Msg: &eventsv1.TaskEvent{EventId: "ok", Kind: completed}},
		{Meta: daprsub.Meta{Type: "taskflow.task.created.v1"}, Msg: &eventsv1.TaskEvent{EventId: "mismatch", Kind: completed}},
		{Meta: daprsub.Meta{Type: "taskflow.task.completed.v1"}, Msg: &eventsv1.TaskEvent{EventId: "no-kind"}},
	}
	log := &appendRecorder{}
	errs := batchHandler[*eventsv1.TaskEvent]("task-events", log, time.Now)(t.Context(), evs)
	for i, want := range []bool{false, true, true} {
		if got := daprsub.IsPermanent(errs[i]); got != want {
			t.Errorf("event %s: error %v, permanent %v, want %v", evs[i].Msg.GetEventId(), errs[i], got, want)
		}
	}
	if len(log.recs) != 1 || log.recs[0].EventID != "ok" {
		t.Errorf("appended %d records, want only event ok", len(log.recs))
	}
}
