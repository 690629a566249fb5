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
	// Timeout bounds one delivery (connect to QUIT).
	Timeout time.Duration
	// HeloName is sent in EHLO; empty means "localhost".
	HeloName string
	// TLSConfig overrides the TLS client configuration (tests); nil verifies the relay's
	// certificate against the host name of Addr.
	TLSConfig *tls.Config
}

// Sender sends one e-mail per notification, one SMTP connection each.
type Sender struct {
	cfg  Config
	host string
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
	return &Sender{cfg: cfg, host: host}, nil
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
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("connect to SMTP relay: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if s.cfg.TLS == TLSImplicit {
		conn = tls.Client(conn, s.cfg.TLSConfig)
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return classify("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.HeloName); err != nil {
		return classify("EHLO", err)
	}
	if s.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("SMTP relay does not offer STARTTLS, which SMTP_TLS=starttls requires")
		}
		if err := c.StartTLS(s.cfg.TLSConfig); err != nil {
			return classify("STARTTLS", err)
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.host)); err != nil {
			// A rejected login is our configuration, not the recipient: retry (bounded).
			return fmt.Errorf("SMTP AUTH: %w", err)
		}
	}
	if err := c.Mail(s.cfg.From.Address); err != nil {
		return classify("MAIL FROM", err)
	}
	if err := c.Rcpt(to); err != nil {
		return classify("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return classify("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return classify("DATA", err)
	}
	if err := w.Close(); err != nil {
		return classify("DATA", err)
	}
	// The relay has accepted the message: a failing QUIT does not make it undelivered.
	_ = c.Quit()
	return nil
}

// classify maps an SMTP reply to permanent (5xx) or transient (4xx, I/O).
func classify(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return notify.Permanent(fmt.Errorf("SMTP %s: %w", step, err))
	}
	return fmt.Errorf("SMTP %s: %w", step, err)
}
