// Package hub routes task updates to the WebSocket clients of their user and keeps a short
// per-user history so that a reconnecting client can resume where it left off.
package hub

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// Errors of Attach and Publish.
var (
	ErrInvalidUpdate = errors.New("invalid task update")
	ErrUserLimit     = errors.New("too many connections for this user")
	ErrProcessLimit  = errors.New("too many connections on this replica")
	ErrShuttingDown  = errors.New("shutting down")
)

// Config bounds the hub; zero values take the defaults in brackets.
type Config struct {
	HistorySize     int           // updates kept per user for resume [100]
	HistoryTTL      time.Duration // how long an update stays resumable [5m]
	MaxConnsPerUser int           // [16]
	MaxConns        int           // per process [50000]
	// Byte budgets of the resume history (see entrySize for what is counted); the oldest
	// updates go first when one is exceeded.
	HistoryUserBytes  int64 // per user [1 MiB]
	HistoryTotalBytes int64 // all users of the process together [64 MiB]
}

func (c *Config) defaults() {
	if c.HistorySize <= 0 {
		c.HistorySize = 100
	}
	if c.HistoryTTL <= 0 {
		c.HistoryTTL = 5 * time.Minute
	}
	if c.MaxConnsPerUser <= 0 {
		c.MaxConnsPerUser = 16
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 50000
	}
	if c.HistoryUserBytes <= 0 {
		c.HistoryUserBytes = 1 << 20
	}
	if c.HistoryTotalBytes <= 0 {
		c.HistoryTotalBytes = 64 << 20
	}
}

// Position is where a client's stream stands: the last seq it saw in an epoch.
type Position struct {
	Seq   uint64
	Epoch string
}

const shardCount = 64

type shard struct {
	mu    sync.Mutex
	users map[string]*stream
}

// stream is one user's sequence, history and connected clients (guarded by its shard).
type stream struct {
	user    string
	seq     uint64
	hist    []*entry // contiguous seqs, oldest first
	bytes   int64    // sum of the sizes of hist
	clients []*Client
}

// Hub is the process-wide registry of connections.
type Hub struct {
	cfg     Config
	epoch   string
	now     func() time.Time
	metrics *Metrics
	seed    maphash.Seed
	shards  [shardCount]shard
	ages    ages
	// published counts every update; a user's stream created anew starts its seq here, so
	// seqs of one user never repeat within an epoch even after its stream was reclaimed.
	published atomic.Uint64
	conns     atomic.Int64
	closed    atomic.Bool
}

// New returns a hub whose epoch (unique per process) is epoch.
func New(cfg Config, epoch string, now func() time.Time, m *Metrics) *Hub {
	cfg.defaults()
	if m == nil {
		m = NewMetrics(nil)
	}
	h := &Hub{cfg: cfg, epoch: epoch, now: now, metrics: m, seed: maphash.MakeSeed()}
	for i := range h.shards {
		h.shards[i].users = map[string]*stream{}
	}
	return h
}

// Epoch is this process's epoch.
func (h *Hub) Epoch() string { return h.epoch }

// Metrics returns the hub's collectors.
func (h *Hub) Metrics() *Metrics { return h.metrics }

// Conns is the number of attached clients.
func (h *Hub) Conns() int { return int(h.conns.Load()) }

func (h *Hub) shard(user string) *shard {
	return &h.shards[maphash.String(h.seed, user)%shardCount]
}

func (h *Hub) streamLocked(s *shard, user string) *stream {
	st := s.users[user]
	if st == nil {
		st = &stream{user: user, seq: h.published.Load()}
		s.users[user] = st
	}
	return st
}

// Attach registers c for its user's updates. With since, the frames the client missed are
// queued first (after a welcome frame at since) when they are all still in history;
// otherwise a resync frame at the current seq is queued. Without since a welcome frame at
// the current seq is queued.
func (h *Hub) Attach(c *Client, since *Position) error {
	if h.closed.Load() {
		return ErrShuttingDown
	}
	if n := h.conns.Add(1); n > int64(h.cfg.MaxConns) {
		h.conns.Add(-1)
		h.metrics.Rejected.WithLabelValues("process_limit").Inc()
		return ErrProcessLimit
	}
	s := h.shard(c.UserID)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := h.streamLocked(s, c.UserID)
	if len(st.clients) >= h.cfg.MaxConnsPerUser {
		h.conns.Add(-1)
		h.metrics.Rejected.WithLabelValues("user_limit").Inc()
		return ErrUserLimit
	}
	now := h.now()
	h.trimLocked(st, now)
	var batch []*Frame
	switch {
	case since == nil:
		batch = []*Frame{newFrame(st.seq, h.epoch, TypeWelcome, "", nil, nil, now)}
	case h.resumable(st, *since):
		h.metrics.Resume.WithLabelValues("hit").Inc()
		batch = []*Frame{newFrame(since.Seq, h.epoch, TypeWelcome, "", nil, nil, now)}
		if len(st.hist) > 0 && since.Seq < st.seq {
			for _, e := range st.hist[since.Seq+1-st.hist[0].f.Seq:] {
				batch = append(batch, e.f)
			}
		}
	default:
		h.metrics.Resume.WithLabelValues("miss").Inc()
		batch = []*Frame{newFrame(st.seq, h.epoch, TypeResync, "", nil, nil, now)}
	}
	c.Offer(&Frame{Batch: batch}) // a fresh queue always has room
	st.clients = append(st.clients, c)
	h.metrics.Connections.Inc()
	return nil
}

