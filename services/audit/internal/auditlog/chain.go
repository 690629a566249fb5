package auditlog

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
)

// The hash chain.
//
// Rows are chained per monthly partition (month of received_at, the service's clock): a
// row's prev_hash is the hash of the previous row (by seq) of the same month, or
// genesis(month) for the first. seq is global, dense and handed out under the chain lock,
// so seq order is append order. One chain per partition keeps every remaining chain
// verifiable after retention drops a month, even when replicas' clocks disagree around
// the turn of a month.
//
// A row's hash is SHA-256 over a length-prefixed encoding of its content (see rowHash)
// and prev_hash. The payload enters as the SHA-256 of its deterministic binary protobuf
// encoding; verification parses the stored jsonb back into the message type, so the
// hash does not depend on how PostgreSQL normalises JSON text.

// genesis is the prev_hash of the first row of a month's chain.
func genesis(month time.Time) []byte {
	h := sha256.Sum256([]byte("taskflow.audit.v2 genesis " + month.Format("2006-01")))
	return h[:]
}

// monthOf returns the first instant of t's month in UTC: the partition and chain of t.
func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// payloadDigest hashes the deterministic binary encoding of the payload.
func payloadDigest(msg proto.Message) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	h := sha256.Sum256(b)
	return h[:], nil
}

// row is a stored event plus the digest of its payload, which the hash chain covers.
type row struct {
	Event
	Digest []byte
}

// rowHash computes the hash of r from its content, payload digest and prev_hash.
func rowHash(r *row) []byte {
	h := sha256.New()
	var n [8]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	putInt := func(v int64) {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	put([]byte("taskflow.audit.v2 row"))
	putInt(r.Seq)
	put([]byte(r.EventID))
	put([]byte(r.Topic))
	put([]byte(r.Kind))
	put([]byte(r.CEType))
	put([]byte(r.PayloadType))
	putInt(r.OccurredAt.UnixMicro())
	putInt(r.ReceivedAt.UnixMicro())
	if r.OccurredOutOfWindow {
		putInt(1)
	} else {
		putInt(0)
	}
	put([]byte(r.ActorID))
	put([]byte(r.UserID))
	put([]byte(r.TaskID))
	put([]byte(r.TraceID))
	put(r.Digest)
	put(r.PrevHash)
	return h.Sum(nil)
}
