package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksServer is a local identity provider's JWKS endpoint whose answer the test swaps.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	body []byte
	hits atomic.Int64
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	s := &jwksServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.body == nil {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

func ecJWKS(t *testing.T, keys map[string]*ecdsa.PrivateKey) []byte {
	t.Helper()
	var list []map[string]string
	for kid, k := range keys {
		list = append(list, map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
			"x": b64(k.X.FillBytes(make([]byte, 32))), "y": b64(k.Y.FillBytes(make([]byte, 32)))})
	}
	b, err := json.Marshal(map[string]any{"keys": list})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// syncWriter is a log sink the refresh goroutine and the test may use at once.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) count(s string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Count(w.buf.String(), s)
}

func TestJWKSURLRotation(t *testing.T) {
	t.Parallel()
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	idp := newJWKSServer(t, ecJWKS(t, map[string]*ecdsa.PrivateKey{"old": oldKey}))
	logs := &syncWriter{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := NewVerifier(ctx, Config{JWKSURL: idp.URL, JWKSRefresh: 200 * time.Millisecond, JWKSMinRefresh: time.Hour},
		func() time.Time { return now }, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	oldTok := sign(t, jwt.SigningMethodES256, oldKey, "old", claims(nil))
	newTok := sign(t, jwt.SigningMethodES256, newKey, "new", claims(nil))
	accepts := func(tok string) bool { _, err := v.Verify(tok); return err == nil }

	if _, err := v.Verify(oldTok); err != nil {
		t.Fatalf("Verify(key of the first fetch) = %v, want accepted", err)
	}
	idp.serve(ecJWKS(t, map[string]*ecdsa.PrivateKey{"new": newKey}))
	// The unknown kid refreshes at once (the limiter's one burst), no restart needed.
	if _, err := v.Verify(newTok); err != nil {
		t.Fatalf("Verify(new key) after rotation = %v, want accepted", err)
	}
	if _, err := v.Verify(oldTok); err == nil {
		t.Errorf("Verify(removed key) after the refresh = nil error, want refused")
	}

	// Garbage, then an outage: the last good set stays, and each failed refresh logs once.
	idp.serve([]byte(`{"keys": [{"kty": "EC", "crv": "P-256", "x": "garbage"}]`))
	waitHits(t, idp, 3)
	idp.serve(nil)
	waitHits(t, idp, 3)
	if _, err := v.Verify(newTok); err != nil {
		t.Errorf("Verify(new key) while the endpoint is broken = %v, want the last good set used", err)
	}
	cancel() // stop refreshing so hits and log lines can be compared
	time.Sleep(50 * time.Millisecond)
	failed := idp.hits.Load() - 2 // the first fetch and the unknown-kid refresh succeeded
	if got := logs.count(`"msg":"jwks_refresh_failed"`); int64(got) != failed {
		t.Errorf("jwks_refresh_failed lines = %d, want one per failed refresh (%d)", got, failed)
	}

	// Unknown kids are rate limited: at most one refresh per JWKSMinRefresh.
	before := idp.hits.Load()
	for range 5 {
		if accepts(sign(t, jwt.SigningMethodES256, oldKey, "made-up", claims(nil))) {
			t.Errorf("token with an unknown kid accepted")
		}
	}
	if got := idp.hits.Load() - before; got != 0 {
		t.Errorf("unknown-kid tokens caused %d fetches within JWKSMinRefresh of the last one, want 0", got)
	}
}

func waitHits(t *testing.T, s *jwksServer, n int64) {
	t.Helper()
	want := s.hits.Load() + n
	deadline := time.Now().Add(10 * time.Second)
	for s.hits.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("JWKS endpoint fetched %d times, want %d within 10s", s.hits.Load(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCheckJWKSURL(t *testing.T) {
	t.Parallel()
	for raw, ok := range map[string]bool{
		"https://idp.example.com/.well-known/jwks.json": true,
		"http://127.0.0.1:8080/jwks":                    true,
		"http://localhost/jwks":                         true,
		"http://[::1]:9000/jwks":                        true,
		"http://idp.example.com/jwks":                   false,
		"ftp://idp.example.com/jwks":                    false,
		"/jwks.json":                                    false,
	} {
		if err := CheckJWKSURL(raw); (err == nil) != ok {
			t.Errorf("CheckJWKSURL(%q) = %v, want ok %v", raw, err, ok)
		}
	}
}