// Detach removes c; it is safe to call more than once.
func (h *Hub) Detach(c *Client) {
	s := h.shard(c.UserID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.users[c.UserID]; st != nil && removeClient(st, c) {
		h.conns.Add(-1)
		h.metrics.Connections.Dec()
	}
}

func removeClient(st *stream, c *Client) bool {
	for i, x := range st.clients {
		if x == c {
			last := len(st.clients) - 1
			st.clients[i] = st.clients[last]
			st.clients[last] = nil
			st.clients = st.clients[:last]
			return true
		}
	}
	return false
}

// Publish sends u to every client of u.user_id and keeps it for resume, within the
// history's count, age and byte budgets. It never blocks on a client: one whose queue is
// full is kicked with CloseSlow. A redelivered update (same event_id still in history) is
// not sent again.
func (h *Hub) Publish(_ context.Context, u *eventsv1.TaskUpdate) error {
	typ := ""
	switch u.GetUpdate().(type) {
	case *eventsv1.TaskUpdate_TaskChange:
		typ = TypeTaskChange
	case *eventsv1.TaskUpdate_Notification:
		typ = TypeNotification
	}
	if u.GetUserId() == "" || typ == "" {
		return fmt.Errorf("%w %s: user_id and one of task_change or notification are required", ErrInvalidUpdate, u.GetEventId())
	}
	data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(u)
	if err != nil {
		return fmt.Errorf("%w %s: encode JSON: %w", ErrInvalidUpdate, u.GetEventId(), err)
	}
	bin, err := proto.MarshalOptions{Deterministic: true}.Marshal(u)
	if err != nil {
		return fmt.Errorf("%w %s: encode protobuf: %w", ErrInvalidUpdate, u.GetEventId(), err)
	}
	now := h.now()
	s := h.shard(u.GetUserId())
	s.mu.Lock()
	h.publishLocked(s, u.GetUserId(), typ, u.GetEventId(), data, bin, now)
	s.mu.Unlock()
	h.evictOverBudget()
	return nil
}

// publishLocked keeps the encoded update in its user's history and offers it to the user's
// clients. The caller holds s.
func (h *Hub) publishLocked(s *shard, user, typ, eventID string, data, bin []byte, now time.Time) {
	st := h.streamLocked(s, user)
	h.trimLocked(st, now)
	for _, e := range st.hist {
		if e.f.EventID == eventID {
			h.metrics.Updates.WithLabelValues("duplicate").Inc()
			return
		}
	}
	h.published.Add(1)
	st.seq++
	f := newFrame(st.seq, h.epoch, typ, eventID, data, bin, now)
	h.keepLocked(st, f)
	h.trimLocked(st, now)
	if len(st.clients) == 0 {
		h.metrics.Updates.WithLabelValues("no_client").Inc()
		return
	}
	h.metrics.Updates.WithLabelValues("delivered").Inc()
	for i := 0; i < len(st.clients); {
		c := st.clients[i]
		if c.Offer(f) {
			i++
			continue
		}
		removeClient(st, c) // swaps the last client into i
		h.conns.Add(-1)
		h.metrics.Connections.Dec()
		h.metrics.SlowDisconnects.Inc()
		c.Kick(CloseSlow, "slow")
	}
}

// Shutdown refuses new clients and kicks every attached one with code.
func (h *Hub) Shutdown(code int, reason string) {
	h.closed.Store(true)
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		for _, st := range s.users {
			for _, c := range st.clients {
				c.Kick(code, reason)
			}
		}
		s.mu.Unlock()
	}
}

// Closed reports whether Shutdown was called.
func (h *Hub) Closed() bool { return h.closed.Load() }
