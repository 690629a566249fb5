package loadtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDaprd counts publishes over daprd's HTTP API and answers each with status.
func fakeDaprd(t *testing.T, status int) (*Publisher, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return NewPublisher(srv.URL), &n
}

func TestRunPublishesWhatItRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    Options
		// lagged: at a fixed rate every publish notes how late it started.
		lagged bool
	}{
		{"flat out", Options{MaxEvents: 100, Concurrency: 4}, false},
		{"flat out in batches, last one cut to MaxEvents", Options{MaxEvents: 95, Concurrency: 3, Batch: 10}, false},
		{"flat out with duplicates and malformed events", Options{MaxEvents: 200, DuplicateRatio: 0.5, MalformedRatio: 0.1}, false},
		{"fixed rate", Options{MaxEvents: 50, Rate: 2000}, true},
		{"fixed rate in 10 ms windows", Options{MaxEvents: 50, Rate: 2000, Window: 10 * time.Millisecond}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub, calls := fakeDaprd(t, http.StatusNoContent)
			got, err := Run(context.Background(), pub, Gen{User: "u1", Email: "u1@example.com"}, tt.o)
			if err != nil {
				t.Fatalf("Run(%s) error = %v, want nil", tt.name, err)
			}
			if got.Sends != tt.o.MaxEvents || int(calls.Load()) != tt.o.MaxEvents {
				t.Errorf("Run(%s) = %d sends, daprd got %d, want %d", tt.name, got.Sends, calls.Load(), tt.o.MaxEvents)
			}
			if len(got.At) != len(got.Events) {
				t.Errorf("Run(%s) = %d publish times for %d distinct events, want one each", tt.name, len(got.At), len(got.Events))
			}
			if tt.o.DuplicateRatio > 0 && len(got.Events) >= got.Sends {
				t.Errorf("Run(%s) = %d distinct events in %d sends, want duplicates", tt.name, len(got.Events), got.Sends)
			}
			wantLag := 0
			if tt.lagged {
				wantLag = tt.o.MaxEvents
			}
			if len(got.Lag) != wantLag || !slices.IsSorted(got.Lag) {
				t.Errorf("Run(%s) = %d lags (sorted: %v), want %d sorted", tt.name, len(got.Lag), slices.IsSorted(got.Lag), wantLag)
			}
			if got.End.Before(got.Start) {
				t.Errorf("Run(%s) ended at %v, before its start %v", tt.name, got.End, got.Start)
			}
		})
	}
}

// TestRunWindowsKeepEachDueTime: with Window, the events due in a window go out together at
// its end, and each event's latency still counts from its own due time (start + i/Rate),
// so the wait for the window's end shows in the lag instead of being hidden.
func TestRunWindowsKeepEachDueTime(t *testing.T) {
	t.Parallel()
	pub, calls := fakeDaprd(t, http.StatusNoContent)
	o := Options{MaxEvents: 40, Rate: 1000, Window: 20 * time.Millisecond}
	got, err := Run(context.Background(), pub, Gen{User: "u1"}, o)
	if err != nil || got.Sends != 40 || calls.Load() != 40 {
		t.Fatalf("Run() = %d sends, daprd got %d, error %v; want 40, 40, nil", got.Sends, calls.Load(), err)
	}
	var at []time.Time
	for _, ev := range got.Events {
		at = append(at, got.At[ev.ID])
	}
	slices.SortFunc(at, time.Time.Compare)
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d != time.Millisecond {
			t.Fatalf("due times %d and %d are %v apart, want 1ms (1/Rate): an event's time is its own due time", i-1, i, d)
		}
	}
	if worst := got.Lag[len(got.Lag)-1]; worst < 15*time.Millisecond {
		t.Errorf("largest lag = %v, want ≥ 15ms: the first event of a 20ms window waits for its end", worst)
	}
}

// TestRunStopsAtTheFirstFailedPublish: a failed publish ends the run with its error and is
// counted as a failure, not as a send, and leaves no lag sample (the fixed-rate figures
// are about publishes that happened).
func TestRunStopsAtTheFirstFailedPublish(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{{MaxEvents: 1000}, {MaxEvents: 1000, Rate: 5000}} {
		pub, calls := fakeDaprd(t, http.StatusInternalServerError)
		got, err := Run(context.Background(), pub, Gen{User: "u1"}, o)
		if err == nil || got.Sends != 0 {
			t.Errorf("Run(rate %v) = %d sends, error %v; want 0 sends and the publish error", o.Rate, got.Sends, err)
		}
		if got.Failed == 0 || got.Failed != int(calls.Load()) {
			t.Errorf("Run(rate %v) = %d failed, daprd refused %d; want every refused publish counted", o.Rate, got.Failed, calls.Load())
		}
		if len(got.Lag) != 0 {
			t.Errorf("Run(rate %v) = %d lags, want none: no publish succeeded", o.Rate, len(got.Lag))
		}
	}
}
