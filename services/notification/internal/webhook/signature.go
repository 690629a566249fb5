// Package webhook delivers notifications as HTTP POSTs signed per the Standard Webhooks
// convention (https://www.standardwebhooks.com): headers webhook-id, webhook-timestamp
// (Unix seconds) and webhook-signature "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>",
// where key is the recipient user's own key, derived from the master key (secret.go).
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix marks a Standard Webhooks secret: "whsec_" followed by base64 key bytes.
const SecretPrefix = "whsec_"

// Header names of the Standard Webhooks convention.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// ParseSecret returns the HMAC key of a secret: the base64-decoded part of a
// "whsec_<base64>" secret, or the bytes of any other string as given.
func ParseSecret(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty webhook secret")
	}
	if rest, ok := strings.CutPrefix(s, SecretPrefix); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, errors.New("webhook secret: the part after whsec_ is not valid base64")
		}
		if len(key) < 16 {
			return nil, fmt.Errorf("webhook secret: key is %d bytes, want at least 16", len(key))
		}
		return key, nil
	}
	if len(s) < 16 {
		return nil, fmt.Errorf("webhook secret: %d characters, want at least 16", len(s))
	}
	return []byte(s), nil
}

// Sign returns the webhook-signature header value for one message signed with key.
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	return sign(key, id, strconv.FormatInt(ts.Unix(), 10), body)
}

func sign(key []byte, id, ts string, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts, body))
}

func mac(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// ErrInvalidSignature is returned by Verify for a message that must be rejected.
var ErrInvalidSignature = errors.New("invalid webhook signature")

// Verify checks a received message as a receiver should: the timestamp within tolerance
// of now and one of the space-separated v1 signatures matching, compared in constant time.
func Verify(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return fmt.Errorf("%w: missing webhook-id, webhook-timestamp or webhook-signature", ErrInvalidSignature)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp %q is not Unix seconds", ErrInvalidSignature, tsText)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %s is outside the tolerance of %s", ErrInvalidSignature, time.Unix(ts, 0).UTC(), tolerance)
	}
	want := mac(key, id, tsText, body)
	for _, s := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 signature matches", ErrInvalidSignature)
}
