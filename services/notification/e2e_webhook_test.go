package main

import (
	"context"
	"encoding/base64"
	"maps"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
)

// testForeignWebhook: a user who points a reminder's webhook at another user's endpoint
// (with one shared secret, a way to deliver forged notifications to it) gets a webhook
// signed with the sender's own key; the endpoint, verifying with its owner's secret,
// refuses it and the channel fails.
func testForeignWebhook(t *testing.T, s *stack) {
	s.hook.trust(t, "/victim", webhookSecret(t, s.deliver, "user-victim"))
	ev := reminder("evt-foreign", time.Now().Add(time.Hour), "", s.hook.URL("/victim")) // user-evt-foreign
	s.publish(t, ev)
	ds := s.waitFinal(t, "evt-foreign", 2)
	wantStatus(t, ds, inApp, delivered, 1)
	wantStatus(t, ds, hookCh, failed, 1)
	if got := ds[hookCh].GetLastError(); !strings.Contains(got, "401") {
		t.Errorf("ledger webhook last_error = %q, want the endpoint's HTTP 401", got)
	}
	calls, verified, bad := s.hook.stats("/victim")
	if calls != 1 || len(verified) != 0 || bad != 1 {
		t.Errorf("victim endpoint: calls = %d, accepted = %d, bad signatures = %d; want 1, 0, 1", calls, len(verified), bad)
	}
}

// testWebhookSecretAPI: one stable secret per user, not the master key; bad user ids are
// refused; with APP_API_TOKEN set the method needs the token like every other API; no
// secret reaches a log.
func testWebhookSecretAPI(t *testing.T, s *stack) {
	alice := webhookSecret(t, s.deliver, "alice")
	if again := webhookSecret(t, s.deliver, "alice"); again != alice {
		t.Errorf("GetWebhookSecret(alice) = %q then %q, want the same secret", alice, again)
	}
	bob := webhookSecret(t, s.deliver, "bob")
	master := base64.StdEncoding.EncodeToString(s.webhookK)
	if bob == alice || strings.Contains(alice, master) {
		t.Errorf("secrets of alice %q and bob %q: want two different secrets, neither the master key", alice, bob)
	}

	ctx := context.Background()
	for _, tt := range []struct{ name, user string }{{"empty user_id", ""}, {"user_id over 256 bytes", strings.Repeat("u", 257)}} {
		resp, err := s.deliver.GetWebhookSecret(ctx, &notificationv1.GetWebhookSecretRequest{UserId: tt.user})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("GetWebhookSecret(%s) = %v, %v; want InvalidArgument", tt.name, resp, err)
		}
	}

	// A second instance on the same ledger with APP_API_TOKEN (it starts without a sidecar).
	const token = "notification-e2e-app-token"
	env := maps.Clone(s.env)
	env["APP_API_TOKEN"] = token
	guarded := testenv.RunService(t, run, env)
	client := notificationv1.NewNotificationServiceClient(guarded.Conn(t))
	for _, tt := range []struct{ name, token string }{{"no token", ""}, {"wrong token", "guess"}} {
		ctx := context.Background()
		if tt.token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "dapr-api-token", tt.token)
		}
		resp, err := client.GetWebhookSecret(ctx, &notificationv1.GetWebhookSecretRequest{UserId: "alice"})
		if status.Code(err) != codes.Unauthenticated || resp.GetSecret() != "" {
			t.Errorf("GetWebhookSecret with %s = %v, %v; want Unauthenticated", tt.name, resp, err)
		}
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "dapr-api-token", token)
	resp, err := client.GetWebhookSecret(ctx, &notificationv1.GetWebhookSecretRequest{UserId: "alice"})
	if err != nil || resp.GetSecret() != alice {
		t.Errorf("GetWebhookSecret with the token = %v, %v; want alice's secret %q", resp, err, alice)
	}

	for name, logs := range map[string]string{"service": s.svc.Logs(), "token-guarded service": guarded.Logs()} {
		for _, secret := range []string{alice, bob, strings.TrimPrefix(alice, "whsec_"), master} {
			if strings.Contains(logs, secret) {
				t.Errorf("%s log contains a webhook secret", name)
			}
		}
	}
}
