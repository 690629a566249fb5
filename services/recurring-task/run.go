package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	recurrencev1 "github.com/taskflow/taskflow-events/gen/taskflow/recurrence/v1"
	"github.com/taskflow/taskflow-events/internal/daprconn"
	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/grpcapp"
	"github.com/taskflow/taskflow-events/internal/telemetry"
	"github.com/taskflow/taskflow-events/services/recurring-task/internal/nexttask"
	"github.com/taskflow/taskflow-events/services/recurring-task/internal/previewapi"
	"github.com/taskflow/taskflow-events/services/recurring-task/internal/taskapi"
)

const serviceName = "recurring-task-service"

// run reads the configuration, wires the service and serves until ctx ends.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := readConfig(getenv)
	if err != nil {
		return fmt.Errorf("read configuration: %w", err)
	}
	logger, err := telemetry.NewLogger(stdout, cfg.App.LogLevel, serviceName, version)
	if err != nil {
		return err
	}
	// The connection is lazy: the service starts before its sidecar does.
	client, err := daprconn.New(cfg.Dapr)
	if err != nil {
		return err
	}

	app := grpcapp.New(cfg.App, logger)
	recurrencev1.RegisterRecurrenceServiceServer(app.GRPC, &previewapi.Server{})
	// A rule, a start, a zone and at most 1,000 exdates (~12 KiB).
	app.LimitRequests("/taskflow.recurrence.v1.RecurrenceService/Preview", 64<<10)
	handler := nexttask.New(taskapi.New(client, cfg.TaskAPIAppID, cfg.TaskAPICreateMethod), time.Now)
	subscribe(app, cfg, handleEvent(logger, handler))
	app.OnShutdown(func(context.Context) error {
		if err := client.GrpcClientConn().Close(); err != nil {
			return fmt.Errorf("close dapr client: %w", err)
		}
		return nil
	})
	return app.Run(ctx)
}

// subscribe wires the task-events subscription: in bulk when BULK_MAX_MESSAGES > 1 (the
// default), with the Task API creates of a request in parallel; one event per call otherwise.
func subscribe(app *grpcapp.App, cfg Config, handle daprsub.Handler[*eventsv1.TaskEvent]) {
	sub := daprsub.Subscription{
		PubsubName:      cfg.App.PubsubName,
		Topic:           cfg.Topic,
		DeadLetterTopic: cfg.DeadLetterTopic,
		Timeout:         cfg.EventTimeout,
	}
	if cfg.BulkMaxMessages <= 1 {
		sub.Rules = []daprsub.Rule{{Match: fmt.Sprintf("event.type == %q", CompletedType), Path: "/task-completed"}}
		// daprd (1.14 to 1.17.5, TestDaprdRuntimeBehaviour) copies every event that matches
		// no rule to the dead-letter topic (pkg/runtime/subscription/subscription.go), which
		// would fill it with every created/updated/deleted event. The default route takes
		// them and acks them.
		sub.Default = "/task-events-ignored"
		daprsub.Handle(app.Events, sub, handle)
		return
	}
	// No routing rule in bulk: daprsub asks for the raw records (rawPayload), and daprd
	// would evaluate the rule against those bytes rather than the CloudEvent
	// (pkg/runtime/subscription/bulksubscription.go). handleEvent looks at the type itself.
	sub.Bulk = &daprsub.Bulk{MaxMessages: int32(cfg.BulkMaxMessages), MaxAwait: cfg.BulkMaxAwait}
	// The events of a request are handled each on its own, TASK_API_CONCURRENCY at a time:
	// the time goes into the Task API round trip. Creates are idempotent (the next
	// occurrence's id comes from series and index), so two deliveries of one completion in
	// one request create one task; the second is answered 409, a success.
	daprsub.HandleEach(app.Events, sub, cfg.TaskAPIConcurrency, handle)
}

// handleEvent adapts the next-task handler to the callback runtime: permanent errors
// become DROP, outcomes other than failures are logged here.
func handleEvent(logger *slog.Logger, h *nexttask.Handler) daprsub.Handler[*eventsv1.TaskEvent] {
	return func(ctx context.Context, meta daprsub.Meta, ev *eventsv1.TaskEvent) error {
		// An unset kind (e.g. "kind": "completed" from a JSON producer) or a kind that
		// disagrees with the type is dropped with the reason, never acked silently.
		if err := daprsub.CheckTaskEvent(meta.Type, ev); err != nil {
			return daprsub.Permanent(err)
		}
		if meta.Type != CompletedType {
			logger.DebugContext(ctx, "event_ignored", "event_id", ev.GetEventId(), "topic", meta.Topic,
				"trace_id", meta.TraceID, "type", meta.Type, "reason", "not a completion")
			return nil
		}
		res, err := h.Handle(ctx, ev)
		if err != nil {
			if errors.Is(err, nexttask.ErrPermanent) {
				return daprsub.Permanent(err)
			}
			return err
		}
		attrs := []any{"event_id", ev.GetEventId(), "topic", meta.Topic, "trace_id", meta.TraceID,
			"task_id", ev.GetTask().GetId(), "series_id", ev.GetTask().GetRecurrence().GetSeriesId()}
		switch res.Action {
		case nexttask.Created:
			logger.InfoContext(ctx, "next_occurrence_created", append(attrs,
				"next_task_id", res.Next.GetId(),
				"occurrence_index", res.Next.GetRecurrence().GetOccurrenceIndex(),
				"due_at", res.Next.GetDueAt().AsTime().Format(time.RFC3339))...)
		case nexttask.Ended:
			logger.InfoContext(ctx, "series_ended", append(attrs, "reason", res.Reason)...)
		default:
			logger.DebugContext(ctx, "event_ignored", append(attrs, "reason", res.Reason)...)
		}
		return nil
	}
}
