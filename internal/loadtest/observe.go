package loadtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskflow/taskflow-events/internal/devstack"
)

// Effects is what the system did, counted per event so duplicates show: each map counts
// the effects of one event (by event_id, series, task or reminder title) and the *At maps
// hold when the first one happened.
type Effects struct {
	// Audit counts audit_events rows per event_id.
	Audit   map[string]int
	AuditAt map[string]time.Time
	// AuditInApp counts audited in-app notifications (update.notification) per task_id.
	AuditInApp map[string]int
	// Series counts tasks the Task API double created per recurrence series.
	Series   map[string]int
	SeriesAt map[string]time.Time
	// Ledger holds the notification ledger: event_id → channel → status.
	Ledger   map[string]map[string]string
	LedgerAt map[string]time.Time // the last channel's delivered_at
	// Attempts is the ledger's attempt count: event_id → channel → attempts. A channel
	// claimed again after its lease (its sender was killed mid-send) has 2 or more.
	Attempts map[string]map[string]int
	// Mail counts e-mails per task_id found in the subject.
	Mail map[string]int
	// WSUpdate counts task_change frames per event_id, WSNotif notification frames per task_id.
	WSUpdate   map[string]int
	WSUpdateAt map[string]time.Time
	WSNotif    map[string]int
}

// Observer watches a running stack's effects.
type Observer struct {
	s      *devstack.Stack
	audit  *pgxpool.Pool
	ledger *pgxpool.Pool
	since  time.Time

	mu         sync.Mutex
	seriesN    map[string]int
	seriesAt   map[string]time.Time
	seenTasks  int
	wsUpdate   map[string]int
	wsUpdateAt map[string]time.Time
	wsNotif    map[string]int
	wsConns    int
	mailSeen   map[string]string // mailpit message id → subject
	mail       map[string]int    // task id → mails
	mailMu     sync.Mutex        // one reader of mailpit at a time
	sink       *SMTPSink         // the e-mail receiver instead of mailpit, when not nil
	cancel     context.CancelFunc
	done       sync.WaitGroup
	inc        incremental // Poll's state
}

// Observe starts watching s: a WebSocket client for the dev user (it reconnects and
// resumes when the service restarts) and a poller of the Task API double. E-mails are
// counted in sink when it is not nil (the stack's notification service sends there),
// else in the stack's mailpit.
func Observe(ctx context.Context, s *devstack.Stack, sink *SMTPSink) (*Observer, error) {
	o := &Observer{s: s, since: time.Now().Add(-time.Second), seriesN: map[string]int{}, seriesAt: map[string]time.Time{},
		wsUpdate: map[string]int{}, wsUpdateAt: map[string]time.Time{}, wsNotif: map[string]int{},
		mailSeen: map[string]string{}, mail: map[string]int{}, sink: sink}
	var err error
	if o.audit, err = pgxpool.New(ctx, s.DSN("audit")); err != nil {
		return nil, fmt.Errorf("connect to the audit database: %w", err)
	}
	if o.ledger, err = pgxpool.New(ctx, s.DSN("notification")); err != nil {
		o.audit.Close()
		return nil, fmt.Errorf("connect to the notification database: %w", err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	first := make(chan error, 1)
	o.done.Add(3)
	go func() { defer o.done.Done(); o.pollMail(wctx) }()
	go func() { defer o.done.Done(); o.watchWS(wctx, first) }()
	go func() { defer o.done.Done(); o.pollTaskAPI(wctx) }()
	select {
	case err := <-first:
		if err != nil {
			o.Close()
			return nil, err
		}
	case <-ctx.Done():
		o.Close()
		return nil, ctx.Err()
	}
	return o, nil
}

// Close stops watching.
func (o *Observer) Close() {
	o.cancel()
	o.done.Wait()
	o.audit.Close()
	o.ledger.Close()
}

// WSConnections is how many times the WebSocket client connected.
func (o *Observer) WSConnections() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.wsConns
}

func (o *Observer) pollTaskAPI(ctx context.Context) {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Only the tasks created since the last tick: copying all of them every 2 ms
		// cost the load tool (which shares the cores with the measured services) CPU
		// that grew with the run.
		o.mu.Lock()
		seen := o.seenTasks
		o.mu.Unlock()
		created := o.s.TaskAPI.CreatedSince(seen)
		now := time.Now()
		o.mu.Lock()
		for _, task := range created {
			id := task.GetRecurrence().GetSeriesId()
			o.seriesN[id]++
			if _, ok := o.seriesAt[id]; !ok {
				o.seriesAt[id] = now
			}
		}
		o.seenTasks = seen + len(created)
		o.mu.Unlock()
	}
}

// Effects reads every effect so far.
func (o *Observer) Effects(ctx context.Context) (Effects, error) {
	e := Effects{Audit: map[string]int{}, AuditAt: map[string]time.Time{}, AuditInApp: map[string]int{},
		Ledger: map[string]map[string]string{}, LedgerAt: map[string]time.Time{}, Attempts: map[string]map[string]int{}}
	if err := o.readAudit(ctx, &e); err != nil {
		return e, err
	}
	if err := o.readLedger(ctx, &e); err != nil {
		return e, err
	}
	// The mail poller may be up to one round behind: catch up first.
	if err := o.readNewMail(ctx); err != nil {
		return e, err
	}
	o.otherEffects(&e)
	return e, nil
}

// otherEffects copies the effects the observer's goroutines collect (mails, created
// tasks, WebSocket frames) into e.
func (o *Observer) otherEffects(e *Effects) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e.Mail = copyMap(o.mail)
	e.Series, e.SeriesAt = copyMap(o.seriesN), copyMap(o.seriesAt)
	e.WSUpdate, e.WSUpdateAt, e.WSNotif = copyMap(o.wsUpdate), copyMap(o.wsUpdateAt), copyMap(o.wsNotif)
}

func copyMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
