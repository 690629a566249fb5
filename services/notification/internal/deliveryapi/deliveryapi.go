// Package deliveryapi serves taskflow.notification.v1.NotificationService: the delivery
// ledger and each user's webhook secret.
package deliveryapi

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
	"github.com/taskflow/taskflow-events/services/notification/internal/ledger"
)

// Page sizes of ListDeliveries.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Lister reads the ledger.
type Lister interface {
	List(ctx context.Context, q ledger.Query) ([]ledger.Entry, error)
}

// Server implements taskflow.notification.v1.NotificationService.
type Server struct {
	notificationv1.UnimplementedNotificationServiceServer
	ledger  Lister
	secrets WebhookSecrets
	prefs   PreferenceStore
	now     func() time.Time
}

var _ notificationv1.NotificationServiceServer = (*Server)(nil)

// New returns a Server over a ledger, the webhook secrets and the preferences; secrets is
// nil when the webhook channel is not configured.
func New(l Lister, secrets WebhookSecrets, prefs PreferenceStore, now func() time.Time) *Server {
	return &Server{ledger: l, secrets: secrets, prefs: prefs, now: now}
}

// ListDeliveries implements NotificationService.
func (s *Server) ListDeliveries(ctx context.Context, req *notificationv1.ListDeliveriesRequest) (*notificationv1.ListDeliveriesResponse, error) {
	if req.GetUserId() == "" && req.GetEventId() == "" {
		return nil, status.Error(codes.InvalidArgument, "user_id or event_id is required")
	}
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = DefaultPageSize
	case size > MaxPageSize:
		return nil, status.Errorf(codes.InvalidArgument, "page_size %d: want 1 to %d", size, MaxPageSize)
	}
	q := ledger.Query{UserID: req.GetUserId(), EventID: req.GetEventId(), Limit: size + 1}
	if t := req.GetPageToken(); t != "" {
		c, err := decodeToken(t)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "page_token is invalid")
		}
		q.After = c
	}
	entries, err := s.ledger.List(ctx, q)
	if err != nil {
		return nil, status.Error(codes.Unavailable, "delivery ledger unavailable")
	}
	resp := &notificationv1.ListDeliveriesResponse{}
	if len(entries) > size {
		entries = entries[:size]
		last := entries[size-1]
		resp.NextPageToken = encodeToken(ledger.Cursor{CreatedAt: last.CreatedAt, EventID: last.EventID, Channel: last.Channel})
	}
	for _, e := range entries {
		resp.Deliveries = append(resp.Deliveries, toProto(e))
	}
	return resp, nil
}

func toProto(e ledger.Entry) *notificationv1.Delivery {
	d := &notificationv1.Delivery{
		EventId: e.EventID, Channel: channels[e.Channel], Status: statuses[e.Status], Attempts: uint32(e.Attempts),
		LastError: e.LastError, UserId: e.UserID, TaskId: e.TaskID, NotificationId: e.NotificationID,
		CreatedAt: timestamppb.New(e.CreatedAt), UpdatedAt: timestamppb.New(e.UpdatedAt),
	}
	if e.DeliveredAt != nil {
		d.DeliveredAt = timestamppb.New(*e.DeliveredAt)
	}
	if e.NextAttemptAt != nil {
		d.NextAttemptAt = timestamppb.New(*e.NextAttemptAt)
	}
	return d
}

var channels = map[string]notificationv1.Channel{
	"in_app": notificationv1.Channel_CHANNEL_IN_APP, "webhook": notificationv1.Channel_CHANNEL_WEBHOOK,
	"email": notificationv1.Channel_CHANNEL_EMAIL,
}

var statuses = map[string]notificationv1.DeliveryStatus{
	"sending": notificationv1.DeliveryStatus_DELIVERY_STATUS_SENDING, "delivered": notificationv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED,
	"retrying": notificationv1.DeliveryStatus_DELIVERY_STATUS_RETRYING, "failed": notificationv1.DeliveryStatus_DELIVERY_STATUS_FAILED,
	"skipped": notificationv1.DeliveryStatus_DELIVERY_STATUS_SKIPPED, "held": notificationv1.DeliveryStatus_DELIVERY_STATUS_HELD,
}

// A page token is base64url("<created_at unix µs>|<channel>|<event_id>") of the last entry.
func encodeToken(c ledger.Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "|" + c.Channel + "|" + c.EventID))
}

func decodeToken(t string) (*ledger.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return nil, err
	}
	parts := strings.SplitN(string(b), "|", 3)
	if len(parts) != 3 {
		return nil, errors.New("malformed page token")
	}
	us, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return nil, err
	}
	return &ledger.Cursor{CreatedAt: time.UnixMicro(us), Channel: parts[1], EventID: parts[2]}, nil
}
