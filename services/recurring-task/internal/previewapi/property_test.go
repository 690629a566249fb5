package previewapi

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	recurrencev1 "github.com/taskflow/taskflow-events/gen/taskflow/recurrence/v1"
)

// The corpus: random rules within the supported grammar (every FREQ, BYxxx part and
// combination RFC 5545 allows), random zones with DST, a random instant, and the list
// python-dateutil gives after it. Written by ../recurrence/testdata/gen_random.py with a
// fixed seed; Python is not needed to run this test.
const corpusPath = "../recurrence/testdata/random_cases.json"

type corpusCase struct {
	Name     string   `json:"name"`
	RRule    string   `json:"rrule"`
	TimeZone string   `json:"time_zone"`
	DTStart  string   `json:"dtstart"`
	After    string   `json:"after"`
	Count    uint32   `json:"count"`
	Want     []string `json:"want"`
}

// TestPreviewMatchesDateutil: for every rule of the corpus, Preview after the instant
// returns exactly dateutil's occurrences (gaps resolved forward, sorted, distinct).
func TestPreviewMatchesDateutil(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(corpusPath)
	if err != nil {
		t.Fatalf("read corpus: %v", err)
	}
	var corpus struct {
		Cases []corpusCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &corpus); err != nil {
		t.Fatalf("decode corpus: %v", err)
	}
	if len(corpus.Cases) < 300 {
		t.Fatalf("corpus has %d cases, want at least 300", len(corpus.Cases))
	}
	cc := client(t)
	for _, c := range corpus.Cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			req := &recurrencev1.PreviewRequest{Rrule: c.RRule, Dtstart: ts(c.DTStart), TimeZone: c.TimeZone,
				After: ts(c.After), Count: c.Count}
			resp, err := cc.Preview(t.Context(), req)
			if err != nil {
				t.Fatalf("Preview(%s from %s after %s) error: %v", c.RRule, c.DTStart, c.After, err)
			}
			got := make([]string, 0, len(resp.GetOccurrences()))
			for _, o := range resp.GetOccurrences() {
				got = append(got, o.GetLocalTime())
			}
			want := make([]string, 0, len(c.Want))
			loc, err := time.LoadLocation(c.TimeZone)
			if err != nil {
				t.Fatalf("load %s: %v", c.TimeZone, err)
			}
			for _, w := range c.Want {
				want = append(want, ts(w).AsTime().In(loc).Format(time.RFC3339))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Preview(%s from %s in %s after %s, %d) mismatch (-dateutil +got):\n%s",
					c.RRule, c.DTStart, c.TimeZone, c.After, c.Count, diff)
			}
		})
	}
}
