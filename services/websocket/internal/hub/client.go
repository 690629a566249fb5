package hub

import "sync"

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
)

// Client is one WebSocket connection as the hub sees it: a bounded send queue and a way to
// be told to go away. The connection's writer drains Queue until Done is closed.
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
}

// Offer queues f without blocking and reports whether there was room.
func (c *Client) Offer(f *Frame) bool {
	select {
	case c.queue <- f:
		return true
	default:
		return false
	}
}
