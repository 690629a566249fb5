// Package hub routes task updates to the WebSocket clients of their user and keeps a short
// per-user history so that a reconnecting client can resume where it left off.
package hub

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

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
	// HistoryTotalSize bounds the updates kept for all users together [100000].
	HistoryTotalSize int
	// StreamID names the stream positions belong to (pub/sub component, topic and
	// deployment): a position of another stream is answered with resync.
	StreamID string
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
	if c.HistoryTotalSize <= 0 {
		c.HistoryTotalSize = 100000
	}
}

const shardCount = 64

type shard struct {
	mu    sync.Mutex
	users map[string]*stream
}

// stream is one user's history and connected clients (guarded by its shard).
type stream struct {
	user string
	part int32 // partition of the user's updates; noPart before the first
	// floor is the highest offset of part dropped from hist (-1: none): the history holds
	// every update of the user after it.
	floor   int64
	hist    []*entry // ascending offsets of part
	bytes   int64    // sum of the sizes of hist
	clients []*Client
}

// Hub is the process-wide registry of connections.
type Hub struct {
	cfg     Config
	epoch   string // unique per process
	tag     string // streamTag(cfg.StreamID)
	now     func() time.Time
	metrics *Metrics
	seed    maphash.Seed
	shards  [shardCount]shard
	ages    ages
	parts   partitions
	// localMu serialises updates without broker coordinates, numbered by localNext, so
	// that they are handled one at a time in order like a partition's.
	localMu   sync.Mutex
	localNext int64
	conns     atomic.Int64
	closed    atomic.Bool
}

// New returns a hub whose process epoch (unique per process) is epoch.
func New(cfg Config, epoch string, now func() time.Time, m *Metrics) *Hub {
	cfg.defaults()
	if m == nil {
		m = NewMetrics(nil)
	}
	h := &Hub{cfg: cfg, epoch: epoch, tag: streamTag(cfg.StreamID), now: now, metrics: m, seed: maphash.MakeSeed(),
		parts: partitions{m: map[int32]*partState{}}}
	for i := range h.shards {
		h.shards[i].users = map[string]*stream{}
	}
	return h
}

// Epoch is this process's epoch (it appears in positions of updates without broker
// coordinates only).
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
		st = &stream{user: user, part: noPart, floor: -1}
		s.users[user] = st
	}
	return st
}

// Attach registers c for its user's updates. With since, the frames the client missed are
// queued first (after a welcome frame) when this process kept them all; otherwise a
// resync frame at the current position is queued. Without since a welcome frame at the
// current position is queued (see firstFrames).
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
	batch := h.firstFrames(st, since, now)
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

// Publish is PublishAt for an update without broker coordinates.
func (h *Hub) Publish(ctx context.Context, u *eventsv1.TaskUpdate) error {
	return h.PublishAt(ctx, u, NoOffset)
}

// PublishAt sends u, found at offset at of the broker, to every client of u.user_id and
// keeps it for resume, within the history's count, age and byte budgets. It never blocks
// on a client: one whose queue is full is kicked with CloseSlow. An offset already handled
// (a redelivery after a sidecar restart) and an update whose event_id is still in the
// user's history (a replayed dead letter) are not sent again. Updates of one partition
// must come one at a time, in offset order, as daprd delivers them.
func (h *Hub) PublishAt(_ context.Context, u *eventsv1.TaskUpdate, at Offset) error {
	return h.publishAt(u, at, nil)
}

// PublishBatch is PublishAt for the updates of one delivery, in order (ats[i] is the offset
// of us[i]; updates of one partition in offset order), with one error per update. What
// each connection gets of them is queued as one entry, after all of them are handled, so
// that a delivery of many updates for one user counts once against the connection's
// queue, as one update per delivery did: a burst is not a slow client.
func (h *Hub) PublishBatch(_ context.Context, us []*eventsv1.TaskUpdate, ats []Offset) []error {
	errs := make([]error, len(us))
	if len(us) == 1 { // one update per call: one frame per connection, offered at once
		errs[0] = h.publishAt(us[0], ats[0], nil)
		return errs
	}
	out := &pending{frames: map[*Client][]*Frame{}}
	for i, u := range us {
		errs[i] = h.publishAt(u, ats[i], out)
	}
	h.offerPending(out)
	return errs
}

