package hub

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// sizedUpdate is a notification whose body has n bytes.
func sizedUpdate(user, id string, n int) *eventsv1.TaskUpdate {
	u := update(user, id)
	u.GetNotification().Body = strings.Repeat("x", n)
	return u
}

// entryBytes is what the hub counts for one update sizedUpdate(user, id, n), measured on a
// hub of its own. Updates whose user and id have the same lengths count the same.
func entryBytes(t *testing.T, user, id string, n int) int64 {
	t.Helper()
	h := New(Config{}, "e1", time.Now, nil)
	if err := h.Publish(context.Background(), sizedUpdate(user, id, n)); err != nil {
		t.Fatal(err)
	}
	return h.HistoryBytes()
}

// resume attaches a client of user at since and returns the frames it is sent.
func resume(t *testing.T, h *Hub, user string, since *Position) []string {
	t.Helper()
	c := NewClient(user, false, 4, nil)
	if err := h.Attach(c, since); err != nil {
		t.Fatal(err)
	}
	defer h.Detach(c)
	return drain(t, c)
}

func TestHistoryCountsPayloadBytes(t *testing.T) {
	t.Parallel()
	small, large := entryBytes(t, "a", "u1", 10), entryBytes(t, "a", "u1", 10010)
	// Both encodings (JSON and protobuf) carry the body, so 10,000 more body bytes cost
	// at least 20,000 more history bytes.
	if got := large - small; got < 20000 {
		t.Errorf("history bytes of a 10 KB larger update = +%d, want at least +20000 (JSON and protobuf copies)", got)
	}
	if small < entryOverhead+2*10 {
		t.Errorf("history bytes of a small update = %d, want at least the per-entry overhead %d plus payloads", small, entryOverhead)
	}
}

func TestUserByteBudgetEvictsOldest(t *testing.T) {
	t.Parallel()
	size := entryBytes(t, "a", "u1", 1000) // every update below has this size
	h := New(Config{HistoryUserBytes: 3*size + size/2}, "e1", time.Now, nil)
	for i := 1; i <= 5; i++ {
		if err := h.Publish(context.Background(), sizedUpdate("a", fmt.Sprint("u", i), 1000)); err != nil {
			t.Fatal(err)
		}
	}
	_ = h.Publish(context.Background(), sizedUpdate("b", "b1", 1000)) // another user keeps its own
	// a's history keeps offsets 3..5: the budget holds three updates.
	if got, want := h.HistoryBytes(), 4*size; got != want {
		t.Errorf("HistoryBytes() = %d, want %d (three updates of a, one of b)", got, want)
	}
	tests := []struct {
		name  string
		user  string
		since Position
		want  []string
	}{
		{"within budget", "a", *local(3), []string{"welcome:3:", "notification:4:u4", "notification:5:u5"}},
		{"oldest kept", "a", *local(2), []string{"welcome:2:", "notification:3:u3", "notification:4:u4", "notification:5:u5"}},
		{"evicted by bytes", "a", *local(1), []string{"resync:6:"}},
		{"evicted from the start", "a", *local(0), []string{"resync:6:"}},
		{"other user untouched", "b", *local(5), []string{"welcome:5:", "notification:6:b1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, resume(t, h, tt.user, &tt.since)); diff != "" {
				t.Errorf("Attach(%s since %+v) frames (-want +got):\n%s", tt.user, tt.since, diff)
			}
		})
	}
}

