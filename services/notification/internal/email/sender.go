package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

// TLS modes of the SMTP connection.
const (
	TLSNone     = "none"     // plain SMTP (local relays and tests only)
	TLSStartTLS = "starttls" // plain connect, then STARTTLS, required
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
)

// Config is how to reach the SMTP relay.
type Config struct {
	// Addr is host:port of the relay.
	Addr string
	// From is the sender address (may have a display name).
	From *mail.Address
	// TLS is TLSNone, TLSStartTLS or TLSImplicit.
	TLS string
	// Username and Password turn on AUTH PLAIN when Username is set (needs TLS unless
	// the relay is on localhost).
	Username, Password string
	// Timeout bounds one delivery (taking or opening a session to the end of DATA).
	Timeout time.Duration
	// MaxConns is how many sessions are open at most, in use or idle (default 32); a
	// send waits for one when all are in use.
	MaxConns int
	// IdleTimeout closes a session unused this long (default 30s).
	IdleTimeout time.Duration
	// HeloName is sent in EHLO; empty means "localhost".
	HeloName string
	// TLSConfig overrides the TLS client configuration (tests); nil verifies the relay's
	// certificate against the host name of Addr.
	TLSConfig *tls.Config
}

// Sender sends one e-mail per notification over a bounded pool of SMTP sessions: an idle
// session is reused after RSET, replaced when the relay dropped it, and closed after
// IdleTimeout; a session that saw any error is not reused.
type Sender struct {
	cfg  Config
	pool *pool
}

var _ notify.Sender = (*Sender)(nil)

// NewSender returns a Sender for cfg.
func NewSender(cfg Config) (*Sender, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("SMTP address %q: %w", cfg.Addr, err)
	}
	if cfg.From == nil {
		return nil, errors.New("SMTP sender address is required")
	}
	if cfg.HeloName == "" {
		cfg.HeloName = "localhost"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	p := &pool{cfg: cfg, host: host, idleTimeout: cfg.IdleTimeout, now: time.Now,
		slots: make(chan struct{}, cfg.MaxConns)}
	return &Sender{cfg: cfg, pool: p}, nil
}

// Check implements notify.Sender: the address must be a valid bare address.
func (s *Sender) Check(ev *eventsv1.ReminderEvent) error {
	_, err := ParseRecipient(ev.GetTargets().GetEmail())
	return err
}

// Send implements notify.Sender. SMTP 5xx replies fail permanently (except an
// authentication failure, which is our configuration and is retried); 4xx replies,
// timeouts and network errors are transient.
func (s *Sender) Send(ctx context.Context, n *notify.Notification) error {
	to, err := ParseRecipient(n.Reminder.GetTargets().GetEmail())
	if err != nil {
		return notify.Permanent(err)
	}
	msg, err := Compose(n, s.cfg.From, to)
	if err != nil {
		return notify.Permanent(err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := s.deliver(ctx, to, msg); err != nil {
		return err
	}
	return nil
}

func (s *Sender) deliver(ctx context.Context, to string, msg []byte) error {
	ss, stop, err := s.pool.get(ctx)
	if err != nil {
		return err
	}
	step, err := transact(ss.c, s.cfg.From.Address, to, msg)
	if err != nil && step == stepMail && ss.reused && ctx.Err() == nil {
		// An idle session the relay dropped (its idle timeout, a restart) fails here, before
		// anything of the message was sent: once more on a new session.
		stop()
		s.pool.discard(ss)
		if ss, stop, err = s.pool.replace(ctx); err != nil {
			return err
		}
		step, err = transact(ss.c, s.cfg.From.Address, to, msg)
	}
	if err != nil {
		stop()
		s.pool.drop(ss)
		return classify(step, err)
	}
	// The relay has accepted the message; the session goes back for the next one.
	s.pool.put(ss, stop)
	return nil
}

// The steps of a mail transaction, as errors name them.
const (
	stepMail = "MAIL FROM"
	stepRcpt = "RCPT TO"
	stepData = "DATA"
)

// transact runs one mail transaction (MAIL FROM, RCPT TO, DATA and the message) and names
// the step whose reply failed. A relay that offers PIPELINING (RFC 2920; Postfix and Exim
// offer it) gets the three commands in one write and the message after their
// replies: two round trips instead of four.
func transact(c *smtp.Client, from, to string, msg []byte) (string, error) {
	if ok, _ := c.Extension("PIPELINING"); ok {
		return pipelined(c, from, to, msg)
	}
	if err := c.Mail(from); err != nil {
		return stepMail, err
	}
	if err := c.Rcpt(to); err != nil {
		return stepRcpt, err
	}
	w, err := c.Data()
	if err != nil {
		return stepData, err
	}
	if _, err := w.Write(msg); err != nil {
		return stepData, err
	}
	return stepData, w.Close()
}

// pipelined is transact's pipelined form. Every reply of the group is read before one
// that failed is reported (RFC 2920 §3.1); when DATA was accepted after an earlier
// failure, the caller's closing the session aborts the transaction, so nothing is sent.
func pipelined(c *smtp.Client, from, to string, msg []byte) (string, error) {
	if strings.ContainsAny(from+to, "\r\n") {
		return stepMail, errors.New("smtp: a line must not contain CR or LF")
	}
	params := ""
	if ok, _ := c.Extension("8BITMIME"); ok {
		params += " BODY=8BITMIME"
	}
	if ok, _ := c.Extension("SMTPUTF8"); ok {
		params += " SMTPUTF8"
	}
	t := c.Text
	if _, err := fmt.Fprintf(t.W, "MAIL FROM:<%s>%s\r\nRCPT TO:<%s>\r\nDATA\r\n", from, params, to); err != nil {
		return stepMail, err
	}
	if err := t.W.Flush(); err != nil {
		return stepMail, err
	}
	var failed string
	var failure error
	for _, r := range []struct {
		step string
		code int
	}{{stepMail, 250}, {stepRcpt, 25}, {stepData, 354}} {
		_, _, err := t.ReadResponse(r.code)
		var te *textproto.Error
		switch {
		case err == nil:
		case !errors.As(err, &te):
			// The connection failed: no more replies to read. A relay ending an idle session
			// sends 421 and closes, so a reply that failed before it is the one to report
			// (a dropped session is retried on a new one only when MAIL FROM failed).
			if failure != nil {
				return failed, failure
			}
			return r.step, err
		case failure == nil:
			failed, failure = r.step, err
		}
	}
	if failure != nil {
		return failed, failure
	}
	w := t.DotWriter()
	if _, err := w.Write(msg); err != nil {
		return stepData, err
	}
	if err := w.Close(); err != nil {
		return stepData, err
	}
	_, _, err := t.ReadResponse(250)
	return stepData, err
}

// Close ends the idle SMTP sessions; call it once no Send is running.
func (s *Sender) Close() { s.pool.close() }

// classify maps an SMTP reply to permanent (5xx) or transient (4xx, I/O).
func classify(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return notify.Permanent(fmt.Errorf("SMTP %s: %w", step, err))
	}
	return fmt.Errorf("SMTP %s: %w", step, err)
}
