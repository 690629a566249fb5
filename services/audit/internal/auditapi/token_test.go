package auditapi

import (
	"strings"
	"testing"
	"time"

	"github.com/taskflow/taskflow-events/services/audit/internal/auditlog"
)

func TestPageToken(t *testing.T) {
	t.Parallel()
	tok := pageToken{
		cursor: auditlog.Cursor{Snapshot: 940, OccurredAt: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC), Seq: 17},
		filter: fingerprint(auditlog.Filter{UserID: "u1", Kinds: []string{"task.created"}}),
	}
	got, err := decodeToken(tok.encode())
	if err != nil || got.cursor.Seq != 17 || got.cursor.Snapshot != 940 || !got.cursor.OccurredAt.Equal(tok.cursor.OccurredAt) || got.filter != tok.filter {
		t.Errorf("decodeToken(encode(%+v)) = %+v, %v, want the same token", tok, got, err)
	}
	for name, s := range map[string]string{
		"garbage":         "not-a-token!",
		"oversize":        strings.Repeat("A", maxTokenLen+1),
		"empty payload":   "",
		"wrong version":   "Ag",
		"truncated":       tok.encode()[:10],
		"seq beyond snap": pageToken{cursor: auditlog.Cursor{Snapshot: 1, Seq: 2}}.encode(),
	} {
		if _, err := decodeToken(s); err == nil {
			t.Errorf("decodeToken(%s) = nil error, want errBadToken", name)
		}
	}
	if fingerprint(auditlog.Filter{Kinds: []string{"a", "b"}}) != fingerprint(auditlog.Filter{Kinds: []string{"b", "a"}}) {
		t.Errorf("fingerprint depends on the order of kinds, want not")
	}
	if fingerprint(auditlog.Filter{UserID: "u1"}) == fingerprint(auditlog.Filter{TaskID: "u1"}) {
		t.Errorf("fingerprint(user u1) == fingerprint(task u1), want different")
	}
}
