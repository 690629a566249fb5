package loadtest

import (
	"context"
	"fmt"
	"time"
)

// incremental is what Poll keeps between calls: the audit rows and ledger rows read so far,
// so that each poll reads only what changed instead of every row since the start.
type incremental struct {
	auditSeq int64   // every audit row up to this seq has been read
	audit    Effects // its Audit, AuditAt and AuditInApp
	// ledger rows by event and channel, re-read when their updated_at is at or after
	// ledgerFrom (the newest updated_at seen, minus ledgerOverlap).
	ledger     map[string]map[string]ledgerRow
	ledgerFrom time.Time
}

type ledgerRow struct {
	status      string
	attempts    int
	deliveredAt *time.Time
}

// ledgerOverlap is how far back each poll re-reads the ledger: updated_at is the
// service's clock at its statement, and the row becomes visible at commit, a little later.
const ledgerOverlap = 2 * time.Second

// Poll reads what changed since the last Poll and returns every effect so far, like
// Effects. It is for watching a run progress: a benchmark that re-read both tables every
// second loaded PostgreSQL (which audit and notification write to) and the load tool's own
// process with work that grew with the run. One goroutine may call it at a time; the
// returned audit and ledger maps are only valid until the next call. Settle a result with
// Effects, which reads everything again.
func (o *Observer) Poll(ctx context.Context) (Effects, error) {
	inc := &o.inc
	if inc.ledger == nil {
		*inc = incremental{audit: Effects{Audit: map[string]int{}, AuditAt: map[string]time.Time{}, AuditInApp: map[string]int{}},
			ledger: map[string]map[string]ledgerRow{}, ledgerFrom: o.since}
	}
	if err := o.pollAudit(ctx, inc); err != nil {
		return Effects{}, err
	}
	if err := o.pollLedger(ctx, inc); err != nil {
		return Effects{}, err
	}
	if o.sink != nil {
		// Nothing polls the sink in the background (mailpit has pollMail).
		if err := o.readNewMail(ctx); err != nil {
			return Effects{}, err
		}
	}
	e := Effects{Audit: inc.audit.Audit, AuditAt: inc.audit.AuditAt, AuditInApp: inc.audit.AuditInApp,
		Ledger: map[string]map[string]string{}, LedgerAt: map[string]time.Time{}, Attempts: map[string]map[string]int{}}
	for id, chans := range inc.ledger {
		st, att := make(map[string]string, len(chans)), make(map[string]int, len(chans))
		for ch, r := range chans {
			st[ch], att[ch] = r.status, r.attempts
			if r.deliveredAt != nil && r.deliveredAt.After(e.LedgerAt[id]) {
				e.LedgerAt[id] = *r.deliveredAt
			}
		}
		e.Ledger[id], e.Attempts[id] = st, att
	}
	o.otherEffects(&e)
	return e, nil
}

// pollAudit reads the audit rows after inc.auditSeq. seq is dense (1, 2, 3, … with no gap,
// numbered under the chain lock), so a gap is a row not committed yet: reading stops before
// it and takes it up next time.
func (o *Observer) pollAudit(ctx context.Context, inc *incremental) error {
	rows, err := o.audit.Query(ctx, `SELECT seq, received_at >= $2, event_id, kind, task_id, received_at FROM audit_events WHERE seq > $1 ORDER BY seq`, inc.auditSeq, o.since)
	if err != nil {
		return fmt.Errorf("read the audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var mine bool
		var id, kind, task string
		var at time.Time
		if err := rows.Scan(&seq, &mine, &id, &kind, &task, &at); err != nil {
			return fmt.Errorf("read the audit log: %w", err)
		}
		if seq != inc.auditSeq+1 {
			break
		}
		inc.auditSeq = seq
		if !mine {
			continue
		}
		inc.audit.addAuditRow(id, kind, task, at)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the audit log: %w", err)
	}
	return nil
}

// pollLedger re-reads the ledger rows updated since inc.ledgerFrom.
func (o *Observer) pollLedger(ctx context.Context, inc *incremental) error {
	rows, err := o.ledger.Query(ctx, `SELECT event_id, channel, status, attempts, delivered_at, updated_at FROM notification_deliveries WHERE created_at >= $1 AND updated_at >= $2`, o.since, inc.ledgerFrom)
	if err != nil {
		return fmt.Errorf("read the notification ledger: %w", err)
	}
	defer rows.Close()
	newest := inc.ledgerFrom
	for rows.Next() {
		var id, ch string
		var r ledgerRow
		var updated time.Time
		if err := rows.Scan(&id, &ch, &r.status, &r.attempts, &r.deliveredAt, &updated); err != nil {
			return fmt.Errorf("read the notification ledger: %w", err)
		}
		if inc.ledger[id] == nil {
			inc.ledger[id] = map[string]ledgerRow{}
		}
		inc.ledger[id][ch] = r
		if updated.After(newest) {
			newest = updated
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the notification ledger: %w", err)
	}
	if from := newest.Add(-ledgerOverlap); from.After(inc.ledgerFrom) {
		inc.ledgerFrom = from
	}
	return nil
}