// pending collects the frames of a PublishBatch per connection, in order.
type pending struct {
	clients []*Client
	frames  map[*Client][]*Frame
}

func (p *pending) add(c *Client, f *Frame) {
	fs, ok := p.frames[c]
	if !ok {
		p.clients = append(p.clients, c)
	}
	p.frames[c] = append(fs, f)
}

// offerPending queues each connection's frames of a PublishBatch as one entry, and kicks
// with CloseSlow a connection whose queue is full.
func (h *Hub) offerPending(p *pending) {
	for _, c := range p.clients {
		fs := p.frames[c]
		f := fs[0]
		if len(fs) > 1 {
			f = &Frame{Batch: fs}
		}
		if c.Offer(f) {
			continue
		}
		s := h.shard(c.UserID)
		s.mu.Lock()
		if st := s.users[c.UserID]; st != nil {
			h.dropSlowLocked(st, c)
		}
		s.mu.Unlock()
		c.Kick(CloseSlow, "slow")
	}
}

// dropSlowLocked detaches c, whose queue is full, from st (if still attached) and counts
// it as a slow disconnect; the caller holds st's shard and kicks c.
func (h *Hub) dropSlowLocked(st *stream, c *Client) {
	if removeClient(st, c) {
		h.conns.Add(-1)
		h.metrics.Connections.Dec()
		h.metrics.SlowDisconnects.Inc()
	}
}

// publishAt handles one update; with out, the frames for connections are collected there
// instead of offered.
func (h *Hub) publishAt(u *eventsv1.TaskUpdate, at Offset, out *pending) error {
	typ, data, bin, err := encodeUpdate(u)
	if at.Partition < 0 {
		h.localMu.Lock()
		defer h.localMu.Unlock()
		h.localNext++
		at = Offset{Partition: localPart, Offset: h.localNext}
	}
	ps, created := h.parts.admit(at.Partition, at.Offset)
	if created {
		h.notePartition(at.Partition, at.Offset)
	}
	if at.Offset <= ps.handled.Load() {
		h.metrics.Updates.WithLabelValues("duplicate").Inc()
		return nil
	}
	if err != nil {
		raise(&ps.handled, at.Offset)
		return err
	}
	now := h.now()
	s := h.shard(u.GetUserId())
	s.mu.Lock()
	h.publishLocked(s, at, u.GetUserId(), typ, u.GetEventId(), data, bin, now, out)
	// Only now: a client attaching meanwhile either finds the update in history or gets it live.
	raise(&ps.handled, at.Offset)
	s.mu.Unlock()
	h.evictOverBudget()
	return nil
}

// publishLocked keeps the encoded update in its user's history and offers it to the user's
// clients, or adds it to out for them. The caller holds s.
func (h *Hub) publishLocked(s *shard, at Offset, user, typ, eventID string, data, bin []byte, now time.Time, out *pending) {
	st := h.streamLocked(s, user)
	if st.part != at.Partition {
		h.movePartitionLocked(st, at.Partition)
	}
	h.trimLocked(st, now)
	for _, e := range st.hist {
		if e.f.EventID == eventID {
			h.metrics.Updates.WithLabelValues("duplicate").Inc()
			return
		}
	}
	f := newFrame(uint64(at.Offset), h.partEpoch(at.Partition), typ, eventID, data, bin, now)
	h.keepLocked(st, f, at.Offset)
	h.trimLocked(st, now)
	if len(st.clients) == 0 {
		h.metrics.Updates.WithLabelValues("no_client").Inc()
		return
	}
	h.metrics.Updates.WithLabelValues("delivered").Inc()
	if out != nil {
		for _, c := range st.clients {
			out.add(c, f)
		}
		return
	}
	for i := 0; i < len(st.clients); {
		c := st.clients[i]
		if c.Offer(f) {
			i++
			continue
		}
		h.dropSlowLocked(st, c) // swaps the last client into i
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
