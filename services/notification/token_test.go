package main

import (
	"context"
	"strings"
	"testing"
	"time"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
	"github.com/taskflow/taskflow-events/internal/testenv"
)

// TestAppToken: with APP_API_TOKEN set, a reminder through daprd (which sends the token)
// is e-mailed, while a direct callback or API call without the token, or with a wrong one,
// is refused and sends nothing.
func TestAppToken(t *testing.T) {
	const token = "notification-e2e-app-token"
	s := startStack(t, map[string]string{"APP_API_TOKEN": token})
	authed := metadata.AppendToOutgoingContext(context.Background(), "dapr-api-token", token)
	due := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)

	s.publish(t, reminder("tok-delivered", due, "delivered@example.com", ""))
	testenv.WaitFor(t, 30*time.Second, "the delivered reminder's e-mail", func() bool { return len(s.mail.Messages(t)) == 1 })

	injected := reminder("tok-injected", due, "victim@example.com", "")
	data, err := proto.Marshal(injected)
	if err != nil {
		t.Fatal(err)
	}
	conn := s.svc.Conn(t)
	callback := runtimev1.NewAppCallbackClient(conn)
	for _, tc := range []struct{ name, token string }{{"no token", ""}, {"wrong token", "guess"}} {
		ctx := context.Background()
		if tc.token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "dapr-api-token", tc.token)
		}
		calls := map[string]error{}
		_, calls["OnTopicEvent"] = callback.OnTopicEvent(ctx, &runtimev1.TopicEventRequest{Id: injected.GetEventId(), Type: "taskflow.reminder.due.v1",
			SpecVersion: "1.0", DataContentType: "application/octet-stream", Data: data, Topic: Topic, PubsubName: testenv.PubsubName})
		_, calls["OnBulkTopicEvent"] = callback.OnBulkTopicEvent(ctx, &runtimev1.TopicEventBulkRequest{Id: "b", Topic: Topic, PubsubName: testenv.PubsubName,
			Entries: []*runtimev1.TopicEventBulkRequestEntry{{EntryId: "1", ContentType: "application/octet-stream",
				Event: &runtimev1.TopicEventBulkRequestEntry_Bytes{Bytes: data}}}})
		_, calls["ListDeliveries"] = s.deliver.ListDeliveries(ctx, &notificationv1.ListDeliveriesRequest{EventId: "tok-delivered"})
		_, calls["GetWebhookSecret"] = s.deliver.GetWebhookSecret(ctx, &notificationv1.GetWebhookSecretRequest{UserId: "user-tok-delivered"})
		_, calls["GetPreferences"] = s.deliver.GetPreferences(ctx, &notificationv1.GetPreferencesRequest{UserId: "user-tok-delivered"})
		_, calls["SetPreferences"] = s.deliver.SetPreferences(ctx, &notificationv1.SetPreferencesRequest{Preferences: &notificationv1.Preferences{
			UserId: "user-tok-delivered", DisabledChannels: []notificationv1.Channel{notificationv1.Channel_CHANNEL_EMAIL}}})
		for method, err := range calls {
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("%s with %s = %v, want Unauthenticated", method, tc.name, err)
			}
		}
	}
	time.Sleep(2 * time.Second) // an e-mail of the injection would have arrived by now
	if msgs := s.mail.Messages(t); len(msgs) != 1 {
		t.Errorf("%d e-mails after the refused injections, want only the delivered reminder's", len(msgs))
	}
	if resp, err := s.deliver.ListDeliveries(authed, &notificationv1.ListDeliveriesRequest{EventId: "tok-injected"}); err != nil || len(resp.GetDeliveries()) != 0 {
		t.Errorf("ListDeliveries(tok-injected) with the token = %v, %v, want no ledger entries", resp, err)
	}
	if resp, err := s.deliver.GetPreferences(authed, &notificationv1.GetPreferencesRequest{UserId: "user-tok-delivered"}); err != nil ||
		len(resp.GetPreferences().GetDisabledChannels()) != 0 || resp.GetPreferences().GetUpdatedAt() != nil {
		t.Errorf("GetPreferences after the refused SetPreferences = %v, %v, want the defaults (nothing stored)", resp, err)
	}
	if strings.Contains(s.svc.Logs(), token) {
		t.Errorf("the service log contains the app token")
	}
}
