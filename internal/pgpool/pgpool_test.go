package pgpool

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestOpenNeverEchoesTheDSN(t *testing.T) {
	_, err := Open(context.Background(), "postgres://app:s3cret@%zz/db", 4)
	if err == nil {
		t.Fatal("Open(bad DSN) = nil error, want one")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Open error %q carries the password", err)
	}
}

func TestOpenKeepsLimitsAndSetsAConnectTimeout(t *testing.T) {
	pool, err := Open(context.Background(), "postgres://app@127.0.0.1:1/db", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if got := pool.Config().MaxConns; got != 7 {
		t.Errorf("MaxConns = %d, want 7", got)
	}
	if got := pool.Config().ConnConfig.ConnectTimeout; got != DefaultConnectTimeout {
		t.Errorf("ConnectTimeout = %s, want %s", got, DefaultConnectTimeout)
	}
	if got := User("postgres://auditor@host/db"); got != "auditor" {
		t.Errorf("User = %q, want auditor", got)
	}
}

func TestRetryUntilTheStepSucceeds(t *testing.T) {
	calls := 0
	err := Retry(context.Background(), 10*time.Second, "migrate", func(context.Context) error {
		if calls++; calls < 2 {
			return errors.New("connection refused")
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("Retry = %v after %d calls, want nil after 2", err, calls)
	}
}

func TestRetryGivesUpWithTheLastError(t *testing.T) {
	cause := errors.New("connection refused")
	start := time.Now()
	err := Retry(context.Background(), 1500*time.Millisecond, "migrate the ledger", func(context.Context) error { return cause })
	if !errors.Is(err, cause) || !strings.Contains(err.Error(), "migrate the ledger") {
		t.Fatalf("Retry = %v, want it to name the step and wrap %v", err, cause)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Retry took %s, want about 1.5s", d)
	}
}
