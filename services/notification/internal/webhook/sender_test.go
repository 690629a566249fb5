package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
)

func notification(url string) *notify.Notification {
	return notify.New(&eventsv1.ReminderEvent{EventId: "e1", TaskId: "t1", UserId: "u1", Title: "Pay rent",
		Targets: &eventsv1.DeliveryTargets{WebhookUrl: url}}, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
}

// TestSendRefusesInternalAddresses: a user-chosen webhook URL pointing inside the network
// (here a real receiver on loopback) fails permanently without a request, unless
// WEBHOOK_ALLOW_PRIVATE is set.
func TestSendRefusesInternalAddresses(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	now := func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }

	err := NewSender(testKeys, 2*time.Second, false, now).Send(context.Background(), notification(srv.URL))
	if !errors.Is(err, ErrPrivateAddress) || !notify.IsPermanent(err) {
		t.Errorf("Send(loopback) = %v, want a permanent ErrPrivateAddress", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("receiver got %d requests, want none", n)
	}
	if err := NewSender(testKeys, 2*time.Second, true, now).Send(context.Background(), notification(srv.URL)); err != nil {
		t.Errorf("Send(loopback) with allowPrivate = %v, want delivered", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("receiver got %d requests, want 1", n)
	}
}

func TestInternalAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true}, {"::1", true}, {"10.1.2.3", true}, {"172.16.0.1", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"100.64.0.1", true}, {"0.0.0.0", true}, {"fd00::1", true}, {"fe80::1", true},
		{"::ffff:10.0.0.1", true}, {"224.0.0.1", true},
		{"0.1.2.3", true}, {"198.18.0.1", true}, {"198.19.255.254", true}, {"240.0.0.1", true}, {"255.255.255.254", true},
		{"64:ff9b::a00:1", true}, {"64:ff9b:1::1", true}, {"2002:a00:1::1", true}, {"198.20.0.1", false},
		{"93.184.216.34", false}, {"2606:4700::1111", false}, {"100.128.0.1", false},
	}
	for _, tt := range tests {
		if got := internalAddr(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("internalAddr(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

// TestSendRefusesHTTPSDowngrade: a same-host redirect from https to http would send the
// payload and its signature in clear text; it fails permanently (the redirect is refused
// before any request to the http URL).
func TestSendRefusesHTTPSDowngrade(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Host+"/clear", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	now := func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }
	s := NewSender(testKeys, 2*time.Second, true, now)
	s.client.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	err := s.Send(context.Background(), notification(srv.URL+"/hook"))
	if !errors.Is(err, errDowngradeRedirect) || !notify.IsPermanent(err) {
		t.Errorf("Send(https → http redirect) = %v, want a permanent refusal", err)
	}
}

// TestSendSignsWithTheUsersKey: a receiver holding u1's secret accepts u1's webhook; a
// webhook for another user sent to the same URL (a user pointing theirs at someone else's
// receiver) does not verify there and fails permanently with the receiver's 401.
func TestSendSignsWithTheUsersKey(t *testing.T) {
	t.Parallel()
	secret, _, err := testKeys.UserSecrets("u1")
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }
	var verified atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := Verify(mustParse(secret), r.Header, body, now(), 5*time.Minute); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		verified.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s := NewSender(testKeys, 2*time.Second, true, now)

	if err := s.Send(context.Background(), notification(srv.URL)); err != nil {
		t.Errorf("Send(u1's webhook to u1's receiver) = %v, want delivered", err)
	}
	forged := notification(srv.URL)
	forged.Reminder.UserId = "u2"
	if err := s.Send(context.Background(), forged); !notify.IsPermanent(err) {
		t.Errorf("Send(u2's webhook to u1's receiver) = %v, want a permanent failure (HTTP 401)", err)
	}
	if n := verified.Load(); n != 1 {
		t.Errorf("receiver verified %d webhooks, want 1 (u1's only)", n)
	}
}

// TestCheckNeedsAUser: a webhook is signed with its user's key, so a reminder without a
// usable user id fails its webhook channel up front.
func TestCheckNeedsAUser(t *testing.T) {
	t.Parallel()
	s := NewSender(testKeys, time.Second, false, time.Now)
	for _, tt := range []struct {
		name, user string
		wantErr    bool
	}{
		{"user", "u1", false}, {"no user", "", true}, {"oversize user", strings.Repeat("u", MaxUserIDBytes+1), true},
	} {
		ev := notification("https://hooks.example.com/x").Reminder
		ev.UserId = tt.user
		if err := s.Check(ev); (err != nil) != tt.wantErr {
			t.Errorf("Check(%s) = %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
}
