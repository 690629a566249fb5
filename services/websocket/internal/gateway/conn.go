package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/taskflow/taskflow-events/services/websocket/internal/auth"
	"github.com/taskflow/taskflow-events/services/websocket/internal/hub"
)

// closeGrace is how long the writer waits for the client's close reply.
const closeGrace = time.Second

// serve runs one connection: the reader in this goroutine, a writer whenever there is
// something to send (hub.Client.Serve), pings from a timer.
func (g *Gateway) serve(ctx context.Context, conn *websocket.Conn, claims auth.Claims, proto bool, since *hub.Position) {
	defer conn.Close()
	c := hub.NewClient(claims.UserID, proto, g.cfg.SendQueue, func(code int) {
		if code == hub.CloseSlow {
			// Unblock a write stuck on a client that stopped reading.
			_ = conn.UnderlyingConn().SetWriteDeadline(time.Now())
		}
	})
	if since != nil {
		g.hub.AwaitCaughtUp(ctx, *since, g.cfg.ResumeWait)
	}
	if err := g.hub.Attach(c, since); err != nil {
		code := hub.CloseTryAgain
		if errors.Is(err, hub.ErrShuttingDown) {
			code = hub.CloseGoingAway
		}
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, err.Error()), time.Now().Add(g.cfg.WriteTimeout))
		return
	}
	defer g.hub.Detach(c)
	ttl := claims.Expiry.Sub(g.now())
	expiry := time.AfterFunc(max(ttl, 0), func() { c.Kick(hub.CloseTokenExpired, "token expired") })
	defer expiry.Stop()
	pings := g.startPings(conn, c)
	defer pings.stop()

	written := make(chan struct{})
	c.Serve(func() { g.write(conn, c, written) })
	g.read(conn, c)
	c.Kick(hub.CloseNormal, "")
	<-written
	if code, _ := c.CloseCode(); code == hub.CloseSlow {
		g.logger.WarnContext(ctx, "ws_slow_client_closed", "user_id", claims.UserID, "queue", g.cfg.SendQueue)
	} else {
		g.logger.DebugContext(ctx, "ws_closed", "user_id", claims.UserID, "code", code)
	}
}

// read consumes client frames: pongs extend the deadline, {"type":"ping"} is answered,
// anything else closes the connection (1003), as does a frame over the read limit (1009)
// and silence past the deadline (4009).
func (g *Gateway) read(conn *websocket.Conn, c *hub.Client) {
	wait := g.cfg.PingInterval + g.cfg.PongTimeout
	// extend pushes the read deadline out, but not once the client was kicked: the writer
	// then set the close grace, which frames from the client must not prolong.
	extend := func() error {
		select {
		case <-c.Done():
			return nil
		default:
			return conn.SetReadDeadline(time.Now().Add(wait))
		}
	}
	conn.SetReadLimit(g.cfg.ReadLimit)
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	conn.SetPongHandler(func(string) error { return extend() })
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			// A kick before this one (the writer's close grace ran out) keeps its code.
			var ne net.Error
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				c.Kick(hub.CloseTooBig, "message too big")
			case errors.As(err, &ne) && ne.Timeout():
				// No frame and no pong for PingInterval + PongTimeout. Not 1000: the
				// client and the operator's log should tell a dead link from a goodbye.
				c.Kick(hub.CloseNoPong, "no pong")
			}
			return
		}
		_ = extend()
		var msg struct {
			Type string `json:"type"`
		}
		if typ != websocket.TextMessage || json.Unmarshal(data, &msg) != nil || msg.Type != "ping" {
			c.Kick(hub.CloseUnsupported, "unsupported frame")
			continue // wait for the close reply; the writer bounds it with a deadline
		}
		if !c.Offer(hub.PongFrame()) {
			c.Kick(hub.CloseSlow, "slow")
		}
	}
}

// pinger sends a ping every PingInterval from a timer, so a connection needs no goroutine
// for it; gorilla/websocket allows WriteControl next to a running writer.
type pinger struct {
	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

func (g *Gateway) startPings(conn *websocket.Conn, c *hub.Client) *pinger {
	p := &pinger{}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.t = time.AfterFunc(g.cfg.PingInterval, func() {
		if c.Kicked() {
			return
		}
		if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(g.cfg.WriteTimeout)); err != nil {
			if c.Kicked() {
				return // the close frame went out first (ErrCloseSent): keep its grace
			}
			c.Kick(hub.CloseInternal, "ping failed")
			conn.Close()
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.stopped {
			p.t.Reset(g.cfg.PingInterval)
		}
	})
	return p
}

func (p *pinger) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	p.t.Stop()
}

// write is the connection's writer (hub.Client.Serve): it sends the queued frames until the
// queue is empty, then returns, unless the client was kicked: then it sends the close frame,
// gives the client closeGrace to answer before the reader is cut off, and closes written.
func (g *Gateway) write(conn *websocket.Conn, c *hub.Client, written chan struct{}) {
	mt := websocket.TextMessage
	if c.Proto {
		mt = websocket.BinaryMessage
	}
	send := func(f *hub.Frame) error {
		_ = conn.SetWriteDeadline(time.Now().Add(g.cfg.WriteTimeout))
		b := f.JSON
		if c.Proto {
			b = f.Proto
		}
		if err := conn.WriteMessage(mt, b); err != nil {
			return err
		}
		g.hub.Metrics().FramesSent.Inc()
		return nil
	}
	for {
		select {
		case <-c.Done():
			defer close(written)
			code, reason := c.CloseCode()
			if err := conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(closeGrace)); err != nil {
				conn.Close()
				return
			}
			_ = conn.SetReadDeadline(time.Now().Add(closeGrace))
			return
		case it := <-c.Queue():
			c.Taken()
			var err error
			if it.Batch == nil {
				err = send(it)
			}
			for _, f := range it.Batch {
				if err == nil {
					err = send(f)
				}
			}
			if err != nil {
				c.Kick(hub.CloseInternal, "write failed")
				conn.Close() // the next turn closes written
			}
		default:
			if c.Park() {
				return
			}
		}
	}
}