func TestUpdateLargerThanUserBudgetIsDeliveredButNotKept(t *testing.T) {
	t.Parallel()
	size := entryBytes(t, "a", "u1", 100)
	h := New(Config{HistoryUserBytes: 2 * size}, "e1", time.Now, nil)
	c := NewClient("a", false, 8, nil)
	if err := h.Attach(c, nil); err != nil {
		t.Fatal(err)
	}
	_ = h.Publish(context.Background(), sizedUpdate("a", "u1", 100))
	_ = h.Publish(context.Background(), sizedUpdate("a", "u2", int(4*size)))
	if diff := cmp.Diff([]string{"welcome:0:", "notification:1:u1", "notification:2:u2"}, drain(t, c)); diff != "" {
		t.Errorf("live frames (-want +got):\n%s", diff)
	}
	if got := h.HistoryBytes(); got != 0 {
		t.Errorf("HistoryBytes() = %d, want 0 (the large update pushed out u1 and did not fit itself)", got)
	}
	if diff := cmp.Diff([]string{"resync:2:"}, resume(t, h, "a", local(1))); diff != "" {
		t.Errorf("resume before the large update (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"welcome:2:"}, resume(t, h, "a", local(2))); diff != "" {
		t.Errorf("resume after the large update (-want +got):\n%s", diff)
	}
}

func TestTotalByteBudgetEvictsOldestAcrossUsers(t *testing.T) {
	t.Parallel()
	size := entryBytes(t, "a", "a1", 500)
	h := New(Config{HistoryUserBytes: 10 * size, HistoryTotalBytes: 4 * size}, "e1", time.Now, nil)
	// Offsets are the hub's own numbering of updates without broker coordinates: 1..6.
	for _, p := range []struct{ user, id string }{
		{"a", "a1"}, {"b", "b1"}, {"a", "a2"}, {"c", "c1"}, {"b", "b2"}, {"a", "a3"},
	} {
		if err := h.Publish(context.Background(), sizedUpdate(p.user, p.id, 500)); err != nil {
			t.Fatal(err)
		}
		if got := h.HistoryBytes(); got > 4*size {
			t.Fatalf("after %s: HistoryBytes() = %d, want at most the total budget %d", p.id, got, 4*size)
		}
	}
	// a1 and b1, the two oldest of the process, are gone; a2, c1, b2, a3 remain.
	tests := []struct {
		name  string
		user  string
		since Position
		want  []string
	}{
		{"a past its evicted first update", "a", *local(0), []string{"resync:6:"}},
		{"a after it", "a", *local(1), []string{"welcome:1:", "notification:3:a2", "notification:6:a3"}},
		{"b past its evicted first update", "b", *local(1), []string{"resync:6:"}},
		{"b after it", "b", *local(2), []string{"welcome:2:", "notification:5:b2"}},
		{"c untouched", "c", *local(3), []string{"welcome:3:", "notification:4:c1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, resume(t, h, tt.user, &tt.since)); diff != "" {
				t.Errorf("Attach(%s since %+v) frames (-want +got):\n%s", tt.user, tt.since, diff)
			}
		})
	}
}

func TestTotalByteBudgetBoundsConcurrentPublishers(t *testing.T) {
	t.Parallel()
	size := entryBytes(t, "user-0-00", "u-00-000", 200)
	budget := 50 * size
	h := New(Config{HistoryUserBytes: 20 * size, HistoryTotalBytes: budget}, "e1", time.Now, nil)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 250 {
				user := fmt.Sprintf("user-%d-%02d", w, i%25)
				_ = h.Publish(context.Background(), sizedUpdate(user, fmt.Sprintf("u-%02d-%03d", w, i), 200))
			}
		})
	}
	wg.Wait()
	if got := h.HistoryBytes(); got > budget || got < budget-size {
		t.Errorf("HistoryBytes() after 2000 updates to 200 users = %d, want at most the budget %d and within one update of it", got, budget)
	}
	// The counter matches what the users' histories really hold.
	var held int64
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		for _, st := range s.users {
			for _, e := range st.hist {
				held += entrySize(e.f)
			}
		}
		s.mu.Unlock()
	}
	if got := h.HistoryBytes(); got != held {
		t.Errorf("HistoryBytes() = %d, but the histories hold %d", got, held)
	}
}

func TestExpiredHistoryReleasesItsBytes(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := New(Config{HistoryTTL: time.Minute}, "e1", clk.now, nil)
	for i := range 10 {
		_ = h.Publish(context.Background(), sizedUpdate(fmt.Sprint("user", i%3), fmt.Sprint("u", i), 100))
	}
	if h.HistoryBytes() == 0 {
		t.Fatal("HistoryBytes() = 0 after 10 updates, want more")
	}
	clk.t = clk.t.Add(2 * time.Minute)
	h.Sweep()
	if got := h.HistoryBytes(); got != 0 {
		t.Errorf("HistoryBytes() after every update expired = %d, want 0", got)
	}
}
