package hub

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// replica is a hub fed the broker's records from offset first on, as a replica started
// then (initialOffset newest) would be.
func replica(t *testing.T, epoch string, cfg Config, recs []rec, first int64) *Hub {
	t.Helper()
	cfg.StreamID = "taskflow-pubsub/task-updates"
	h := New(cfg, epoch, time.Now, nil)
	feed(t, h, recs, first)
	return h
}

type rec struct {
	user, id string
	at       Offset
}

func feed(t *testing.T, h *Hub, recs []rec, first int64) {
	t.Helper()
	for _, r := range recs {
		if r.at.Offset < first {
			continue
		}
		if err := h.PublishAt(context.Background(), update(r.user, r.id), r.at); err != nil {
			t.Fatal(err)
		}
	}
}

// records puts n updates of user a on partition 3 and of user b on partition 5, interleaved.
func records(n int) []rec {
	var out []rec
	for i := range int64(n) {
		out = append(out, rec{"a", fmt.Sprint("a", i), Offset{3, 100 + i}}, rec{"b", fmt.Sprint("b", i), Offset{5, 7 + i}})
	}
	return out
}

// attach returns the frames a client of user at since gets, with their epochs.
func attach(t *testing.T, h *Hub, user string, since *Position) []string {
	t.Helper()
	c := NewClient(user, false, 64, nil)
	if err := h.Attach(c, since); err != nil {
		t.Fatal(err)
	}
	defer h.Detach(c)
	return drain(t, c)
}

func welcomeEpoch(t *testing.T, h *Hub, user string) string {
	t.Helper()
	c := NewClient(user, false, 4, nil)
	if err := h.Attach(c, nil); err != nil {
		t.Fatal(err)
	}
	defer h.Detach(c)
	f := <-c.Queue()
	return h.epochOf(t, f.Batch[0])
}

func (h *Hub) epochOf(t *testing.T, f *Frame) string {
	t.Helper()
	s := string(f.JSON)
	i := strings.Index(s, `"epoch":"`) + len(`"epoch":"`)
	return s[i : i+strings.IndexByte(s[i:], '"')]
}

func TestResumeOnAnyReplica(t *testing.T) {
	t.Parallel()
	recs := records(30)
	a := replica(t, "proc-a", Config{}, recs, 0)
	b := replica(t, "proc-b", Config{}, recs, 0)
	late := replica(t, "proc-c", Config{}, recs, 115) // started after a's offset 110
	small := replica(t, "proc-d", Config{HistorySize: 5}, recs, 0)
	other := New(Config{StreamID: "another-deployment"}, "proc-e", time.Now, nil)
	feed(t, other, recs, 0)

	// A client of a read up to a9 (offset 109) on replica a: the frame says partition 3, 109.
	epoch := a.partEpoch(3)
	if got := b.partEpoch(3); got != epoch {
		t.Fatalf("partition 3 epoch = %q on a, %q on b; want the same", epoch, got)
	}
	var want []string
	for i := 10; i < 30; i++ {
		want = append(want, fmt.Sprintf("notification:%d:a%d", 100+i, i))
	}
	for name, tt := range map[string]struct {
		h    *Hub
		want []string
	}{
		"same replica":           {a, append([]string{"welcome:109:"}, want...)},
		"other replica":          {b, append([]string{"welcome:109:"}, want...)},
		"replica started later":  {late, []string{"resync:129:"}},
		"history gone":           {small, []string{"resync:129:"}},
		"other deployment's hub": {other, []string{"resync:129:"}},
	} {
		since := tt.h.ParsePosition(epoch, "109")
		if diff := cmp.Diff(tt.want, attach(t, tt.h, "a", &since)); diff != "" {
			t.Errorf("%s: frames (-want +got):\n%s", name, diff)
		}
	}
	// The late replica resumes what it has seen: from offset 114 on.
	since := late.ParsePosition(epoch, "114")
	if got := attach(t, late, "a", &since); len(got) != 16 || got[1] != "notification:115:a15" {
		t.Errorf("late replica, since 114: frames %v, want welcome and a15..a29", got)
	}
}

