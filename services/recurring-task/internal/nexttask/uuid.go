package nexttask

import (
	"crypto/sha1"
	"encoding/hex"
	"strconv"
)

// namespace is the UUIDv5 namespace of occurrence ids:
// uuid5(NAMESPACE_URL, "https://taskflow.dev/ns/recurring-task").
var namespace = [16]byte{0x5b, 0xb7, 0x50, 0xdc, 0xf2, 0x3d, 0x52, 0xa2, 0x86, 0x0a, 0x7b, 0xdd, 0xe4, 0xdc, 0xe7, 0x79}

// OccurrenceID returns the deterministic id of occurrence index of a series: the RFC 9562
// UUIDv5 of "<series_id>/<index>" in namespace. Every replica and every redelivery
// computes the same id, so the Task API can deduplicate creations on it.
func OccurrenceID(seriesID string, index uint32) string {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(seriesID + "/" + strconv.FormatUint(uint64(index), 10)))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return string(out[:])
}
