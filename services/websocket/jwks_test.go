package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/taskflow/taskflow-events/internal/testenv"
)

// idp is a local identity provider: a JWKS endpoint whose key set the test rotates.
type idp struct {
	*httptest.Server
	mu   sync.Mutex
	body []byte
}

func startIDP(t *testing.T) *idp {
	s := &idp{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

// publish makes the endpoint serve keys (by kid), or body as is when keys is nil.
func (s *idp) publish(t *testing.T, keys map[string]*ecdsa.PrivateKey, body string) {
	t.Helper()
	b := []byte(body)
	if keys != nil {
		var list []map[string]string
		for kid, k := range keys {
			list = append(list, map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
				"x": base64.RawURLEncoding.EncodeToString(k.X.FillBytes(make([]byte, 32))),
				"y": base64.RawURLEncoding.EncodeToString(k.Y.FillBytes(make([]byte, 32)))})
		}
		var err error
		if b, err = json.Marshal(map[string]any{"keys": list}); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = b
}

func esToken(t *testing.T, key *ecdsa.PrivateKey, kid, user string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"sub": user, "aud": testAudience, "iss": testIssuer, "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// upgrades reports whether a WebSocket upgrade with tok succeeds (false on HTTP 401).
func upgrades(t *testing.T, n *node, tok string) bool {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(n.wsURL(""), http.Header{"Authorization": {"Bearer " + tok}})
	if err == nil {
		conn.Close()
		return true
	}
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial: %v, want an upgrade or HTTP 401", err)
	}
	return false
}

// TestJWKSURLKeyRotation runs the service with JWT_JWKS_URL pointing at a local identity
// provider that rotates its signing key, without restarting the service.
func TestJWKSURLKeyRotation(t *testing.T) {
	t.Parallel()
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	provider := startIDP(t)
	provider.publish(t, map[string]*ecdsa.PrivateKey{"k1": k1}, "")
	n := startAlone(t, map[string]string{"JWT_JWKS_URL": provider.URL, "JWT_JWKS_REFRESH": "300ms", "JWT_JWKS_MIN_REFRESH": "1h"})
	tok1, tok2 := esToken(t, k1, "k1", "rita"), esToken(t, k2, "k2", "rita")

	if !upgrades(t, n, tok1) {
		t.Fatalf("token signed with the published key k1: HTTP 401, want an upgrade")
	}
	if upgrades(t, n, tok2) {
		t.Fatalf("token signed with the unpublished key k2: upgraded, want HTTP 401")
	}
	// Rotation, step 1: both keys published. k2's tokens work after the next refresh.
	provider.publish(t, map[string]*ecdsa.PrivateKey{"k1": k1, "k2": k2}, "")
	testenv.WaitFor(t, 10*time.Second, "a token signed with the new key k2 to be accepted", func() bool { return upgrades(t, n, tok2) })
	// Step 2: k1 removed. Its tokens are refused after the next refresh; k2's still work.
	provider.publish(t, map[string]*ecdsa.PrivateKey{"k2": k2}, "")
	testenv.WaitFor(t, 10*time.Second, "a token signed with the removed key k1 to be refused", func() bool { return !upgrades(t, n, tok1) })
	// A broken endpoint keeps the last good set.
	provider.publish(t, nil, "<html>502 Bad Gateway</html>")
	testenv.WaitFor(t, 10*time.Second, "a failed refresh to be logged", func() bool {
		return strings.Contains(n.svc.Logs(), `"msg":"jwks_refresh_failed"`)
	})
	if !upgrades(t, n, tok2) {
		t.Errorf("token signed with k2 while the JWKS endpoint answers garbage: HTTP 401, want the last good keys used")
	}
}
