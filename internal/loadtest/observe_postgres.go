package loadtest

import (
	"context"
	"fmt"
	"time"
)

// readAudit adds the audit log's rows since the observer started to e.
func (o *Observer) readAudit(ctx context.Context, e *Effects) error {
	rows, err := o.audit.Query(ctx, `SELECT event_id, kind, task_id, received_at FROM audit_events WHERE received_at >= $1`, o.since)
	if err != nil {
		return fmt.Errorf("read the audit log: %w", err)
	}
	for rows.Next() {
		var id, kind, task string
		var at time.Time
		if err := rows.Scan(&id, &kind, &task, &at); err != nil {
			rows.Close()
			return fmt.Errorf("read the audit log: %w", err)
		}
		e.addAuditRow(id, kind, task, at)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the audit log: %w", err)
	}
	return nil
}

// addAuditRow counts one audit row: its event, its first time, and an audited in-app
// notification by task.
func (e *Effects) addAuditRow(id, kind, task string, at time.Time) {
	e.Audit[id]++
	if first, ok := e.AuditAt[id]; !ok || at.Before(first) {
		e.AuditAt[id] = at
	}
	if kind == "update.notification" {
		e.AuditInApp[task]++
	}
}

// readLedger adds the notification ledger's rows since the observer started to e.
func (o *Observer) readLedger(ctx context.Context, e *Effects) error {
	rows, err := o.ledger.Query(ctx, `SELECT event_id, channel, status, attempts, delivered_at FROM notification_deliveries WHERE created_at >= $1`, o.since)
	if err != nil {
		return fmt.Errorf("read the notification ledger: %w", err)
	}
	for rows.Next() {
		var id, ch, st string
		var attempts int
		var at *time.Time
		if err := rows.Scan(&id, &ch, &st, &attempts, &at); err != nil {
			rows.Close()
			return fmt.Errorf("read the notification ledger: %w", err)
		}
		if e.Ledger[id] == nil {
			e.Ledger[id] = map[string]string{}
		}
		e.Ledger[id][ch] = st
		if e.Attempts[id] == nil {
			e.Attempts[id] = map[string]int{}
		}
		e.Attempts[id][ch] = attempts
		if at != nil && at.After(e.LedgerAt[id]) {
			e.LedgerAt[id] = *at
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the notification ledger: %w", err)
	}
	return nil
}
