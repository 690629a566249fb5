package deliveryapi

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
	"github.com/taskflow/taskflow-events/services/notification/internal/webhook"
)

// WebhookSecrets derives each user's webhook secret (webhook.Keyring).
type WebhookSecrets interface {
	UserSecrets(userID string) (current, previous string, err error)
}

// GetWebhookSecret implements NotificationService. The secret is only returned, never
// logged, and no error carries it.
func (s *Server) GetWebhookSecret(_ context.Context, req *notificationv1.GetWebhookSecretRequest) (*notificationv1.GetWebhookSecretResponse, error) {
	if err := webhook.CheckUserID(req.GetUserId()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if s.secrets == nil {
		return nil, status.Error(codes.FailedPrecondition, "the webhook channel is not configured (WEBHOOK_SECRET is not set)")
	}
	current, previous, err := s.secrets.UserSecrets(req.GetUserId())
	if errors.Is(err, webhook.ErrInvalidUserID) {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err != nil {
		return nil, status.Error(codes.Internal, "derive the webhook secret")
	}
	return &notificationv1.GetWebhookSecretResponse{Secret: current, PreviousSecret: previous}, nil
}
