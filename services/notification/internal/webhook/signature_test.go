package webhook

import (
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestSignMatchesStandardWebhooksVector(t *testing.T) {
	t.Parallel()
	// Test vector of the Standard Webhooks reference libraries.
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"test": 2432232314}`)
	ts := time.Unix(1614265330, 0)
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body)
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
	h := http.Header{}
	h.Set(HeaderID, "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set(HeaderTimestamp, "1614265330")
	h.Set(HeaderSignature, "v1,bogus "+got)
	if err := Verify(key, h, body, ts.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("Verify = %v, want nil", err)
	}
	if err := Verify(key, h, []byte(`{"test": 1}`), ts, 5*time.Minute); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("Verify(tampered body) = %v, want ErrInvalidSignature", err)
	}
	if err := Verify(key, h, body, ts.Add(time.Hour), 5*time.Minute); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("Verify(an hour later) = %v, want ErrInvalidSignature", err)
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	raw := []byte("0123456789abcdef")
	for _, tt := range []struct {
		name, in string
		want     []byte
		wantErr  bool
	}{
		{"whsec form", "whsec_" + base64.StdEncoding.EncodeToString(raw), raw, false},
		{"plain string", "0123456789abcdef", raw, false},
		{"bad base64", "whsec_!!!", nil, true},
		{"too short", "short", nil, true},
		{"empty", "", nil, true},
	} {
		got, err := ParseSecret(tt.in)
		if (err != nil) != tt.wantErr || string(got) != string(tt.want) {
			t.Errorf("ParseSecret(%s) = %q, %v; want %q, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}
