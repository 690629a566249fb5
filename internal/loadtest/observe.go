package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
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
	cancel     context.CancelFunc
	done       sync.WaitGroup
}

// Observe starts watching s: a WebSocket client for the dev user (it reconnects and
// resumes when the service restarts) and a poller of the Task API double.
func Observe(ctx context.Context, s *devstack.Stack) (*Observer, error) {
	o := &Observer{s: s, since: time.Now().Add(-time.Second), seriesN: map[string]int{}, seriesAt: map[string]time.Time{},
		wsUpdate: map[string]int{}, wsUpdateAt: map[string]time.Time{}, wsNotif: map[string]int{},
		mailSeen: map[string]string{}, mail: map[string]int{}}
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
		created := o.s.TaskAPI.Created()
		now := time.Now()
		o.mu.Lock()
		for _, task := range created[o.seenTasks:] {
			id := task.GetRecurrence().GetSeriesId()
			o.seriesN[id]++
			if _, ok := o.seriesAt[id]; !ok {
				o.seriesAt[id] = now
			}
		}
		o.seenTasks = len(created)
		o.mu.Unlock()
	}
}

type wsFrame struct {
	Seq   *uint64 `json:"seq"`
	Epoch string  `json:"epoch"`
	Type  string  `json:"type"`
	Data  struct {
		EventID      string `json:"event_id"`
		Notification struct {
			TaskID string `json:"task_id"`
		} `json:"notification"`
	} `json:"data"`
}

// watchWS keeps a WebSocket connection as the dev user, resuming after a disconnect.
func (o *Observer) watchWS(ctx context.Context, first chan<- error) {
	var since, epoch string
	started := false
	for ctx.Err() == nil {
		u := o.s.Info.WebSocketURL
		if epoch != "" {
			u += "?since=" + since + "&epoch=" + epoch
		}
		h := http.Header{"Authorization": {"Bearer " + o.s.Info.DevToken}}
		conn, _, err := websocket.DefaultDialer.DialContext(ctx, u, h)
		if err != nil {
			if !started {
				first <- fmt.Errorf("connect to the WebSocket service: %w", err)
				return
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		o.mu.Lock()
		o.wsConns++
		o.mu.Unlock()
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				break
			}
			now := time.Now()
			var f wsFrame
			if json.Unmarshal(msg, &f) != nil {
				continue
			}
			if f.Seq != nil {
				since, epoch = fmt.Sprint(*f.Seq), f.Epoch
			}
			o.mu.Lock()
			switch f.Type {
			case "welcome", "resync":
				if !started {
					started = true
					first <- nil
				}
			case "task_change":
				o.wsUpdate[f.Data.EventID]++
				if _, ok := o.wsUpdateAt[f.Data.EventID]; !ok {
					o.wsUpdateAt[f.Data.EventID] = now
				}
			case "notification":
				o.wsNotif[f.Data.Notification.TaskID]++
			}
			o.mu.Unlock()
		}
		stop()
		conn.Close()
		if !started {
			first <- fmt.Errorf("the WebSocket service closed the connection before its welcome frame")
			return
		}
	}
}

// Effects reads every effect so far.
func (o *Observer) Effects(ctx context.Context) (Effects, error) {
	e := Effects{Audit: map[string]int{}, AuditAt: map[string]time.Time{}, AuditInApp: map[string]int{},
		Ledger: map[string]map[string]string{}, LedgerAt: map[string]time.Time{}, Attempts: map[string]map[string]int{}}
	rows, err := o.audit.Query(ctx, `SELECT event_id, kind, task_id, received_at FROM audit_events WHERE received_at >= $1`, o.since)
	if err != nil {
		return e, fmt.Errorf("read the audit log: %w", err)
	}
	for rows.Next() {
		var id, kind, task string
		var at time.Time
		if err := rows.Scan(&id, &kind, &task, &at); err != nil {
			rows.Close()
			return e, fmt.Errorf("read the audit log: %w", err)
		}
		e.Audit[id]++
		if first, ok := e.AuditAt[id]; !ok || at.Before(first) {
			e.AuditAt[id] = at
		}
		if kind == "update.notification" {
			e.AuditInApp[task]++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return e, fmt.Errorf("read the audit log: %w", err)
	}
	rows, err = o.ledger.Query(ctx, `SELECT event_id, channel, status, attempts, delivered_at FROM notification_deliveries WHERE created_at >= $1`, o.since)
	if err != nil {
		return e, fmt.Errorf("read the notification ledger: %w", err)
	}
	for rows.Next() {
		var id, ch, st string
		var attempts int
		var at *time.Time
		if err := rows.Scan(&id, &ch, &st, &attempts, &at); err != nil {
			rows.Close()
			return e, fmt.Errorf("read the notification ledger: %w", err)
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
		return e, fmt.Errorf("read the notification ledger: %w", err)
	}
	// The mail poller may be up to one round behind: catch up first.
	if err := o.readNewMail(ctx); err != nil {
		return e, err
	}
	o.mu.Lock()
	e.Mail = copyMap(o.mail)
	e.Series, e.SeriesAt = copyMap(o.seriesN), copyMap(o.seriesAt)
	e.WSUpdate, e.WSUpdateAt, e.WSNotif = copyMap(o.wsUpdate), copyMap(o.wsUpdateAt), copyMap(o.wsNotif)
	o.mu.Unlock()
	return e, nil
}

func copyMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// pollMail keeps a copy of mailpit's message list: mailpit prunes all but its newest
// 500 messages (its --max default), so counting at the end would lose mails.
func (o *Observer) pollMail(ctx context.Context) {
	for ctx.Err() == nil {
		_ = o.readNewMail(ctx) // a failed read is retried; Effects reports errors
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// readNewMail reads mailpit's list, newest first, until a whole page holds only messages it
// has seen: concurrent SMTP sessions are stored out of order, so a message older than one
// already seen can still appear below it.
func (o *Observer) readNewMail(ctx context.Context) error {
	o.mailMu.Lock()
	defer o.mailMu.Unlock()
	const page = 200
	fresh := map[string]string{}
	for start := 0; ; start += page {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/messages?start=%d&limit=%d", o.s.Info.MailUI, start, page), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("list mails: %w", err)
		}
		var body struct {
			Messages []struct {
				ID      string `json:"ID"`
				Subject string `json:"Subject"`
			} `json:"messages"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("list mails: %w", err)
		}
		allKnown := true
		o.mu.Lock()
		for _, m := range body.Messages {
			if _, ok := o.mailSeen[m.ID]; ok {
				continue
			}
			allKnown = false
			fresh[m.ID] = m.Subject
		}
		o.mu.Unlock()
		if allKnown || len(body.Messages) < page {
			break
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for id, subject := range fresh {
		o.mailSeen[id] = subject
		if _, task, ok := strings.Cut(subject, "Reminder: Reminder "); ok {
			o.mail[task]++
		}
	}
	return nil
}
