package hub

import (
	"sync"
	"sync/atomic"
)

// Close codes sent to clients.
const (
	CloseNormal       = 1000
	CloseGoingAway    = 1001
	CloseUnsupported  = 1003
	CloseTooBig       = 1009
	CloseInternal     = 1011
	CloseTryAgain     = 1013
	CloseTokenExpired = 4001
	CloseSlow         = 4008
	CloseNoPong       = 4009
)

// Client is one WebSocket connection as the hub sees it: a bounded send queue and a way to
// be told to go away. The connection's writer (see Serve) drains Queue until Done is closed.
type Client struct {
	UserID string
	// Proto is true when the client negotiated binary protobuf frames.
	Proto bool

	queue  chan *Frame
	done   chan struct{}
	once   sync.Once
	code   int
	reason string
	onKick func(code int)

	// drain is the connection's writer (nil until Serve); draining is true while one runs.
	// queued counts the entries in queue for Park: an atomic, not len(queue), so that
	// Park's read is ordered after its store on every architecture (Go memory model).
	drain    atomic.Pointer[func()]
	draining atomic.Bool
	queued   atomic.Int64
}

// NewClient returns a client with a send queue of size queue (at least 2). onKick, when
// not nil, runs once when the client is kicked (e.g. to unblock a stuck write).
func NewClient(userID string, proto bool, queue int, onKick func(code int)) *Client {
	if queue < 2 {
		queue = 2
	}
	return &Client{UserID: userID, Proto: proto, queue: make(chan *Frame, queue), done: make(chan struct{}), onKick: onKick}
}

// Queue is the client's outgoing frames, in order. A frame with a Batch stands for the
// frames of the batch (a resume replay) and is not sent itself.
func (c *Client) Queue() <-chan *Frame { return c.queue }

// Done is closed when the client must be closed with CloseCode.
func (c *Client) Done() <-chan struct{} { return c.done }

// CloseCode returns the code and reason given to Kick.
func (c *Client) CloseCode() (int, string) {
	<-c.done
	return c.code, c.reason
}

// Kick asks the connection to close with code; only the first call counts.
func (c *Client) Kick(code int, reason string) {
	c.once.Do(func() {
		c.code, c.reason = code, reason
		close(c.done)
		if c.onKick != nil {
			c.onKick(code)
		}
	})
	c.wake()
}

// Serve makes drain the connection's writer: it runs in a goroutine of its own whenever the
// client has work (a queued frame, or a kick) and no writer is running, and returns when
// Park says so. A connection thus has no writer goroutine while it has nothing to send:
// at 10,000 idle connections that is 10,000 goroutine stacks fewer for the garbage
// collector to scan and keep. Serve starts drain at once for what was queued before it.
func (c *Client) Serve(drain func()) {
	c.drain.Store(&drain)
	c.wake()
}

// wake starts the writer unless one is running (or Serve was not called yet).
func (c *Client) wake() {
	if d := c.drain.Load(); d != nil && c.draining.CompareAndSwap(false, true) {
		go (*d)()
	}
}

// Taken is called by the writer for each entry it received from Queue.
func (c *Client) Taken() { c.queued.Add(-1) }

// Park is called by the writer when it found the queue empty and the client not kicked.
// It reports whether the writer must return: false when work arrived meanwhile and no
// other writer was started for it (the writer goes on).
func (c *Client) Park() bool {
	c.draining.Store(false)
	if c.queued.Load() == 0 && !c.Kicked() {
		return true // whoever queues next starts a writer
	}
	return !c.draining.CompareAndSwap(false, true)
}

// Kicked reports whether Kick was called.
func (c *Client) Kicked() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Offer queues f without blocking and reports whether there was room.
func (c *Client) Offer(f *Frame) bool {
	select {
	case c.queue <- f:
		c.queued.Add(1)
		c.wake()
		return true
	default:
		return false
	}
}
