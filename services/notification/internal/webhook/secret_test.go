package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testMaster is the master key of these tests (the Standard Webhooks test vector's secret).
var testMaster = mustParse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")

var testKeys = NewKeyring(testMaster, nil)

func mustParse(s string) []byte {
	k, err := ParseSecret(s)
	if err != nil {
		panic(err)
	}
	return k
}

func signed(id string, ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h
}

// userSecrets returns the user's current and previous secrets from k, failing the test on error.
func userSecrets(t *testing.T, k *Keyring, userID string) (current, previous string) {
	t.Helper()
	current, previous, err := k.UserSecrets(userID)
	if err != nil {
		t.Fatalf("UserSecrets(%q) error = %v", userID, err)
	}
	return current, previous
}

// TestUserSecretVector pins the derivation: receivers hold these secrets, so a change to
// it would silently break every one of them. Computed independently (Python hmac):
// base64(HMAC-SHA256(master, "taskflow.webhook.v1 user:" + user_id)).
func TestUserSecretVector(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ user, want string }{
		{"user-1", "whsec_4QXjFo26De86oj4qf63iWfUSq1KNGnGFnQsYtuUBhQ0="},
		{"user-2", "whsec_Ml4oLYWXyK7iwsloWkM9Qu4zJjQWJubz53BuXwGBWOY="},
	} {
		if got, prev := userSecrets(t, testKeys, tt.user); got != tt.want || prev != "" {
			t.Errorf("UserSecrets(%q) = %q, %q; want %q, \"\"", tt.user, got, prev, tt.want)
		}
	}
	body := []byte(`{"test": 2432232314}`)
	ts := time.Unix(1614265330, 0)
	sig, err := testKeys.Signature("user-1", "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body)
	if want := "v1,5q+YovnV+WKhqAvBkHaHE1814pG3xFxlsLUVcD5ybnc="; err != nil || sig != want {
		t.Errorf("Signature(user-1) = %q, %v; want %q", sig, err, want)
	}
}

// TestSignatureVerifiesOnlyForItsUser: a webhook signed for user A verifies with A's
// secret (as GetWebhookSecret hands it out) and not with B's, nor with the master key
// that used to sign every user's webhooks.
func TestSignatureVerifiesOnlyForItsUser(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"task.reminder","data":{"user_id":"alice"}}`)
	ts := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	sig, err := testKeys.Signature("alice", "n-1", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	h := signed("n-1", ts, sig)
	alice, _ := userSecrets(t, testKeys, "alice")
	bob, _ := userSecrets(t, testKeys, "bob")
	if alice == bob {
		t.Fatalf("alice and bob have the same secret %q", alice)
	}
	tests := []struct {
		name    string
		key     []byte
		wantErr error
	}{
		{"alice's secret", mustParse(alice), nil},
		{"bob's secret", mustParse(bob), ErrInvalidSignature},
		{"the master key", testMaster, ErrInvalidSignature},
	}
	for _, tt := range tests {
		if err := Verify(tt.key, h, body, ts, 5*time.Minute); !errors.Is(err, tt.wantErr) {
			t.Errorf("Verify(alice's webhook, %s) = %v, want %v", tt.name, err, tt.wantErr)
		}
	}
	// Bob signing his own webhook cannot produce alice's signature either.
	bobSig, _ := testKeys.Signature("bob", "n-1", ts, body)
	if err := Verify(mustParse(alice), signed("n-1", ts, bobSig), body, ts, 5*time.Minute); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("Verify(bob's webhook, alice's secret) = %v, want ErrInvalidSignature", err)
	}
}

// TestRotationSignsUnderBothMasters: with a previous master the webhook carries two v1
// signatures, so a receiver verifying with either of the user's secrets accepts it;
// another user's secrets still fail.
func TestRotationSignsUnderBothMasters(t *testing.T) {
	t.Parallel()
	next := []byte("a brand new master key, 32 bytes")
	rotating := NewKeyring(next, testMaster)
	cur, prev := userSecrets(t, rotating, "alice")
	if old, _ := userSecrets(t, testKeys, "alice"); prev != old {
		t.Errorf("previous secret during rotation = %q, want the secret before it %q", prev, old)
	}
	if newOnly, _ := userSecrets(t, NewKeyring(next, nil), "alice"); cur != newOnly {
		t.Errorf("current secret during rotation = %q, want the new master's %q", cur, newOnly)
	}
	body := []byte(`{"x":1}`)
	ts := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	sig, err := rotating.Signature("alice", "n-2", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(sig)); n != 2 {
		t.Errorf("webhook-signature %q has %d signatures, want 2", sig, n)
	}
	bobCur, bobPrev := userSecrets(t, rotating, "bob")
	for _, tt := range []struct {
		name    string
		secret  string
		wantErr error
	}{
		{"new secret", cur, nil}, {"previous secret", prev, nil},
		{"bob's new secret", bobCur, ErrInvalidSignature}, {"bob's previous secret", bobPrev, ErrInvalidSignature},
	} {
		if err := Verify(mustParse(tt.secret), signed("n-2", ts, sig), body, ts, 5*time.Minute); !errors.Is(err, tt.wantErr) {
			t.Errorf("Verify(alice's webhook, %s) = %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}

func TestUserIDBounds(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, id string
		wantErr  bool
	}{
		{"empty", "", true},
		{"one byte", "u", false},
		{"256 bytes", strings.Repeat("u", 256), false},
		{"257 bytes", strings.Repeat("u", 257), true},
	} {
		_, _, err := testKeys.UserSecrets(tt.id)
		if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrInvalidUserID)) {
			t.Errorf("UserSecrets(%s) error = %v, want error %v", tt.name, err, tt.wantErr)
		}
		_, err = testKeys.Signature(tt.id, "n", time.Unix(0, 0), nil)
		if (err != nil) != tt.wantErr {
			t.Errorf("Signature(%s) error = %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
}
