package notify

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// Sender delivers a notification on one channel.
type Sender interface {
	// Check reports, without side effects, whether the reminder can ever be delivered on
	// this channel (an invalid address, say); its error is a permanent failure.
	Check(ev *eventsv1.ReminderEvent) error
	// Send delivers n. An error marked with Permanent fails the channel for good; any
	// other error is retried.
	Send(ctx context.Context, n *Notification) error
}

// Key identifies a reminder in the ledger and carries what queries need.
type Key struct {
	EventID, UserID, TaskID, NotificationID string
}

// Plan is what to record for a channel before anything is sent: Sending (about to be
// attempted), Held (quiet hours, until NextAttempt), or a final Failed or Skipped with the
// reason in Error. After an attempt it is the outcome: Delivered, Retrying (again at
// NextAttempt) or Failed.
type Plan struct {
	Channel Channel
	Status  Status
	Error   string
	// NextAttempt is when the scheduler attempts a Retrying or Held channel.
	NextAttempt time.Time
}

// Request is the plan of one reminder.
type Request struct {
	Key Key
	// Reminder is stored with the plan: the scheduler attempts later channels from it.
	Reminder *eventsv1.ReminderEvent
	// StaleAfter: an attempt after this instant skips the channel; zero never.
	StaleAfter time.Time
	Plans      []Plan
}

// Claim is one channel of one reminder to attempt now.
type Claim struct {
	EventID string
	Channel Channel
	// Since is when the ledger first saw this channel of the reminder.
	Since time.Time
	// Attempts is how many attempts the ledger counted before this one (an attempt
	// interrupted by a crash included).
	Attempts int
}

// DueClaim is a channel the scheduler claimed, with what it needs to attempt it.
type DueClaim struct {
	Claim
	Reminder   *eventsv1.ReminderEvent
	StaleAfter time.Time
}

// Outcome is the result of one claimed attempt.
type Outcome struct {
	EventID string
	Plan
	// Attempted is true when the outcome is that of a send (it counts as an attempt),
	// false when the channel was held or skipped without sending.
	Attempted bool
	// GaveUp marks a Failed outcome of a channel still failing transiently at the end of
	// the retry window.
	GaveUp bool
	// At is when the send ended (the receiver's answer): a delivered channel's
	// delivered_at. Zero for outcomes decided without sending, which take Finish's now.
	At time.Time
}

// Ledger remembers, per (event_id, channel), what was delivered and what is still to do.
type Ledger interface {
	// Begin records the plans for channels that are new, or not final and due (rows are
	// created on first sight, with the reminder), and returns the channels it marked
	// Sending, leased to the caller. Channels that are final, being sent by another
	// attempt or waiting for a later attempt are left alone and not returned. Event ids
	// in reqs are distinct.
	Begin(ctx context.Context, reqs []Request, now time.Time) ([]Claim, error)
	// Finish records the outcomes of the attempts Begin or Due returned.
	Finish(ctx context.Context, outcomes []Outcome, now time.Time) error
	// Due marks up to limit channels whose next attempt is due (Retrying or Held past
	// NextAttempt, Sending past its lease) Sending, leased to the caller, and returns them.
	// Concurrent callers never get the same channel.
	Due(ctx context.Context, now time.Time, limit int) ([]DueClaim, error)
}

// BatchSender is a Sender that can deliver many notifications in one call (in-app: one
// bulk publish). It returns one error per notification.
type BatchSender interface {
	SendBatch(ctx context.Context, ns []*Notification) []error
}

// Handler delivers reminders on every channel they ask for, at most once per channel
// as far as the ledger knows, and retries failed channels on its own schedule.
type Handler struct {
	ledger      Ledger
	prefs       PreferenceStore
	senders     map[Channel]Sender
	maxLateness time.Duration
	backoff     Backoff
	random      func() float64
	now         func() time.Time
	logger      *slog.Logger
	metrics     *Metrics

	// pending holds, in order, outcomes of sends whose Finish failed (the database was
	// down): they are recorded before anything else, and their channels are never sent
	// again by this process meanwhile. pendingMu also serialises the flushes.
	pendingMu sync.Mutex
	pending   []Outcome

	// ahead, when set, runs each batch's first attempt after its answer (AttemptAfterAck).
	ahead *afterAck
}

// sendConcurrency bounds concurrent webhook POSTs and SMTP sessions of one batch.
const sendConcurrency = 16

// NewHandler returns a Handler with DefaultBackoff, no preferences (defaults for every
// user) and no metrics. senders holds the configured channels; a reminder that asks for a
// missing one fails that channel permanently. A reminder handled more than maxLateness
// after its due time is skipped (0 disables the check).
func NewHandler(ledger Ledger, senders map[Channel]Sender, maxLateness time.Duration, now func() time.Time, logger *slog.Logger) *Handler {
	return &Handler{ledger: ledger, senders: senders, maxLateness: maxLateness, backoff: DefaultBackoff,
		random: rand.Float64, now: now, logger: logger}
}

// Schedule sets the retry schedule of transiently failing channels (the service's
// configuration checks it); random draws the jitter (rand.Float64 by default).
func (h *Handler) Schedule(b Backoff, random func() float64) {
	h.backoff = b
	if random != nil {
		h.random = random
	}
}

// UsePreferences reads users' channel choices and quiet hours from ps.
func (h *Handler) UsePreferences(ps PreferenceStore) { h.prefs = ps }

// UseMetrics counts deliveries in m.
func (h *Handler) UseMetrics(m *Metrics) { h.metrics = m }

