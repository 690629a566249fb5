// Package auditsig is the audit log's signatures: keys, key ids, the canonical messages
// of chain heads, checkpoints and retention records, and checkpoint verification. It is
// outside the service's internal tree so that auditors' tools (taskflow audit verify)
// use exactly the service's definitions.
package auditsig

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/taskflow/taskflow-events/gen/taskflow/audit/v1"
)

// Signatures.
//
// The chain heads, the checkpoints and the retention records are signed with an Ed25519
// key the database never holds (AUDIT_SIGNING_KEY_FILE). Whoever has the database
// credentials, the owner's included, can rewrite rows and recompute every hash, but not
// make a head, checkpoint or retention record that verifies under the public key.
// Each signature is over a length-prefixed encoding that starts with a domain string, so
// a signature of one kind can never pass for another.

// Signer signs with one private key.
type Signer struct {
	key   ed25519.PrivateKey
	keyID string
}

// NewSigner returns a Signer for key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, keyID: KeyID(key.Public().(ed25519.PublicKey))}
}

// KeyID is the id of the signing key, stored next to every signature.
func (s *Signer) KeyID() string { return s.keyID }

// PublicKey is the key auditors verify with.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign signs a canonical message (HeadMessage, CheckpointMessage, RetentionMessage).
func (s *Signer) Sign(msg []byte) []byte { return ed25519.Sign(s.key, msg) }

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// KeyRing is the set of public keys signatures are checked against, by key id.
type KeyRing map[string]ed25519.PublicKey

// NewKeyRing returns a ring of keys.
func NewKeyRing(keys ...ed25519.PublicKey) KeyRing {
	r := KeyRing{}
	for _, k := range keys {
		r[KeyID(k)] = k
	}
	return r
}

// IDs lists the ring's key ids, sorted.
func (r KeyRing) IDs() []string {
	ids := make([]string, 0, len(r))
	for id := range r {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Check verifies sig over msg by keyID; the error says which key was wanted.
func (r KeyRing) Check(keyID string, msg, sig []byte) error {
	pub, ok := r[keyID]
	if !ok {
		return fmt.Errorf("signed with key %s, which is not among the verification keys (%s)", keyID, strings.Join(r.IDs(), ", "))
	}
	if !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("signature by key %s does not verify", keyID)
	}
	return nil
}

// ParsePrivateKey reads an Ed25519 private key: PKCS#8 PEM (openssl genpkey -algorithm
// ed25519) or the base64 of its 32-byte seed.
func ParsePrivateKey(text string) (ed25519.PrivateKey, error) {
	text = strings.TrimSpace(text)
	if blk, _ := pem.Decode([]byte(text)); blk != nil {
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM private key: %w", err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("PEM private key is a %T, want Ed25519", k)
		}
		return ek, nil
	}
	seed, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("want a PKCS#8 PEM Ed25519 key or the base64 of a 32-byte seed")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ParsePublicKey reads an Ed25519 public key: PKIX PEM or the base64 of its 32 bytes.
func ParsePublicKey(text string) (ed25519.PublicKey, error) {
	text = strings.TrimSpace(text)
	if blk, _ := pem.Decode([]byte(text)); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM public key: %w", err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("PEM public key is a %T, want Ed25519", k)
		}
		return ek, nil
	}
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("want a PKIX PEM Ed25519 public key or the base64 of its 32 bytes")
	}
	return ed25519.PublicKey(b), nil
}

// encoder builds the length-prefixed messages that are hashed or signed.
type encoder struct{ b []byte }

func (e *encoder) bytes(b []byte) {
	e.b = binary.BigEndian.AppendUint64(e.b, uint64(len(b)))
	e.b = append(e.b, b...)
}
func (e *encoder) str(s string)      { e.bytes([]byte(s)) }
func (e *encoder) int(v int64)       { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }
func (e *encoder) month(m time.Time) { e.str(m.UTC().Format("2006-01")) }

