package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func sign(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(extra map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "user-1", "iss": "taskflow", "aud": "taskflow-ws", "exp": now.Add(time.Hour).Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestVerify(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pemKeys := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "EC", "crv": "P-256", "kid": "ec1", "x": b64(ecKey.X.FillBytes(make([]byte, 32))), "y": b64(ecKey.Y.FillBytes(make([]byte, 32)))},
		{"kty": "OKP", "crv": "Ed25519", "kid": "ed1", "x": b64(edPub)},
	}})
	v, err := NewVerifier(context.Background(), Config{HS256Secret: secret, PublicKeysPEM: pemKeys, JWKS: jwks, Issuer: "taskflow",
		Audience: []string{"taskflow-ws"}, Leeway: 5 * time.Second}, func() time.Time { return now }, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		token string
		want  string // user id; "" means refused
	}{
		{"HS256", sign(t, jwt.SigningMethodHS256, secret, "", claims(nil)), "user-1"},
		{"RS256 from PEM", sign(t, jwt.SigningMethodRS256, rsaKey, "", claims(nil)), "user-1"},
		{"ES256 from JWKS by kid", sign(t, jwt.SigningMethodES256, ecKey, "ec1", claims(nil)), "user-1"},
		{"EdDSA from JWKS without kid", sign(t, jwt.SigningMethodEdDSA, edKey, "", claims(nil)), "user-1"},
		{"aud list containing ours", sign(t, jwt.SigningMethodHS256, secret, "", claims(map[string]any{"aud": []string{"x", "taskflow-ws"}})), "user-1"},
		{"expired", sign(t, jwt.SigningMethodHS256, secret, "", claims(map[string]any{"exp": now.Add(-time.Minute).Unix()})), ""},
		{"expired within leeway", sign(t, jwt.SigningMethodHS256, secret, "", claims(map[string]any{"exp": now.Add(-2 * time.Second).Unix()})), "user-1"},
		{"no exp", sign(t, jwt.SigningMethodHS256, secret, "", claims(map[string]any{"exp": nil})), ""},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, secret, "", claims(map[string]any{"nbf": now.Add(time.Minute).Unix()})), ""},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, secret, "", claims(map[string]any{"iss": "evil"})), ""},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, secret, "", claims(map[string]any{"aud": "other"})), ""},
		{"no sub", sign(t, jwt.SigningMethodHS256, secret, "", claims(map[string]any{"sub": nil})), ""},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), "", claims(nil)), ""},
		{"unknown RSA key", sign(t, jwt.SigningMethodRS256, otherRSA, "", claims(nil)), ""},
		{"HS256 keyed with the public key", sign(t, jwt.SigningMethodHS256, pemKeys, "", claims(nil)), ""},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims(nil)), ""},
		{"HS512 not allowed", sign(t, jwt.SigningMethodHS512, secret, "", claims(nil)), ""},
		{"garbage", "not.a.jwt", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := v.Verify(tt.token)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidToken) {
					t.Errorf("Verify = %+v, %v; want ErrInvalidToken", got, err)
				}
				return
			}
			if err != nil || got.UserID != tt.want {
				t.Errorf("Verify = %+v, %v; want user %s", got, err, tt.want)
			}
		})
	}
}

func TestCustomUserClaim(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := NewVerifier(context.Background(), Config{HS256Secret: secret, UserClaim: "uid"}, func() time.Time { return now }, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, "", claims(map[string]any{"uid": "u-9"})))
	if err != nil || got.UserID != "u-9" || !got.Expiry.Equal(now.Add(time.Hour)) {
		t.Errorf("Verify = %+v, %v; want user u-9 expiring at %v", got, err, now.Add(time.Hour))
	}
}

func TestNewVerifierNeedsAKey(t *testing.T) {
	t.Parallel()
	if _, err := NewVerifier(context.Background(), Config{}, nil, nil); err == nil {
		t.Error("NewVerifier(no keys) = nil error, want an error")
	}
	if _, err := NewVerifier(context.Background(), Config{JWKS: []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}`)}, nil, nil); err == nil {
		t.Error("NewVerifier(point not on curve) = nil error, want an error")
	}
}
