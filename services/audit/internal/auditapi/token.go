package auditapi

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"sort"
	"strings"
	"time"

	"github.com/taskflow/taskflow-events/services/audit/internal/auditlog"
)

// maxTokenLen bounds page_token before it is decoded.
const maxTokenLen = 128

const tokenVersion = 1

var errBadToken = errors.New("malformed page_token")

// pageToken is the opaque cursor handed to clients: the listing's snapshot, the position
// of the last row returned, and a fingerprint of the filters it belongs to.
type pageToken struct {
	cursor auditlog.Cursor
	filter uint64
}

func (t pageToken) encode() string {
	b := make([]byte, 0, 40)
	b = append(b, tokenVersion)
	b = binary.AppendUvarint(b, uint64(t.cursor.Snapshot))
	b = binary.AppendVarint(b, t.cursor.OccurredAt.UnixMicro())
	b = binary.AppendUvarint(b, uint64(t.cursor.Seq))
	b = binary.BigEndian.AppendUint64(b, t.filter)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string) (pageToken, error) {
	if len(s) > maxTokenLen {
		return pageToken{}, errBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 1 || b[0] != tokenVersion {
		return pageToken{}, errBadToken
	}
	b = b[1:]
	snap, n := binary.Uvarint(b)
	if n <= 0 {
		return pageToken{}, errBadToken
	}
	b = b[n:]
	micros, n := binary.Varint(b)
	if n <= 0 {
		return pageToken{}, errBadToken
	}
	b = b[n:]
	seq, n := binary.Uvarint(b)
	if n <= 0 || seq == 0 || seq > snap || snap > 1<<62 {
		return pageToken{}, errBadToken
	}
	b = b[n:]
	if len(b) != 8 {
		return pageToken{}, errBadToken
	}
	return pageToken{
		cursor: auditlog.Cursor{Snapshot: int64(snap), OccurredAt: time.UnixMicro(micros).UTC(), Seq: int64(seq)},
		filter: binary.BigEndian.Uint64(b),
	}, nil
}

// fingerprint identifies a filter, so that a token is only accepted with the filters of
// the listing it came from.
func fingerprint(f auditlog.Filter) uint64 {
	kinds := append([]string(nil), f.Kinds...)
	sort.Strings(kinds)
	h := fnv.New64a()
	for _, part := range []string{f.UserID, f.TaskID, strings.Join(kinds, "\x00"), f.From.UTC().Format(time.RFC3339Nano), f.To.UTC().Format(time.RFC3339Nano)} {
		h.Write([]byte(part))
		h.Write([]byte{0xff})
	}
	return h.Sum64()
}
