package deliveryapi

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/testing/protocmp"

	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
	"github.com/taskflow/taskflow-events/services/notification/internal/webhook"
)

// client dials a real gRPC server over bufconn, serving secrets (nil: webhooks off).
func client(t *testing.T, secrets WebhookSecrets) notificationv1.NotificationServiceClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer()
	notificationv1.RegisterNotificationServiceServer(g, New(nil, secrets, nil, time.Now))
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial bufconn: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return notificationv1.NewNotificationServiceClient(conn)
}

var (
	master   = []byte("0123456789abcdef0123456789abcdef")
	previous = []byte("fedcba9876543210fedcba9876543210")
)

func secretOf(t *testing.T, k *webhook.Keyring, user string) (current, prev string) {
	t.Helper()
	current, prev, err := k.UserSecrets(user)
	if err != nil {
		t.Fatal(err)
	}
	return current, prev
}

func TestGetWebhookSecret(t *testing.T) {
	t.Parallel()
	cur, _ := secretOf(t, webhook.NewKeyring(master, nil), "alice")
	rotCur, rotPrev := secretOf(t, webhook.NewKeyring(master, previous), "alice")
	tests := []struct {
		name    string
		secrets WebhookSecrets
		want    *notificationv1.GetWebhookSecretResponse
	}{
		{"one master", webhook.NewKeyring(master, nil), &notificationv1.GetWebhookSecretResponse{Secret: cur}},
		{"during a rotation", webhook.NewKeyring(master, previous),
			&notificationv1.GetWebhookSecretResponse{Secret: rotCur, PreviousSecret: rotPrev}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := client(t, tt.secrets).GetWebhookSecret(context.Background(), &notificationv1.GetWebhookSecretRequest{UserId: "alice"})
			if err != nil {
				t.Fatalf("GetWebhookSecret(alice) error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("GetWebhookSecret(alice) mismatch (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(got.GetSecret(), webhook.SecretPrefix) {
				t.Errorf("secret %q lacks the %s prefix", got.GetSecret(), webhook.SecretPrefix)
			}
		})
	}
	if rotCur != cur {
		t.Errorf("current secret during a rotation = %q, want the same as before it %q (only the previous one is added)", rotCur, cur)
	}
}

func TestGetWebhookSecretRefuses(t *testing.T) {
	t.Parallel()
	keys := webhook.NewKeyring(master, nil)
	tests := []struct {
		name    string
		secrets WebhookSecrets
		user    string
		want    codes.Code
	}{
		{"empty user_id", keys, "", codes.InvalidArgument},
		{"user_id over 256 bytes", keys, strings.Repeat("u", 257), codes.InvalidArgument},
		{"empty user_id, webhooks off", nil, "", codes.InvalidArgument},
		{"webhooks off", nil, "alice", codes.FailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := client(t, tt.secrets).GetWebhookSecret(context.Background(), &notificationv1.GetWebhookSecretRequest{UserId: tt.user})
			if status.Code(err) != tt.want || resp != nil {
				t.Errorf("GetWebhookSecret(%s) = %v, %v; want %s", tt.name, resp, err, tt.want)
			}
		})
	}
}
