package recurrence

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testdata/cases.json is written by testdata/gen_cases.py with python-dateutil; the
// expected instants there are not computed by this package.
type goldenFile struct {
	Generator string         `json:"generator"`
	Series    []goldenSeries `json:"series"`
	Next      []goldenNext   `json:"next"`
}

type goldenSeries struct {
	Name     string   `json:"name"`
	RRule    string   `json:"rrule"`
	TimeZone string   `json:"time_zone"`
	DTStart  string   `json:"dtstart"`
	Exdates  []string `json:"exdates"`
	Rdates   []string `json:"rdates"`
	After    *string  `json:"after"`
	Count    int      `json:"count"`
	Want     []string `json:"want"`
}

type goldenNext struct {
	Name      string   `json:"name"`
	RRule     string   `json:"rrule"`
	TimeZone  string   `json:"time_zone"`
	DTStart   *string  `json:"dtstart"`
	Index     int      `json:"index"`
	Due       string   `json:"due"`
	Completed string   `json:"completed"`
	Anchor    string   `json:"anchor"`
	CatchUp   string   `json:"catch_up"`
	Now       *string  `json:"now"`
	Exdates   []string `json:"exdates"`
	Rdates    []string `json:"rdates"`
	Want      *string  `json:"want"`
}

func readGolden(t *testing.T) goldenFile {
	t.Helper()
	data, err := os.ReadFile("testdata/cases.json")
	if err != nil {
		t.Fatalf("read golden cases: %v", err)
	}
	var g goldenFile
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("decode golden cases: %v", err)
	}
	if len(g.Series)+len(g.Next) < 300 {
		t.Fatalf("golden file has %d cases, want at least 300", len(g.Series)+len(g.Next))
	}
	return g
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

func mustTimes(t *testing.T, ss []string) []time.Time {
	var out []time.Time
	for _, s := range ss {
		out = append(out, mustTime(t, s))
	}
	return out
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load location %q: %v", name, err)
	}
	return loc
}

// rfc3339In formats instants in loc so that a failure shows local wall times and offsets.
func rfc3339In(ts []time.Time, loc *time.Location) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.In(loc).Format(time.RFC3339))
	}
	return out
}

func TestSeriesTakeGolden(t *testing.T) {
	t.Parallel()
	g := readGolden(t)
	for _, c := range g.Series {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			loc := mustLoc(t, c.TimeZone)
			rule, err := ParseRule(c.RRule)
			if err != nil {
				t.Fatalf("ParseRule(%q) error: %v", c.RRule, err)
			}
			s, err := NewSeries(rule, mustTime(t, c.DTStart), loc, mustTimes(t, c.Exdates), mustTimes(t, c.Rdates))
			if err != nil {
				t.Fatalf("NewSeries error: %v", err)
			}
			var after time.Time
			if c.After != nil {
				after = mustTime(t, *c.After)
			} else {
				after = mustTime(t, c.DTStart).Add(-time.Second)
			}
			occ, err := s.Take(after, c.Count)
			if err != nil {
				t.Fatalf("Take(%s, %d) of %q error: %v", after.Format(time.RFC3339), c.Count, c.RRule, err)
			}
			got := rfc3339In(occ, loc)
			want := rfc3339In(mustTimes(t, c.Want), loc)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Take(%s, %d) of %q from %s mismatch (-want +got):\n%s", after.Format(time.RFC3339), c.Count, c.RRule, c.DTStart, diff)
			}
		})
	}
}

func TestNextOccurrenceGolden(t *testing.T) {
	t.Parallel()
	g := readGolden(t)
	for _, c := range g.Next {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			loc := mustLoc(t, c.TimeZone)
			rule, err := ParseRule(c.RRule)
			if err != nil {
				t.Fatalf("ParseRule(%q) error: %v", c.RRule, err)
			}
			in := Completion{
				Rule: rule, Location: loc, Exdates: mustTimes(t, c.Exdates), Rdates: mustTimes(t, c.Rdates), Index: c.Index,
				Due: mustTime(t, c.Due), CompletedAt: mustTime(t, c.Completed),
			}
			if c.DTStart != nil {
				in.DTStart = mustTime(t, *c.DTStart)
			}
			if c.Anchor == "completion" {
				in.Anchor = AnchorCompletion
			}
			if c.CatchUp == "skip" {
				in.CatchUp = CatchUpSkipToNow
			}
			if c.Now != nil {
				in.Now = mustTime(t, *c.Now)
			}
			next, ok, err := NextOccurrence(in)
			if err != nil {
				t.Fatalf("NextOccurrence error: %v", err)
			}
			got, want := "end of series", "end of series"
			if ok {
				got = next.In(loc).Format(time.RFC3339)
			}
			if c.Want != nil {
				want = mustTime(t, *c.Want).In(loc).Format(time.RFC3339)
			}
			if got != want {
				t.Errorf("NextOccurrence(%s, due %s, completed %s, %s) = %s, want %s", c.RRule, c.Due, c.Completed, c.Anchor, got, want)
			}
		})
	}
}
