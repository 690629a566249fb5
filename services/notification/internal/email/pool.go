package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"sync"
	"time"
)

// Defaults of the session pool.
const (
	defaultMaxConns    = 32
	defaultIdleTimeout = 30 * time.Second
)

// session is an open, greeted (and, when configured, TLS-wrapped and authenticated)
// SMTP session.
type session struct {
	c         *smtp.Client
	conn      net.Conn
	idleSince time.Time
	reused    bool // taken from the idle sessions, not opened for this send
}

// pool holds at most maxConns sessions open, in use or idle: a send waits for one of them
// (within its timeout) rather than open more, so a burst of sends reuses sessions instead
// of opening and closing one per mail beyond the idle ones, and the relay never sees more
// connections than that. A session idle longer than idleTimeout is closed (by a timer armed
// while any is idle, or when it is next taken).
type pool struct {
	cfg         Config
	host        string
	idleTimeout time.Duration
	now         func() time.Time
	slots       chan struct{} // one per session in use; its capacity is the cap on open sessions
	onDial      func()        // tests: called for every session opened

	mu     sync.Mutex
	idle   []*session // most recently used last
	timer  *time.Timer
	closed bool
}

// get returns a session ready for MAIL FROM: an idle one (reused: the relay may have
// dropped it, which its MAIL FROM shows) or a new one, once fewer than maxConns are in use. Its deadline follows ctx until put or discard,
// which give its place back.
func (p *pool) get(ctx context.Context) (*session, func() bool, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("wait for one of the %d SMTP sessions (SMTP_MAX_CONNECTIONS): %w", cap(p.slots), ctx.Err())
	}
	s, stop, err := p.getSession(ctx)
	if err != nil {
		<-p.slots
	}
	return s, stop, err
}

// getSession is get once a place is taken. A completed mail transaction leaves the session
// ready for the next MAIL FROM (RFC 5321 §4.1.4), so an idle one is used without a RSET
// round trip; Sender.deliver replaces it when its MAIL FROM fails.
func (p *pool) getSession(ctx context.Context) (*session, func() bool, error) {
	if s := p.takeIdle(); s != nil {
		s.reused = true
		return s, bindDeadline(ctx, s.conn), nil
	}
	return p.dial(ctx)
}

// replace opens a new session in the place of one that get returned and that was
// discarded; when that fails, the place is given back.
func (p *pool) replace(ctx context.Context) (*session, func() bool, error) {
	s, stop, err := p.dial(ctx)
	if err != nil {
		<-p.slots
	}
	return s, stop, err
}

// takeIdle pops the most recently used idle session, closing expired ones.
func (p *pool) takeIdle() *session {
	p.mu.Lock()
	expired := p.expireLocked()
	var s *session
	if n := len(p.idle); n > 0 {
		s, p.idle = p.idle[n-1], p.idle[:n-1]
	}
	p.mu.Unlock()
	for _, e := range expired {
		p.discard(e)
	}
	return s
}

// put returns a healthy session that get returned to the pool; stop is what get returned.
func (p *pool) put(s *session, stop func() bool) {
	defer func() { <-p.slots }()
	if !stop() { // ctx ended while in use: the deadline is in the past
		p.discard(s)
		return
	}
	_ = s.conn.SetDeadline(time.Time{})
	s.idleSince = p.now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= cap(p.slots) {
		p.mu.Unlock()
		p.quit(s)
		return
	}
	p.idle = append(p.idle, s)
	if p.timer == nil {
		p.timer = time.AfterFunc(p.idleTimeout, p.reap)
	}
	p.mu.Unlock()
}

// discard closes a session after an error, without a QUIT round trip.
func (p *pool) discard(s *session) { _ = s.c.Close() }

// drop discards a session that get returned, after an error, and gives its place back.
func (p *pool) drop(s *session) {
	p.discard(s)
	<-p.slots
}

// quit ends a session politely, bounded by a short deadline.
func (p *pool) quit(s *session) {
	_ = s.conn.SetDeadline(time.Now().Add(time.Second))
	_ = s.c.Quit()
	_ = s.c.Close()
}

// reap closes expired idle sessions and re-arms itself while any session is idle.
func (p *pool) reap() {
	p.mu.Lock()
	expired := p.expireLocked()
	p.timer = nil
	if len(p.idle) > 0 && !p.closed {
		next := p.idle[0].idleSince.Add(p.idleTimeout).Sub(p.now())
		p.timer = time.AfterFunc(max(next, time.Millisecond), p.reap)
	}
	p.mu.Unlock()
	for _, s := range expired {
		p.quit(s)
	}
}

// expireLocked removes idle sessions older than idleTimeout; the caller closes them.
func (p *pool) expireLocked() []*session {
	cut := p.now().Add(-p.idleTimeout)
	n := 0
	for n < len(p.idle) && !p.idle[n].idleSince.After(cut) {
		n++
	}
	expired := append([]*session(nil), p.idle[:n]...)
	p.idle = append(p.idle[:0], p.idle[n:]...)
	return expired
}

// close ends every idle session; sessions in use are closed when they are put back.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.mu.Unlock()
	for _, s := range idle {
		p.quit(s)
	}
}

// dial opens, greets, secures and authenticates a new session.
func (p *pool) dial(ctx context.Context) (*session, func() bool, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.cfg.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to SMTP relay: %w", err)
	}
	if p.onDial != nil {
		p.onDial()
	}
	stop := bindDeadline(ctx, conn)
	s, err := p.open(conn)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return s, stop, nil
}

func (p *pool) open(conn net.Conn) (*session, error) {
	if p.cfg.TLS == TLSImplicit {
		conn = tls.Client(conn, p.cfg.TLSConfig)
	}
	c, err := smtp.NewClient(conn, p.host)
	if err != nil {
		conn.Close()
		return nil, classify("greeting", err)
	}
	fail := func(err error) (*session, error) { _ = c.Close(); return nil, err }
	if err := c.Hello(p.cfg.HeloName); err != nil {
		return fail(classify("EHLO", err))
	}
	if p.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fail(errors.New("SMTP relay does not offer STARTTLS, which SMTP_TLS=starttls requires"))
		}
		if err := c.StartTLS(p.cfg.TLSConfig); err != nil {
			return fail(classify("STARTTLS", err))
		}
	}
	if p.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", p.cfg.Username, p.cfg.Password, p.host)); err != nil {
			// A rejected login is our configuration, not the recipient: retry (bounded).
			return fail(fmt.Errorf("SMTP AUTH: %w", err))
		}
	}
	return &session{c: c, conn: conn}, nil
}

// bindDeadline applies ctx's deadline to conn and expires conn when ctx ends. The
// returned stop reports false if ctx ended first (conn is then unusable).
func bindDeadline(ctx context.Context, conn net.Conn) func() bool {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
}
