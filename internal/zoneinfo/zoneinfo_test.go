package zoneinfo

import (
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Europe/Berlin", "America/New_York", "UTC", ""} {
		want, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second time from the cache
			got, err := Load(name)
			if err != nil {
				t.Fatalf("Load(%q) = %v", name, err)
			}
			at := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC) // Berlin's spring-forward day
			if got.String() != want.String() || at.In(got).Format(time.RFC3339) != at.In(want).Format(time.RFC3339) {
				t.Errorf("Load(%q) = %v, want %v", name, got, want)
			}
		}
	}
	for _, name := range []string{"Mars/Olympus_Mons", "../etc/passwd"} {
		if loc, err := Load(name); err == nil {
			t.Errorf("Load(%q) = %v, want an error", name, loc)
		}
		if _, cached := zones.Load(name); cached {
			t.Errorf("Load(%q) kept a zone that did not load", name)
		}
	}
}

// Load returns the same Location every time: the file is read once.
func TestLoadReadsOnce(t *testing.T) {
	t.Parallel()
	a, _ := Load("Asia/Tokyo")
	b, _ := Load("Asia/Tokyo")
	if a != b {
		t.Errorf("Load(Asia/Tokyo) twice gave two Locations: the zone was read again")
	}
}

func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load("Europe/Berlin"); err != nil {
			b.Fatal(err)
		}
	}
}
