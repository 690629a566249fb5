package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "github.com/taskflow/taskflow-events/gen/taskflow/audit/v1"
	"github.com/taskflow/taskflow-events/internal/daprpub"
	"github.com/taskflow/taskflow-events/internal/wire"
	"github.com/taskflow/taskflow-events/services/audit/auditsig"
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

// checkpointer makes a signed checkpoint every interval when the log has grown, logs it
// (audit_checkpoint, the whole checkpoint as protojson: a line auditors can ship to
// write-once storage) and publishes it to the checkpoint topic. A checkpoint whose publish
// failed is retried with the next round (the newest 100 are kept).
type checkpointer struct {
	store   *auditlog.Store
	pub     *daprpub.Publisher
	topic   string
	logger  *slog.Logger
	mu      sync.Mutex
	pending []*auditv1.Checkpoint
}

// maxUnpublished bounds the checkpoints kept for another publish attempt.
const maxUnpublished = 100

func (c *checkpointer) loop(ctx context.Context, every time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		c.once(ctx)
	}
}

// once makes a checkpoint if the log grew, then publishes what is unpublished.
func (c *checkpointer) once(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp, err := c.store.Checkpoint(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.logger.WarnContext(ctx, "checkpoint_failed", "error", err.Error())
		}
		return
	}
	if cp != nil {
		p := auditsig.CheckpointProto(*cp)
		js, _ := protojson.Marshal(p)
		c.logger.InfoContext(ctx, "audit_checkpoint", "seq", cp.Seq, "key_id", cp.KeyID, "checkpoint", string(js))
		if c.topic != "" {
			c.pending = append(c.pending, p)
			if len(c.pending) > maxUnpublished {
				c.pending = c.pending[len(c.pending)-maxUnpublished:]
			}
		}
	}
	for len(c.pending) > 0 {
		p := c.pending[0]
		if err := c.pub.Publish(ctx, c.topic, wire.TypeAuditCheckpoint, wire.CheckpointKey, checkpointEvent{p}); err != nil {
			c.logger.WarnContext(ctx, "checkpoint_publish_failed", "seq", p.GetSeq(), "topic", c.topic, "error", err.Error())
			return
		}
		c.pending = c.pending[1:]
	}
}

// checkpointEvent gives a checkpoint the event id daprpub publishes it under.
type checkpointEvent struct{ *auditv1.Checkpoint }

func (c checkpointEvent) GetEventId() string { return fmt.Sprintf("audit-checkpoint-%d", c.GetSeq()) }
