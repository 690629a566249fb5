package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/taskflow/taskflow-events/services/audit/internal/auditlog"
)

// maintain creates partitions ahead of time and applies retention, at start and every
// MaintenanceInterval, until ctx ends. Failures are logged and retried next round.
func maintain(ctx context.Context, store *auditlog.Store, cfg Config, now func() time.Time, logger *slog.Logger) {
	for {
		t := now()
		if err := store.EnsurePartitions(ctx, t, cfg.PartitionsAhead); err != nil && ctx.Err() == nil {
			logger.WarnContext(ctx, "partition_maintenance_failed", "error", err.Error())
		}
		if cfg.Retention > 0 {
			dropped, err := store.DropBefore(ctx, t.Add(-cfg.Retention))
			for _, m := range dropped {
				logger.InfoContext(ctx, "partition_dropped", "month", m.Format("2006-01"))
			}
			if err != nil && ctx.Err() == nil {
				logger.WarnContext(ctx, "retention_failed", "error", err.Error())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.MaintenanceInterval):
		}
	}
}
