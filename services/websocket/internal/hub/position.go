package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// Offset is where an update sits in the broker: its Kafka partition and offset, as daprd
// hands them to the app (__partition, __offset). Partition < 0: the runtime gave none (not
// Kafka, or a caller of the app's gRPC API); the hub then numbers updates itself and
// positions are valid in this process only.
type Offset struct {
	Partition int32
	Offset    int64
}

// NoOffset is the Offset of an update without broker coordinates.
var NoOffset = Offset{Partition: -1, Offset: -1}

// Partition numbers that are not Kafka partitions.
const (
	localPart   int32 = -1 // this process's own numbering (updates without broker coordinates)
	foreignPart int32 = -2 // another process's own numbering: never resumable here
	noPart      int32 = -3 // a stream that has not had an update yet
)

// Position is how far a client got, as it hands it back on resume (the epoch and seq of
// its last frame). Frames of updates carry the update's partition and offset, the same on
// every replica because every replica reads the same partitions in the same order; each
// user's updates are on one partition (task-updates is keyed by user_id).
type Position struct {
	// Partition and Offset of the last update seen (when Vector is nil).
	Partition int32
	Offset    int64
	// Vector, on welcome and resync frames of a user without updates on the replica that
	// sent them: per partition, the offset up to which that replica (Proc) had handled
	// everything. Partitions it had not seen yet are missing.
	Vector map[int32]int64
	Proc   string
	// Invalid marks a malformed position or one of another stream or deployment.
	Invalid bool
}

// streamTag names the stream positions belong to: a short hash of the configured stream id
// (pub/sub component, topic, deployment), so that a position of another deployment is
// recognised as such.
func streamTag(streamID string) string {
	sum := sha256.Sum256([]byte(streamID))
	return hex.EncodeToString(sum[:4])
}

// Wire form, kept in the seq and epoch fields of v1 frames so that clients store and send
// them back unchanged (all characters are URL-safe):
//
//	update position:  epoch "<tag>.<partition>"          seq = offset
//	                  epoch "<tag>.l<proc>"              seq = offset (own numbering)
//	vector position:  epoch "<tag>.v<proc>.<p>-<o>...", seq = 0 ("l" for the own numbering)
func (h *Hub) encode(p Position) (epoch string, seq uint64) {
	if p.Vector == nil {
		return h.partEpoch(p.Partition), uint64(max(p.Offset, 0))
	}
	var b strings.Builder
	b.WriteString(h.tag + ".v" + h.epoch)
	parts := make([]int32, 0, len(p.Vector))
	for part := range p.Vector {
		parts = append(parts, part)
	}
	slices.Sort(parts)
	for _, part := range parts {
		b.WriteByte('.')
		if part == localPart {
			b.WriteByte('l')
		} else {
			b.WriteString(strconv.Itoa(int(part)))
		}
		b.WriteByte('-')
		b.WriteString(strconv.FormatInt(p.Vector[part], 10))
	}
	return b.String(), 0
}

// partEpoch is the epoch of update frames of partition p.
func (h *Hub) partEpoch(p int32) string {
	if p == localPart {
		return h.tag + ".l" + h.epoch
	}
	return h.tag + "." + strconv.Itoa(int(p))
}

// ParsePosition reads a client's since (seq) and epoch. It never fails: a position it
// cannot read, or one of another stream, is Invalid and answered with resync.
func (h *Hub) ParsePosition(epoch, seq string) Position {
	bad := Position{Invalid: true}
	rest, ok := strings.CutPrefix(epoch, h.tag+".")
	if !ok || rest == "" {
		return bad
	}
	if vec, ok := strings.CutPrefix(rest, "v"); ok {
		return h.parseVector(vec)
	}
	off, err := strconv.ParseInt(seq, 10, 64)
	if err != nil || off < 0 {
		return bad
	}
	if proc, ok := strings.CutPrefix(rest, "l"); ok {
		if proc != h.epoch {
			return Position{Partition: foreignPart, Offset: off}
		}
		return Position{Partition: localPart, Offset: off}
	}
	part, err := strconv.ParseInt(rest, 10, 32)
	if err != nil || part < 0 {
		return bad
	}
	return Position{Partition: int32(part), Offset: off}
}

func (h *Hub) parseVector(s string) Position {
	fields := strings.Split(s, ".")
	p := Position{Proc: fields[0], Vector: make(map[int32]int64, len(fields)-1)}
	if p.Proc == "" || len(fields) > 1025 {
		return Position{Invalid: true}
	}
	for _, f := range fields[1:] {
		ps, os, ok := strings.Cut(f, "-")
		off, err := strconv.ParseInt(os, 10, 64)
		if !ok || err != nil || off < 0 {
			return Position{Invalid: true}
		}
		part := localPart
		if ps != "l" {
			n, err := strconv.ParseInt(ps, 10, 32)
			if err != nil || n < 0 {
				return Position{Invalid: true}
			}
			part = int32(n)
		} else if p.Proc != h.epoch {
			part = foreignPart
		}
		p.Vector[part] = off
	}
	return p
}
