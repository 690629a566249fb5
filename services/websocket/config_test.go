package main

import (
	"strings"
	"testing"
	"time"
)

func TestReadConfigQueryTokenAndHistoryBudgets(t *testing.T) {
	t.Parallel()
	base := map[string]string{"JWT_HS256_SECRET": testSecret}
	tests := []struct {
		name       string
		env        map[string]string
		wantQuery  bool
		wantUser   int64
		wantTotal  int64
		wantErrors []string
	}{
		{name: "defaults", wantUser: 1 << 20, wantTotal: 64 << 20},
		{name: "set", env: map[string]string{"WS_QUERY_TOKEN": "true", "HISTORY_USER_BYTES": "65536", "HISTORY_TOTAL_BYTES": "1048576"},
			wantQuery: true, wantUser: 65536, wantTotal: 1 << 20},
		{name: "invalid, all reported", env: map[string]string{"WS_QUERY_TOKEN": "sometimes", "HISTORY_USER_BYTES": "10", "HISTORY_TOTAL_BYTES": "lots"},
			wantErrors: []string{"WS_QUERY_TOKEN", "HISTORY_USER_BYTES", "HISTORY_TOTAL_BYTES"}},
		{name: "JWKS URL over plain http to a remote host", env: map[string]string{"JWT_JWKS_URL": "http://idp.example.com/jwks", "JWT_JWKS_REFRESH": "soon"},
			wantErrors: []string{"JWT_JWKS_URL: want https", "JWT_JWKS_REFRESH"}},
		{name: "user budget above the total", env: map[string]string{"HISTORY_USER_BYTES": "2097152", "HISTORY_TOTAL_BYTES": "1048576"},
			wantErrors: []string{"HISTORY_USER_BYTES (2097152) must not exceed HISTORY_TOTAL_BYTES (1048576)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := readConfig(func(k string) string { return env[k] })
			if tt.wantErrors != nil {
				if err == nil {
					t.Fatalf("readConfig(%v) = nil error, want errors naming %v", tt.env, tt.wantErrors)
				}
				for _, want := range tt.wantErrors {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("readConfig(%v) error = %v, want it to name %s", tt.env, err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("readConfig(%v) = %v", tt.env, err)
			}
			if c.Gateway.QueryToken != tt.wantQuery || c.Hub.HistoryUserBytes != tt.wantUser || c.Hub.HistoryTotalBytes != tt.wantTotal {
				t.Errorf("readConfig(%v) = query token %v, user bytes %d, total bytes %d; want %v, %d, %d", tt.env,
					c.Gateway.QueryToken, c.Hub.HistoryUserBytes, c.Hub.HistoryTotalBytes, tt.wantQuery, tt.wantUser, tt.wantTotal)
			}
		})
	}
}

func TestReadConfigBulk(t *testing.T) {
	t.Parallel()
	read := func(env map[string]string) (Config, error) {
		env["JWT_HS256_SECRET"] = testSecret
		return readConfig(func(k string) string { return env[k] })
	}
	c, err := read(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.BulkMaxMessages != 100 || c.BulkMaxAwait != 5*time.Millisecond {
		t.Errorf("defaults: bulk %d / %v, want 100 / 5ms", c.BulkMaxMessages, c.BulkMaxAwait)
	}
	if c, err = read(map[string]string{"BULK_MAX_MESSAGES": "1"}); err != nil || c.BulkMaxMessages != 1 {
		t.Errorf("BULK_MAX_MESSAGES=1: %d, %v; want 1 (one update per call)", c.BulkMaxMessages, err)
	}
	// daprd reads a 0 ms await as "its default" (10 s with Kafka): refused, as are sizes out of range.
	_, err = read(map[string]string{"BULK_MAX_AWAIT": "500us", "BULK_MAX_MESSAGES": "0"})
	if err == nil || !strings.Contains(err.Error(), "BULK_MAX_AWAIT=500µs") || !strings.Contains(err.Error(), "BULK_MAX_MESSAGES") {
		t.Errorf("BULK_MAX_AWAIT=500us, BULK_MAX_MESSAGES=0: error %v, want both named", err)
	}
}
