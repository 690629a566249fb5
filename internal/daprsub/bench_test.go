package daprsub

import (
	"context"
	"encoding/base64"
	"log/slog"
	"testing"
	"time"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// benchEvent is a realistic completed-task event: full snapshot with recurrence and tags.
func benchEvent() *eventsv1.TaskEvent {
	ts := timestamppb.New(time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC))
	return &eventsv1.TaskEvent{
		EventId: "0b3c6f9e-5d2a-4c1e-9f7a-2d8e4b6a1c3f", Kind: eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED,
		OccurredAt: ts, ActorId: "user-42",
		Task: &eventsv1.Task{
			Id: "7f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", UserId: "user-42", Title: "Water the plants",
			Description: "Living room and balcony", Status: eventsv1.TaskStatus_TASK_STATUS_COMPLETED,
			Priority: eventsv1.TaskPriority_TASK_PRIORITY_MEDIUM, Tags: []string{"home", "plants"},
			DueAt: ts, RemindAt: ts, TimeZone: "Europe/Berlin", CreatedAt: ts, UpdatedAt: ts, CompletedAt: ts,
			Recurrence: &eventsv1.Recurrence{Rrule: "FREQ=WEEKLY;BYDAY=MO,TH", SeriesId: "series-1", OccurrenceIndex: 12},
		},
	}
}

// BenchmarkDecodeDispatch measures OnTopicEvent for one TaskEvent without the network:
// decode, Meta, handler call, status, metrics hook.
func BenchmarkDecodeDispatch(b *testing.B) {
	ev := benchEvent()
	for _, tc := range []struct {
		name, contentType string
		data              []byte
	}{
		{"binary", "application/octet-stream", mustBinary(b, ev)},
		{"json", "application/json", mustJSON(b, ev)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := NewServer(slog.New(slog.DiscardHandler), Options{})
			Handle(s, Subscription{PubsubName: "ps", Topic: "task-events"}, func(context.Context, Meta, *eventsv1.TaskEvent) error { return nil })
			req := &runtimev1.TopicEventRequest{PubsubName: "ps", Topic: "task-events", Id: "ce", Type: "taskflow.task.completed.v1",
				DataContentType: tc.contentType, Data: tc.data}
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.data)))
			for b.Loop() {
				resp, err := s.OnTopicEvent(ctx, req)
				if err != nil || resp.GetStatus() != runtimev1.TopicEventResponse_SUCCESS {
					b.Fatalf("OnTopicEvent = %v, %v", resp, err)
				}
			}
		})
	}
}
