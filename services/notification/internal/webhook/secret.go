package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxUserIDBytes bounds the user ids a secret is derived for.
const MaxUserIDBytes = 256

// userLabel starts the message a user's key is derived from. It names the purpose and a
// version, so the same master key can never yield this key for another use, and a future
// derivation can be told apart.
const userLabel = "taskflow.webhook.v1 user:"

// ErrInvalidUserID refuses a user id no secret is derived for: empty or too long.
var ErrInvalidUserID = errors.New("invalid user id")

// CheckUserID reports whether a secret can be derived for id.
func CheckUserID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: user_id is empty", ErrInvalidUserID)
	case len(id) > MaxUserIDBytes:
		return fmt.Errorf("%w: user_id is %d bytes, want at most %d", ErrInvalidUserID, len(id), MaxUserIDBytes)
	}
	return nil
}

// UserKey derives a user's signing key from a master key:
// HMAC-SHA256(master, "taskflow.webhook.v1 user:" + userID), 32 bytes. Knowing one user's
// key reveals nothing about another's or about the master.
func UserKey(master []byte, userID string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(userLabel))
	m.Write([]byte(userID))
	return m.Sum(nil)
}

// FormatSecret encodes a key as a Standard Webhooks secret, "whsec_<base64 key>", the
// form ParseSecret and the receivers' libraries read.
func FormatSecret(key []byte) string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// Keyring holds the master key every user's key is derived from and, during a rotation,
// the previous one. It is safe for concurrent use.
type Keyring struct {
	master, previous []byte
}

// NewKeyring returns a Keyring over master (WEBHOOK_SECRET) and previous
// (WEBHOOK_SECRET_PREVIOUS, nil outside a rotation).
func NewKeyring(master, previous []byte) *Keyring {
	return &Keyring{master: master, previous: previous}
}

// UserSecrets returns the user's current secret and, during a rotation, the one derived
// from the previous master ("" otherwise).
func (k *Keyring) UserSecrets(userID string) (current, previous string, err error) {
	if err := CheckUserID(userID); err != nil {
		return "", "", err
	}
	current = FormatSecret(UserKey(k.master, userID))
	if k.previous != nil {
		previous = FormatSecret(UserKey(k.previous, userID))
	}
	return current, previous, nil
}

// Signature returns the webhook-signature header value of one message to userID's
// endpoint: "v1,<sig>" under the user's current key, followed during a rotation by
// " v1,<sig>" under the user's previous key (Standard Webhooks allows several signatures,
// a receiver accepts the message when one matches its secret).
func (k *Keyring) Signature(userID, id string, ts time.Time, body []byte) (string, error) {
	if err := CheckUserID(userID); err != nil {
		return "", err
	}
	tsText := strconv.FormatInt(ts.Unix(), 10)
	sigs := []string{sign(UserKey(k.master, userID), id, tsText, body)}
	if k.previous != nil {
		sigs = append(sigs, sign(UserKey(k.previous, userID), id, tsText, body))
	}
	return strings.Join(sigs, " "), nil
}
