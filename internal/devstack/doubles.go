package devstack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
	notificationv1 "github.com/taskflow/taskflow-events/gen/taskflow/notification/v1"
)

// TaskAPI is the Task API development double: it accepts the recurring service's create
// calls (POST /api/tasks with an Idempotency-Key) and lists them (GET /api/tasks).
type TaskAPI struct {
	mu      sync.Mutex
	created []*eventsv1.Task
	keys    map[string]bool
	calls   int
}

// NewTaskAPI returns an empty double.
func NewTaskAPI() *TaskAPI { return &TaskAPI{keys: map[string]bool{}} }

// Created returns the tasks created so far, in order.
func (a *TaskAPI) Created() []*eventsv1.Task {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*eventsv1.Task(nil), a.created...)
}

// CreatedSince returns the tasks created after the first n, in order: a poller that
// remembers how many it has seen copies only the new ones.
func (a *TaskAPI) CreatedSince(n int) []*eventsv1.Task {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n >= len(a.created) {
		return nil
	}
	return append([]*eventsv1.Task(nil), a.created[n:]...)
}

// Calls is how many create calls arrived, duplicates included.
func (a *TaskAPI) Calls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

func (a *TaskAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && strings.TrimPrefix(r.URL.Path, "/") == "api/tasks":
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		task := &eventsv1.Task{}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, task); err != nil {
			http.Error(w, "invalid task: "+err.Error(), http.StatusBadRequest)
			return
		}
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			http.Error(w, "Idempotency-Key header is required", http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		a.calls++
		dup := a.keys[key]
		if !dup {
			a.keys[key] = true
			a.created = append(a.created, task)
		}
		a.mu.Unlock()
		if dup {
			http.Error(w, "task "+key+" already exists", http.StatusConflict)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	case r.Method == http.MethodGet && strings.TrimPrefix(r.URL.Path, "/") == "api/tasks":
		out := []json.RawMessage{}
		for _, t := range a.Created() {
			b, _ := protojson.Marshal(t)
			out = append(out, b)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	default:
		http.NotFound(w, r)
	}
}

// WebhookReceiver records signed webhook calls and verifies each signature (Standard
// Webhooks: HMAC-SHA256 over "id.timestamp.body", header "v1,<base64>") with the secret of
// the user the call is for, as the notification service's GetWebhookSecret hands it out
// (what the Task API shows that user). A real endpoint belongs to one user and holds that
// user's secret; this one stands in for every user's, so it picks the secret by the
// payload's data.user_id, and a call signed for another user still fails.
type WebhookReceiver struct {
	secrets func(ctx context.Context, userID string) ([]string, error)
	mu      sync.Mutex
	keys    map[string][][]byte // user id -> keys of the user's secrets
	calls   []WebhookCall
}

// WebhookCall is one received call.
type WebhookCall struct {
	ID       string
	UserID   string
	Body     string
	Verified bool
}

// NewWebhookReceiver verifies with the secrets ("whsec_<base64>") secrets returns for a user.
func NewWebhookReceiver(secrets func(ctx context.Context, userID string) ([]string, error)) *WebhookReceiver {
	return &WebhookReceiver{secrets: secrets, keys: map[string][][]byte{}}
}

// Calls returns the calls so far.
func (wr *WebhookReceiver) Calls() []WebhookCall {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return append([]WebhookCall(nil), wr.calls...)
}

// userKeys returns the keys of a user's secrets, asking once per user.
func (wr *WebhookReceiver) userKeys(ctx context.Context, userID string) [][]byte {
	wr.mu.Lock()
	keys, ok := wr.keys[userID]
	wr.mu.Unlock()
	if ok || userID == "" {
		return keys
	}
	secrets, err := wr.secrets(ctx, userID)
	if err != nil {
		return nil // not verified; asked again on the next call
	}
	for _, sec := range secrets {
		if k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sec, "whsec_")); err == nil {
			keys = append(keys, k)
		}
	}
	wr.mu.Lock()
	wr.keys[userID] = keys
	wr.mu.Unlock()
	return keys
}

func (wr *WebhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	var p struct {
		Data struct {
			UserID string `json:"user_id"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &p)
	verified := false
	for _, key := range wr.userKeys(r.Context(), p.Data.UserID) {
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		for _, sig := range strings.Fields(r.Header.Get("webhook-signature")) {
			verified = verified || hmac.Equal([]byte(sig), []byte(want))
		}
	}
	wr.mu.Lock()
	wr.calls = append(wr.calls, WebhookCall{ID: id, UserID: p.Data.UserID, Body: string(body), Verified: verified})
	wr.mu.Unlock()
	if !verified {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// webhookSecrets asks the notification service for a user's webhook secrets (current,
// then the previous one during a rotation), as the Task API does: GetWebhookSecret, with
// the services' APP_API_TOKEN when one is set.
func (s *Stack) webhookSecrets(ctx context.Context, userID string) ([]string, error) {
	conn, err := grpc.NewClient(addr(s.Ports.Apps["notification"].GRPC), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if token := s.cfg.ServiceEnv["APP_API_TOKEN"]; token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "dapr-api-token", token)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := notificationv1.NewNotificationServiceClient(conn).GetWebhookSecret(ctx, &notificationv1.GetWebhookSecretRequest{UserId: userID})
	if err != nil {
		return nil, err
	}
	secrets := []string{resp.GetSecret()}
	if p := resp.GetPreviousSecret(); p != "" {
		secrets = append(secrets, p)
	}
	return secrets, nil
}

// DevToken returns an HS256 JWT for user with the given issuer and audience, valid for ttl.
func DevToken(secret, user, issuer, audience string, ttl time.Duration, now time.Time) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{
		"sub": user, "iss": issuer, "aud": audience, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
	})
	payload := enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(header + "." + payload))
	return header + "." + payload + "." + enc.EncodeToString(mac.Sum(nil))
}
