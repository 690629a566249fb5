package deliveryapi

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
	"github.com/taskflow/taskflow-events/services/notification/internal/ledger"
	"github.com/taskflow/taskflow-events/services/notification/internal/notify"
	"github.com/taskflow/taskflow-events/services/notification/internal/webhook"
)

// PreferenceStore reads and replaces users' delivery preferences (ledger.Store).
type PreferenceStore interface {
	GetPreferences(ctx context.Context, userID string) (ledger.UserPreferences, error)
	SetPreferences(ctx context.Context, userID string, p notify.Preferences, now time.Time) error
}

// GetPreferences implements NotificationService.
func (s *Server) GetPreferences(ctx context.Context, req *notificationv1.GetPreferencesRequest) (*notificationv1.GetPreferencesResponse, error) {
	if err := webhook.CheckUserID(req.GetUserId()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	p, err := s.prefs.GetPreferences(ctx, req.GetUserId())
	if err != nil {
		return nil, status.Error(codes.Unavailable, "preferences store unavailable")
	}
	return &notificationv1.GetPreferencesResponse{Preferences: preferencesToProto(req.GetUserId(), p)}, nil
}

// SetPreferences implements NotificationService.
func (s *Server) SetPreferences(ctx context.Context, req *notificationv1.SetPreferencesRequest) (*notificationv1.SetPreferencesResponse, error) {
	in := req.GetPreferences()
	if err := webhook.CheckUserID(in.GetUserId()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	p, err := preferencesFromProto(in)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	now := s.now().UTC().Truncate(time.Microsecond) // PostgreSQL keeps microseconds
	if err := s.prefs.SetPreferences(ctx, in.GetUserId(), p, now); err != nil {
		return nil, status.Error(codes.Unavailable, "preferences store unavailable")
	}
	return &notificationv1.SetPreferencesResponse{
		Preferences: preferencesToProto(in.GetUserId(), ledger.UserPreferences{Preferences: p, UpdatedAt: now}),
	}, nil
}

func preferencesFromProto(in *notificationv1.Preferences) (notify.Preferences, error) {
	var p notify.Preferences
	seen := map[notificationv1.Channel]bool{}
	for _, c := range in.GetDisabledChannels() {
		name, ok := channelNames[c]
		switch {
		case !ok:
			return p, fmt.Errorf("disabled_channels: unknown channel %v", c)
		case seen[c]:
			return p, fmt.Errorf("disabled_channels: %v is listed twice", c)
		}
		seen[c] = true
		p.Disabled = append(p.Disabled, notify.Channel(name))
	}
	if q := in.GetQuietHours(); q != nil {
		start, err := notify.ParseClock(q.GetStart())
		if err != nil {
			return p, fmt.Errorf("quiet_hours.start %w", err)
		}
		end, err := notify.ParseClock(q.GetEnd())
		if err != nil {
			return p, fmt.Errorf("quiet_hours.end %w", err)
		}
		p.Quiet = &notify.QuietHours{Start: start, End: end, TimeZone: q.GetTimeZone()}
		if err := p.Quiet.Validate(); err != nil {
			return p, err
		}
	}
	return p, nil
}

func preferencesToProto(userID string, p ledger.UserPreferences) *notificationv1.Preferences {
	out := &notificationv1.Preferences{UserId: userID}
	for _, c := range p.Disabled {
		out.DisabledChannels = append(out.DisabledChannels, channels[string(c)])
	}
	if q := p.Quiet; q != nil {
		out.QuietHours = &notificationv1.QuietHours{Start: notify.Clock(q.Start), End: notify.Clock(q.End), TimeZone: q.TimeZone}
	}
	if !p.UpdatedAt.IsZero() {
		out.UpdatedAt = timestamppb.New(p.UpdatedAt)
	}
	return out
}

var channelNames = map[notificationv1.Channel]string{
	notificationv1.Channel_CHANNEL_IN_APP: "in_app", notificationv1.Channel_CHANNEL_WEBHOOK: "webhook",
	notificationv1.Channel_CHANNEL_EMAIL: "email",
}
