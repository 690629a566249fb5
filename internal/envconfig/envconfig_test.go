package envconfig

import (
	"strings"
	"testing"
	"time"
)

func TestReaderCollectsAllErrors(t *testing.T) {
	t.Parallel()
	env := map[string]string{"A": "x", "B": "-1s", "C": "maybe", "D": " 7 "}
	r := New(func(k string) string { return env[k] })
	if got := r.Int("A", 3, 0, 10); got != 3 {
		t.Errorf("Int(A) = %d, want default 3", got)
	}
	if got := r.Duration("B", time.Second); got != time.Second {
		t.Errorf("Duration(B) = %v, want default 1s", got)
	}
	r.Bool("C", false)
	r.Required("MISSING")
	if got := r.Int("D", 0, 0, 10); got != 7 {
		t.Errorf("Int(D) = %d, want 7", got)
	}
	err := r.Err()
	if err == nil {
		t.Fatal("Err() = nil, want four errors")
	}
	for _, name := range []string{"A=", "B=", "C=", "MISSING is required"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("Err() = %q, want it to mention %q", err, name)
		}
	}
}

func TestReaderDefaults(t *testing.T) {
	t.Parallel()
	r := New(func(string) string { return "" })
	if got := r.String("S", "def"); got != "def" {
		t.Errorf("String = %q, want def", got)
	}
	if got := r.List("L", []string{"a"}); len(got) != 1 || got[0] != "a" {
		t.Errorf("List = %v, want [a]", got)
	}
	if u := r.URL("U", "http"); u != nil {
		t.Errorf("URL = %v, want nil", u)
	}
	if err := r.Err(); err != nil {
		t.Errorf("Err() = %v, want nil", err)
	}
}