// Handle delivers one reminder: it records the plan, makes the first attempt and records
// its outcomes. It returns nil after that attempt whatever its outcomes (the scheduler
// retries transient failures, finishes held channels and takes over crashed attempts),
// or with AttemptAfterAck as soon as the plan is recorded, and an error (redeliver) only
// when the ledger could not take the plan.
// logAttrs are added to its log lines (topic, trace_id).
func (h *Handler) Handle(ctx context.Context, ev *eventsv1.ReminderEvent, logAttrs ...any) error {
	return h.HandleBatch(ctx, []*eventsv1.ReminderEvent{ev}, logAttrs...)[0]
}

// HandleBatch delivers reminders with one ledger round trip before (two when some of
// their users have stored preferences) and one after all sends, and returns one result per
// reminder, as Handle does. Copies of the same event_id in a batch share the first copy's
// result.
func (h *Handler) HandleBatch(ctx context.Context, evs []*eventsv1.ReminderEvent, logAttrs ...any) []error {
	errs := make([]error, len(evs))
	fail := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	if err := h.FlushPending(ctx); err != nil {
		// Begin would fail as well; the reminders come back once the ledger is reachable.
		return fail(err)
	}
	// With AttemptAfterAck, a slot for the first attempt is taken before the channels are
	// leased (the lease counts from now, after any wait for a slot), so that the attempt
	// starts right after Begin and ends well inside the lease.
	release, async, err := h.ahead.reserve(ctx)
	if err != nil {
		return fail(err)
	}
	now := h.now()
	notes := make(map[string]*Notification, len(evs))
	distinct := make([]*eventsv1.ReminderEvent, 0, len(evs))
	for _, ev := range evs {
		if _, dup := notes[ev.GetEventId()]; !dup {
			notes[ev.GetEventId()] = New(ev, now)
			distinct = append(distinct, ev)
		}
	}
	claims, unrecorded, err := h.begin(ctx, distinct, notes, now)
	if err != nil {
		release()
		return fail(err)
	}
	for i, ev := range evs {
		errs[i] = unrecorded[ev.GetEventId()]
	}
	// From here on the ledger holds every reminder it recorded: whatever happens to the
	// sends, the scheduler finishes them (a crash leaves the channels sending until the
	// lease runs out), so those events are acknowledged — after this first attempt, or with
	// AttemptAfterAck at once while it runs.
	h.attemptAfterAnswer(ctx, release, async, claims, notes, logAttrs...)
	return errs
}

// begin plans the distinct reminders with their users' preferences and records the plans
// in the ledger. With a ledger that is also the preference store and a DefaultsBeginner,
// the plans of users without stored preferences are
// recorded in the same round trip that reads the others' preferences, and only those
// others cost a second one; when that second one fails, their reminders are returned in
// unrecorded with the error (answered RETRY), and the rest go ahead.
func (h *Handler) begin(ctx context.Context, evs []*eventsv1.ReminderEvent, notes map[string]*Notification, now time.Time) (claims []Claim, unrecorded map[string]error, err error) {
	plan := func(evs []*eventsv1.ReminderEvent, prefs map[string]Preferences) []Request {
		reqs := make([]Request, 0, len(evs))
		for _, ev := range evs {
			reqs = append(reqs, h.request(ev, notes[ev.GetEventId()], prefs[ev.GetUserId()], now))
		}
		return reqs
	}
	record := func(evs []*eventsv1.ReminderEvent, prefs map[string]Preferences) ([]Claim, error) {
		reqs := plan(evs, prefs)
		claims, err := h.ledger.Begin(ctx, reqs, now)
		if err != nil {
			return nil, fmt.Errorf("begin deliveries: %w", err)
		}
		h.countPlans(reqs)
		return claims, nil
	}
	// Only when the preferences and the ledger are one store (ledger.Store): BeginDefaults
	// reads the preferences its own statement filters by.
	db, ok := h.ledger.(DefaultsBeginner)
	if !ok || h.prefs == nil || any(h.prefs) != any(h.ledger) {
		users := make([]string, 0, len(evs))
		for _, ev := range evs {
			users = append(users, ev.GetUserId())
		}
		prefs, err := h.preferences(ctx, users)
		if err != nil {
			return nil, nil, err
		}
		claims, err := record(evs, prefs)
		return claims, nil, err
	}
	reqs := plan(evs, nil)
	claims, prefs, err := db.BeginDefaults(ctx, reqs, now)
	if err != nil {
		return nil, nil, fmt.Errorf("begin deliveries: %w", err)
	}
	var rest []*eventsv1.ReminderEvent
	for i, ev := range evs {
		if _, has := prefs[ev.GetUserId()]; has {
			rest = append(rest, ev)
		} else {
			h.countPlans(reqs[i : i+1])
		}
	}
	if len(rest) == 0 {
		return claims, nil, nil
	}
	more, err := record(rest, prefs)
	if err != nil {
		unrecorded = make(map[string]error, len(rest))
		for _, ev := range rest {
			unrecorded[ev.GetEventId()] = err
		}
		return claims, unrecorded, nil
	}
	return append(claims, more...), nil, nil
}

// preferences reads the preferences of the distinct users.
func (h *Handler) preferences(ctx context.Context, users []string) (map[string]Preferences, error) {
	if h.prefs == nil {
		return nil, nil
	}
	seen := make(map[string]bool, len(users))
	distinct := users[:0:0]
	for _, u := range users {
		if !seen[u] {
			seen[u] = true
			distinct = append(distinct, u)
		}
	}
	p, err := h.prefs.Preferences(ctx, distinct)
	if err != nil {
		return nil, fmt.Errorf("read delivery preferences: %w", err)
	}
	return p, nil
}
