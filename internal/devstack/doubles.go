package devstack

import (
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

	"google.golang.org/protobuf/encoding/protojson"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
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
// Webhooks: HMAC-SHA256 over "id.timestamp.body", header "v1,<base64>").
type WebhookReceiver struct {
	key   []byte
	mu    sync.Mutex
	calls []WebhookCall
}

// WebhookCall is one received call.
type WebhookCall struct {
	ID       string
	Body     string
	Verified bool
}

// NewWebhookReceiver verifies with secret ("whsec_<base64>" or raw).
func NewWebhookReceiver(secret string) *WebhookReceiver {
	return &WebhookReceiver{key: WebhookKey(secret)}
}

// WebhookKey decodes a Standard Webhooks secret.
func WebhookKey(secret string) []byte {
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if k, err := base64.StdEncoding.DecodeString(rest); err == nil {
			return k
		}
	}
	return []byte(secret)
}

// Calls returns the calls so far.
func (wr *WebhookReceiver) Calls() []WebhookCall {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return append([]WebhookCall(nil), wr.calls...)
}

func (wr *WebhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	mac := hmac.New(sha256.New, wr.key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	verified := false
	for _, sig := range strings.Fields(r.Header.Get("webhook-signature")) {
		verified = verified || hmac.Equal([]byte(sig), []byte(want))
	}
	wr.mu.Lock()
	wr.calls = append(wr.calls, WebhookCall{ID: id, Body: string(body), Verified: verified})
	wr.mu.Unlock()
	if !verified {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
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