// Head is the newest row of one monthly chain.
type Head struct {
	Month   time.Time
	LastSeq int64
	Hash    []byte
}

// HeadMessage is what a chain head's signature covers.
func HeadMessage(h Head) []byte {
	var e encoder
	e.str("taskflow.audit.v2 head")
	e.month(h.Month)
	e.int(h.LastSeq)
	e.bytes(h.Hash)
	return e.b
}

// Checkpoint is a signed statement of the whole log at one moment: its newest seq and
// every chain head (retained months' included).
type Checkpoint struct {
	Seq       int64
	CreatedAt time.Time
	Heads     []Head // sorted by month
	KeyID     string
	Signature []byte
}

// CheckpointMessage is what a checkpoint's signature covers.
func CheckpointMessage(c Checkpoint) []byte {
	var e encoder
	e.str("taskflow.audit.v2 checkpoint")
	e.int(c.Seq)
	e.int(c.CreatedAt.UnixMicro())
	e.int(int64(len(c.Heads)))
	for _, h := range c.Heads {
		e.month(h.Month)
		e.int(h.LastSeq)
		e.bytes(h.Hash)
	}
	return e.b
}

// VerifyCheckpoint checks a checkpoint's signature against keys (offline: no database).
func VerifyCheckpoint(c Checkpoint, keys KeyRing) error {
	return keys.Check(c.KeyID, CheckpointMessage(c), c.Signature)
}

// Retention is the signed record of one dropped month.
type Retention struct {
	Month     time.Time
	Rows      int64
	FirstSeq  int64
	LastSeq   int64
	LastHash  []byte
	KeyID     string
	Signature []byte
}

// RetentionMessage is what a retention record's signature covers.
func RetentionMessage(r Retention) []byte {
	var e encoder
	e.str("taskflow.audit.v2 retention")
	e.month(r.Month)
	e.int(r.Rows)
	e.int(r.FirstSeq)
	e.int(r.LastSeq)
	e.bytes(r.LastHash)
	return e.b
}

// CheckpointProto is a checkpoint as published on the audit-checkpoints topic and kept
// by auditors (`taskflow audit verify --checkpoints` reads its protojson, one per line).
func CheckpointProto(cp Checkpoint) *auditv1.Checkpoint {
	p := &auditv1.Checkpoint{Seq: uint64(cp.Seq), CreatedAt: timestamppb.New(cp.CreatedAt), KeyId: cp.KeyID, Signature: cp.Signature}
	for _, h := range cp.Heads {
		p.Heads = append(p.Heads, &auditv1.ChainHead{Month: h.Month.Format("2006-01"), LastSeq: uint64(h.LastSeq), LastHash: h.Hash})
	}
	return p
}

// CheckpointFromProto reads what CheckpointProto made.
func CheckpointFromProto(p *auditv1.Checkpoint) (Checkpoint, error) {
	if err := p.GetCreatedAt().CheckValid(); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint at seq %d: created_at: %w", p.GetSeq(), err)
	}
	if p.GetSeq() > 1<<62 {
		return Checkpoint{}, fmt.Errorf("checkpoint seq %d out of range", p.GetSeq())
	}
	cp := Checkpoint{Seq: int64(p.GetSeq()), CreatedAt: p.GetCreatedAt().AsTime().UTC(), KeyID: p.GetKeyId(), Signature: p.GetSignature()}
	for _, h := range p.GetHeads() {
		m, err := time.Parse("2006-01", h.GetMonth())
		if err != nil || h.GetLastSeq() > 1<<62 {
			return Checkpoint{}, fmt.Errorf("checkpoint at seq %d: head %q at seq %d: bad month or seq", p.GetSeq(), h.GetMonth(), h.GetLastSeq())
		}
		cp.Heads = append(cp.Heads, Head{Month: m, LastSeq: int64(h.GetLastSeq()), Hash: h.GetLastHash()})
	}
	return cp, nil
}
