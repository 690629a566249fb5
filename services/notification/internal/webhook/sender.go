package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

// Sender POSTs notifications, each signed with its user's key. It is safe for concurrent use.
type Sender struct {
	client *http.Client
	keys   *Keyring
	now    func() time.Time
}

var _ notify.Sender = (*Sender)(nil)

var (
	errCrossHostRedirect = errors.New("redirect to another host refused")
	errDowngradeRedirect = errors.New("redirect from https to http refused")
	// ErrPrivateAddress refuses a webhook whose host resolves to a loopback, private,
	// link-local (cloud metadata), CGNAT, multicast or unspecified address: a user-chosen
	// URL must not reach inside the cluster.
	ErrPrivateAddress = errors.New("webhook host resolves to a private or internal address")
)

// specialRanges are not public unicast addresses either: CGNAT, "this network", benchmark,
// reserved (class E), and the IPv6 prefixes that embed an IPv4 address a gateway would
// reach (NAT64, 6to4).
var specialRanges = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2002::/16"),
}

// internalAddr reports whether ip must not be reached by a user-chosen webhook.
func internalAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range specialRanges {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// guardDial checks the address actually dialled (after DNS resolution, so a name that
// re-resolves to an internal address is caught too).
func guardDial(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || internalAddr(ap.Addr()) {
		return ErrPrivateAddress
	}
	return nil
}

// NewSender returns a Sender signing each webhook with its user's keys from keys; each POST
// (with redirects) is bounded by timeout. Unless allowPrivate, hosts resolving to internal
// addresses are refused.
func NewSender(keys *Keyring, timeout time.Duration, allowPrivate bool, now func() time.Time) *Sender {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.Proxy = nil
	if !allowPrivate {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: guardDial}
		tr.DialContext = d.DialContext
	}
	return &Sender{
		keys: keys, now: now,
		client: &http.Client{
			Timeout:   timeout,
			Transport: tr,
			// Same-host redirects (say, http → https or a moved path) are followed up to 3
			// times; a redirect to another host would send the user's notification and our
			// signature somewhere the user did not choose.
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if req.URL.Host != via[0].URL.Host {
					return errCrossHostRedirect
				}
				// The signature and payload must not leave TLS once the user chose it.
				if req.URL.Scheme != "https" && via[len(via)-1].URL.Scheme == "https" {
					return errDowngradeRedirect
				}
				if len(via) >= 3 {
					return errors.New("stopped after 3 redirects")
				}
				return nil
			},
		},
	}
}

// Check implements notify.Sender: the URL must be an absolute http(s) URL, and the user id
// one a key is derived for (a webhook is signed with its user's key only).
func (s *Sender) Check(ev *eventsv1.ReminderEvent) error {
	if _, err := parseURL(ev.GetTargets().GetWebhookUrl()); err != nil {
		return err
	}
	return CheckUserID(ev.GetUserId())
}

func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("webhook_url is not an absolute http(s) URL")
	}
	return u, nil
}

// Payload is the JSON body of a reminder webhook.
type Payload struct {
	// Type is always "task.reminder".
	Type string `json:"type"`
	// Timestamp is when the notification was rendered (RFC 3339).
	Timestamp time.Time `json:"timestamp"`
	// Data is the notification.
	Data PayloadData `json:"data"`
}

// PayloadData is the notification inside a Payload.
type PayloadData struct {
	NotificationID string     `json:"notification_id"`
	EventID        string     `json:"event_id"`
	ReminderID     string     `json:"reminder_id"`
	TaskID         string     `json:"task_id"`
	UserID         string     `json:"user_id"`
	Title          string     `json:"title"`
	Body           string     `json:"body"`
	DueAt          *time.Time `json:"due_at,omitempty"`
	DueLocal       string     `json:"due_local,omitempty"`
	RemindAt       *time.Time `json:"remind_at,omitempty"`
	TimeZone       string     `json:"time_zone,omitempty"`
}

// NewPayload builds the body of n's webhook.
func NewPayload(n *notify.Notification) Payload {
	ev := n.Reminder
	p := Payload{Type: "task.reminder", Timestamp: n.CreatedAt.UTC(), Data: PayloadData{
		NotificationID: n.ID, EventID: ev.GetEventId(), ReminderID: ev.GetReminderId(), TaskID: ev.GetTaskId(),
		UserID: ev.GetUserId(), Title: ev.GetTitle(), Body: n.Body, TimeZone: ev.GetTimeZone(),
	}}
	if ev.GetDueAt() != nil {
		t := ev.GetDueAt().AsTime()
		p.Data.DueAt, p.Data.DueLocal = &t, n.DueLocal.Format(time.RFC3339)
	}
	if ev.GetRemindAt() != nil {
		t := ev.GetRemindAt().AsTime()
		p.Data.RemindAt = &t
	}
	return p
}

// Send implements notify.Sender. 2xx is delivered; 410, other 4xx, an unfollowed
// redirect and a redirect to another host fail permanently; 408, 429, 5xx and network
// errors are transient.
func (s *Sender) Send(ctx context.Context, n *notify.Notification) error {
	u, err := parseURL(n.Reminder.GetTargets().GetWebhookUrl())
	if err != nil {
		return notify.Permanent(err)
	}
	body, err := json.Marshal(NewPayload(n))
	if err != nil {
		return notify.Permanent(fmt.Errorf("encode webhook payload: %w", err))
	}
	ts := s.now()
	sig, err := s.keys.Signature(n.Reminder.GetUserId(), n.ID, ts, body)
	if err != nil {
		return notify.Permanent(fmt.Errorf("sign webhook: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return notify.Permanent(fmt.Errorf("build webhook request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "taskflow-notification/1")
	req.Header.Set(HeaderID, n.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)
	resp, err := s.client.Do(req)
	if err != nil {
		// Never echo the URL: it may carry the receiver's token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, errCrossHostRedirect) || errors.Is(err, errDowngradeRedirect) || errors.Is(err, ErrPrivateAddress) {
			return notify.Permanent(fmt.Errorf("post webhook: %w", err))
		}
		return fmt.Errorf("post webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return fmt.Errorf("webhook answered HTTP %d", code)
	default:
		return notify.Permanent(fmt.Errorf("webhook answered HTTP %d", code))
	}
}
