// Package auth verifies the JWTs WebSocket clients present and extracts the user id.
package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken wraps every reason a token is refused.
var ErrInvalidToken = errors.New("invalid token")

// Config says which tokens are accepted. At least one of HS256Secret, PublicKeysPEM, JWKS
// and JWKSURL must be set.
type Config struct {
	// HS256Secret enables HS256 with this shared secret.
	HS256Secret []byte
	// PublicKeysPEM holds one or more PEM public keys (PKIX "PUBLIC KEY", "RSA PUBLIC KEY"
	// or certificates) for RS256, ES256 and EdDSA.
	PublicKeysPEM []byte
	// JWKS is a JSON Web Key Set document; keys are chosen by "kid" when the token has one.
	JWKS []byte
	// JWKSURL is a JWKS endpoint (https; http only for localhost), fetched at start, every
	// JWKSRefresh [10m] and on a token whose kid is unknown, at most once per
	// JWKSMinRefresh [30s]. Its keys are used besides the ones above.
	JWKSURL        string
	JWKSRefresh    time.Duration
	JWKSMinRefresh time.Duration
	// Issuer, when set, must equal the "iss" claim.
	Issuer string
	// Audience, when set, must contain one of the token's "aud" values.
	Audience []string
	// UserClaim names the claim holding the user id ("sub" when empty).
	UserClaim string
	// Leeway tolerates clock skew on exp and nbf.
	Leeway time.Duration
}

// Claims is what a valid token says about the connection.
type Claims struct {
	UserID string
	// Expiry is when the token stops being valid; the connection is closed then.
	Expiry time.Time
}

// Verifier checks tokens against a Config.
type Verifier struct {
	secret    []byte
	keys      []crypto.PublicKey
	byKid     map[string]crypto.PublicKey
	remote    keyfunc.Keyfunc // nil without JWKSURL
	userClaim string
	parser    *jwt.Parser
}

// NewVerifier parses the configured keys and, with a JWKS URL, fetches its keys and keeps
// them fresh until ctx ends (refresh failures are logged to logger).
func NewVerifier(ctx context.Context, cfg Config, now func() time.Time, logger *slog.Logger) (*Verifier, error) {
	v := &Verifier{secret: cfg.HS256Secret, byKid: map[string]crypto.PublicKey{}, userClaim: cfg.UserClaim}
	if v.userClaim == "" {
		v.userClaim = "sub"
	}
	if len(cfg.PublicKeysPEM) > 0 {
		keys, err := parsePEMKeys(cfg.PublicKeysPEM)
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, keys...)
	}
	if len(cfg.JWKS) > 0 {
		byKid, anon, err := parseJWKS(cfg.JWKS)
		if err != nil {
			return nil, err
		}
		for kid, k := range byKid {
			v.byKid[kid] = k
			v.keys = append(v.keys, k)
		}
		v.keys = append(v.keys, anon...)
	}
	if cfg.JWKSURL != "" {
		remote, err := newRemoteKeys(ctx, cfg, logger)
		if err != nil {
			return nil, err
		}
		v.remote = remote
	}
	var methods []string
	if len(v.secret) > 0 {
		methods = append(methods, "HS256")
	}
	if len(v.keys) > 0 || v.remote != nil {
		methods = append(methods, "RS256", "ES256", "EdDSA")
	}
	if len(methods) == 0 {
		return nil, errors.New("no verification key: set an HS256 secret, PEM public keys, a JWKS or a JWKS URL")
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithExpirationRequired(), jwt.WithLeeway(cfg.Leeway)}
	if now != nil {
		opts = append(opts, jwt.WithTimeFunc(now))
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if len(cfg.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(cfg.Audience...))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Verify checks the signature, exp, nbf, iss and aud of token and returns its claims.
func (v *Verifier) Verify(token string) (Claims, error) {
	if token == "" {
		return Claims{}, fmt.Errorf("%w: no token", ErrInvalidToken)
	}
	mc := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, mc, v.key); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	user, _ := mc[v.userClaim].(string)
	if user == "" {
		return Claims{}, fmt.Errorf("%w: claim %q is missing or not a string", ErrInvalidToken, v.userClaim)
	}
	exp, err := mc.GetExpirationTime()
	if err != nil || exp == nil {
		return Claims{}, fmt.Errorf("%w: no exp", ErrInvalidToken)
	}
	return Claims{UserID: user, Expiry: exp.Time}, nil
}

func (v *Verifier) key(t *jwt.Token) (any, error) {
	if _, ok := t.Method.(*jwt.SigningMethodHMAC); ok {
		return v.secret, nil
	}
	kid, _ := t.Header["kid"].(string)
	if kid != "" {
		if k, ok := v.byKid[kid]; ok {
			return k, nil
		}
	}
	set := jwt.VerificationKeySet{}
	var remoteErr error
	if v.remote != nil {
		if kid != "" {
			// Reads the current set; an unknown kid triggers a (rate-limited) refresh.
			k, err := v.remote.Keyfunc(t)
			if err == nil {
				return k, nil
			}
			remoteErr = err
		} else if rs, err := v.remote.VerificationKeySet(context.Background()); err != nil {
			remoteErr = err
		} else {
			set.Keys = append(set.Keys, rs.Keys...)
		}
	}
	// Static keys without a matching kid are tried too (tokens of issuers that send none).
	for _, k := range v.keys {
		set.Keys = append(set.Keys, k)
	}
	set.Keys = slices.DeleteFunc(set.Keys, func(k jwt.VerificationKey) bool { return !keyFits(t.Method, k) })
	if len(set.Keys) == 0 {
		if remoteErr != nil {
			return nil, fmt.Errorf("no key for algorithm %s and kid %q: %w", t.Method.Alg(), kid, remoteErr)
		}
		return nil, fmt.Errorf("no key for algorithm %s", t.Method.Alg())
	}
	return set, nil
}

func keyFits(m jwt.SigningMethod, k crypto.PublicKey) bool {
	switch m.(type) {
	case *jwt.SigningMethodRSA:
		_, ok := k.(*rsa.PublicKey)
		return ok
	case *jwt.SigningMethodECDSA:
		_, ok := k.(*ecdsa.PublicKey)
		return ok
	case *jwt.SigningMethodEd25519:
		_, ok := k.(ed25519.PublicKey)
		return ok
	}
	return false
}

func parsePEMKeys(data []byte) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var k any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			k, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			k, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(block.Bytes); err == nil {
				k = c.PublicKey
			}
		default:
			return nil, fmt.Errorf("parse PEM public keys: unsupported block %q", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("parse PEM %s: %w", block.Type, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("parse PEM public keys: no PEM block found")
	}
	return keys, nil
}