func TestResumeRefusesBadPositions(t *testing.T) {
	t.Parallel()
	h := replica(t, "proc-a", Config{}, records(3), 0)
	tag := h.tag
	for name, tt := range map[string]struct{ epoch, seq string }{
		"old per-process epoch": {"9f86d081884c7d65", "3"},
		"malformed seq":         {tag + ".3", "x"},
		"negative seq":          {tag + ".3", "-1"},
		"malformed partition":   {tag + ".three", "101"},
		"empty":                 {"", ""},
		"other stream":          {"00000000.3", "101"},
		"ahead of the broker":   {tag + ".3", "999"},
		"other process's own":   {tag + ".lproc-z", "1"},
		"malformed vector":      {tag + ".vproc-z.3-x", "0"},
		"vector of a stranger":  {tag + ".vproc-z.5-8", "0"}, // misses a's partition 3
		"partition of no user":  {tag + ".5", "8"},           // a's updates are on 3
	} {
		since := h.ParsePosition(tt.epoch, tt.seq)
		got := attach(t, h, "a", &since)
		if len(got) != 1 || !strings.HasPrefix(got[0], "resync:") {
			t.Errorf("%s (%q, %q): frames %v, want one resync", name, tt.epoch, tt.seq, got)
		}
	}
}

func TestWelcomeOfAUserWithoutUpdatesResumes(t *testing.T) {
	t.Parallel()
	recs := records(3)
	a := replica(t, "proc-a", Config{}, recs, 0)
	b := replica(t, "proc-b", Config{}, recs, 0)
	epoch := welcomeEpoch(t, a, "carol") // carol has had no update: a vector of a's partitions
	if !strings.Contains(epoch, ".vproc-a.3-102.5-9") {
		t.Fatalf("welcome epoch of a user without updates = %q, want a's partitions 3-102 and 5-9", epoch)
	}
	more := []rec{{"carol", "c1", Offset{3, 103}}, {"a", "a3", Offset{3, 104}}, {"carol", "c2", Offset{3, 105}}}
	feed(t, a, more, 0)
	feed(t, b, more, 0)
	for name, h := range map[string]*Hub{"same replica": a, "other replica": b} {
		since := h.ParsePosition(epoch, "0")
		want := []string{"welcome:102:", "notification:103:c1", "notification:105:c2"}
		if diff := cmp.Diff(want, attach(t, h, "carol", &since)); diff != "" {
			t.Errorf("%s: frames (-want +got):\n%s", name, diff)
		}
	}
}

func TestRedeliveredOffsetIsNotSentTwice(t *testing.T) {
	t.Parallel()
	h := New(Config{}, "e1", time.Now, nil)
	c := NewClient("a", false, 8, nil)
	_ = h.Attach(c, nil)
	recs := []rec{{"a", "u1", Offset{0, 10}}, {"a", "u2", Offset{0, 11}}}
	feed(t, h, recs, 0)
	feed(t, h, recs, 0) // the sidecar restarted and the group resumed from an older commit
	want := []string{"welcome:0:", "notification:10:u1", "notification:11:u2"}
	if diff := cmp.Diff(want, drain(t, c)); diff != "" {
		t.Errorf("frames after a redelivery (-want +got):\n%s", diff)
	}
}

func TestBehindAndAwaitCaughtUp(t *testing.T) {
	t.Parallel()
	h := replica(t, "proc-b", Config{}, records(3), 0)
	ahead := h.ParsePosition(h.partEpoch(3), "103")
	if !h.Behind(ahead) {
		t.Fatalf("Behind(3/103) = false with 102 handled, want true")
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = h.PublishAt(context.Background(), update("a", "a3"), Offset{3, 103})
	}()
	h.AwaitCaughtUp(context.Background(), ahead, 5*time.Second)
	if h.Behind(ahead) {
		t.Errorf("Behind(3/103) after AwaitCaughtUp = true, want false once 103 is handled")
	}
	start := time.Now()
	h.AwaitCaughtUp(context.Background(), h.ParsePosition(h.partEpoch(3), "999"), 100*time.Millisecond)
	if d := time.Since(start); d > time.Second {
		t.Errorf("AwaitCaughtUp(never reached) took %v, want the 100ms bound", d)
	}
}

func TestPartitionChangeDropsHistory(t *testing.T) {
	t.Parallel()
	h := New(Config{}, "e1", time.Now, nil)
	feed(t, h, []rec{{"a", "u1", Offset{1, 5}}, {"a", "u2", Offset{1, 6}}, {"a", "u3", Offset{2, 9}}}, 0)
	since := h.ParsePosition(h.partEpoch(1), "5")
	if got := attach(t, h, "a", &since); len(got) != 1 || got[0] != "resync:9:" {
		t.Errorf("resume on the partition a's updates left: frames %v, want [resync:9:]", got)
	}
}
