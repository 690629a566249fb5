package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func update(user, id string) *eventsv1.TaskUpdate {
	return &eventsv1.TaskUpdate{EventId: id, UserId: user, Update: &eventsv1.TaskUpdate_Notification{
		Notification: &eventsv1.Notification{Id: "n-" + id, Title: "hello"}}}
}

type decoded struct {
	Seq   uint64 `json:"seq"`
	Epoch string `json:"epoch"`
	Type  string `json:"type"`
	Data  struct {
		EventID string `json:"event_id"`
	} `json:"data"`
}

// drain returns "type:seq:event_id" for every frame queued on c.
func drain(t *testing.T, c *Client) []string {
	t.Helper()
	var out []string
	for {
		select {
		case it := <-c.Queue():
			fs := it.Batch
			if fs == nil {
				fs = []*Frame{it}
			}
			for _, f := range fs {
				var d decoded
				if err := json.Unmarshal(f.JSON, &d); err != nil {
					t.Fatalf("frame %s is not JSON: %v", f.JSON, err)
				}
				out = append(out, fmt.Sprintf("%s:%d:%s", d.Type, d.Seq, d.Data.EventID))
			}
		default:
			return out
		}
	}
}

func TestPublishRoutesOnlyToTheUser(t *testing.T) {
	t.Parallel()
	h := New(Config{}, "e1", time.Now, nil)
	a1, a2, b := NewClient("a", false, 8, nil), NewClient("a", false, 8, nil), NewClient("b", false, 8, nil)
	for _, c := range []*Client{a1, a2, b} {
		if err := h.Attach(c, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Publish(context.Background(), update("a", "u1")); err != nil {
		t.Fatal(err)
	}
	want := []string{"welcome:0:", "notification:1:u1"}
	for _, c := range []*Client{a1, a2} {
		if diff := cmp.Diff(want, drain(t, c)); diff != "" {
			t.Errorf("frames of a (-want +got):\n%s", diff)
		}
	}
	if diff := cmp.Diff([]string{"welcome:0:"}, drain(t, b)); diff != "" {
		t.Errorf("frames of b (-want +got):\n%s", diff)
	}
}

func TestPublishRejectsInvalidUpdates(t *testing.T) {
	t.Parallel()
	h := New(Config{}, "e1", time.Now, nil)
	for name, u := range map[string]*eventsv1.TaskUpdate{
		"no user":    {EventId: "x", Update: &eventsv1.TaskUpdate_Notification{Notification: &eventsv1.Notification{}}},
		"no payload": {EventId: "x", UserId: "a"},
	} {
		if err := h.Publish(context.Background(), u); !errors.Is(err, ErrInvalidUpdate) {
			t.Errorf("%s: Publish = %v, want ErrInvalidUpdate", name, err)
		}
	}
}

func TestResume(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := New(Config{HistorySize: 5, HistoryTTL: time.Minute}, "e1", clk.now, nil)
	for i := 1; i <= 8; i++ {
		if err := h.Publish(context.Background(), update("a", fmt.Sprint("u", i))); err != nil {
			t.Fatal(err)
		}
	}
	// History keeps seqs 4..8.
	tests := []struct {
		name  string
		since *Position
		age   time.Duration
		want  []string
	}{
		{"fresh connect", nil, 0, []string{"welcome:8:"}},
		{"up to date", local(8), 0, []string{"welcome:8:"}},
		{"missed two", local(6), 0, []string{"welcome:6:", "notification:7:u7", "notification:8:u8"}},
		{"oldest kept", local(3), 0, []string{"welcome:3:", "notification:4:u4", "notification:5:u5", "notification:6:u6", "notification:7:u7", "notification:8:u8"}},
		{"gap beyond count", local(2), 0, []string{"resync:8:"}},
		{"other epoch", &Position{Invalid: true}, 0, []string{"resync:8:"}},
		{"from the future", local(9), 0, []string{"resync:8:"}},
		{"expired", local(6), 2 * time.Minute, []string{"resync:8:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h
			if tt.age > 0 {
				clk2 := &clock{t: clk.t}
				h = New(Config{HistorySize: 5, HistoryTTL: time.Minute}, "e1", clk2.now, nil)
				for i := 1; i <= 8; i++ {
					_ = h.Publish(context.Background(), update("a", fmt.Sprint("u", i)))
				}
				clk2.t = clk2.t.Add(tt.age)
			}
			c := NewClient("a", false, 4, nil)
			if err := h.Attach(c, tt.since); err != nil {
				t.Fatal(err)
			}
			defer h.Detach(c)
			if diff := cmp.Diff(tt.want, drain(t, c)); diff != "" {
				t.Errorf("Attach(since %+v) frames (-want +got):\n%s", tt.since, diff)
			}
		})
	}
}

func TestReclaimedStreamKeepsItsFloor(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := New(Config{HistoryTTL: time.Minute}, "e1", clk.now, nil)
	ctx := context.Background()
	_ = h.Publish(ctx, update("a", "a1")) // 1
	_ = h.Publish(ctx, update("b", "b1")) // 2
	_ = h.Publish(ctx, update("a", "a2")) // 3
	clk.t = clk.t.Add(2 * time.Minute)
	h.Sweep()                             // a's stream is forgotten, with what it dropped
	_ = h.Publish(ctx, update("a", "a3")) // 4
	_ = h.Publish(ctx, update("a", "a4")) // 5
	for name, tt := range map[string]struct {
		since int64
		want  []string
	}{
		"saw a1 only: a2 expired":    {1, []string{"resync:5:"}},
		"saw a2: a3 and a4 are kept": {3, []string{"welcome:3:", "notification:4:a3", "notification:5:a4"}},
	} {
		if diff := cmp.Diff(tt.want, resume(t, h, "a", local(tt.since))); diff != "" {
			t.Errorf("%s: frames (-want +got):\n%s", name, diff)
		}
	}
}

func TestDuplicateEventIsNotSentTwice(t *testing.T) {
	t.Parallel()
	h := New(Config{}, "e1", time.Now, nil)
	c := NewClient("a", false, 8, nil)
	_ = h.Attach(c, nil)
	_ = h.Publish(context.Background(), update("a", "u1"))
	_ = h.Publish(context.Background(), update("a", "u1"))
	if diff := cmp.Diff([]string{"welcome:0:", "notification:1:u1"}, drain(t, c)); diff != "" {
		t.Errorf("frames after a redelivery (-want +got):\n%s", diff)
	}
}

func TestSlowClientIsKickedWithoutAffectingOthers(t *testing.T) {
	t.Parallel()
	h := New(Config{}, "e1", time.Now, nil)
	slow, fast := NewClient("a", false, 3, nil), NewClient("a", false, 100, nil)
	_ = h.Attach(slow, nil)
	_ = h.Attach(fast, nil)
	for i := range 10 {
		_ = h.Publish(context.Background(), update("a", fmt.Sprint("u", i)))
	}
	select {
	case <-slow.Done():
		if code, _ := slow.CloseCode(); code != CloseSlow {
			t.Errorf("slow client close code = %d, want %d", code, CloseSlow)
		}
	default:
		t.Fatal("slow client was not kicked")
	}
	if got := len(drain(t, fast)); got != 11 {
		t.Errorf("fast client got %d frames, want 11 (welcome + 10)", got)
	}
	if h.Conns() != 1 {
		t.Errorf("Conns() = %d, want 1", h.Conns())
	}
}

func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	h := New(Config{MaxConnsPerUser: 2, MaxConns: 3}, "e1", time.Now, nil)
	attach := func(user string) error { return h.Attach(NewClient(user, false, 4, nil), nil) }
	for _, step := range []struct {
		user string
		want error
	}{{"a", nil}, {"a", nil}, {"a", ErrUserLimit}, {"b", nil}, {"c", ErrProcessLimit}} {
		if err := attach(step.user); !errors.Is(err, step.want) {
			t.Errorf("Attach(%s) = %v, want %v", step.user, err, step.want)
		}
	}
	h.Shutdown(CloseGoingAway, "bye")
	if err := attach("d"); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("Attach after Shutdown = %v, want ErrShuttingDown", err)
	}
}

func TestProtoFrameCarriesSeqEpochAndUpdate(t *testing.T) {
	t.Parallel()
	f := newFrame(7, "ep", TypeTaskChange, "u1", []byte(`{}`), []byte{0x0a, 0x02, 'u', '1'}, time.Time{})
	want := []byte{0x08, 7, 0x12, 2, 'e', 'p', 0x1a, 11, 't', 'a', 's', 'k', '_', 'c', 'h', 'a', 'n', 'g', 'e', 0x22, 4, 0x0a, 0x02, 'u', '1'}
	if diff := cmp.Diff(want, f.Proto); diff != "" {
		t.Errorf("proto frame (-want +got):\n%s", diff)
	}
	if got, want := string(f.JSON), `{"seq":7,"epoch":"ep","type":"task_change","data":{}}`; got != want {
		t.Errorf("JSON frame = %s, want %s", got, want)
	}
}

// local is a position in the hub's own numbering (updates published without an Offset).
func local(off int64) *Position { return &Position{Partition: localPart, Offset: off} }

func TestPublishBatchQueuesOneEntryPerConnection(t *testing.T) {
	t.Parallel()
	h := New(Config{}, "e1", time.Now, nil)
	// Room for the welcome frame and one more entry.
	a, other := NewClient("a", false, 2, nil), NewClient("b", false, 2, nil)
	_ = h.Attach(a, nil)
	_ = h.Attach(other, nil)
	var us []*eventsv1.TaskUpdate
	var ats []Offset
	for i := range 10 {
		us = append(us, update("a", fmt.Sprint("u", i)))
		ats = append(ats, Offset{Partition: 3, Offset: int64(100 + i)})
	}
	us = append(us, update("a", "u0"), &eventsv1.TaskUpdate{EventId: "bad", UserId: "a"})
	ats = append(ats, Offset{Partition: 3, Offset: 110}, Offset{Partition: 3, Offset: 111})
	errs := h.PublishBatch(context.Background(), us, ats)
	for i, err := range errs {
		if want := i == 11; (err != nil) != want || (want && !errors.Is(err, ErrInvalidUpdate)) {
			t.Errorf("update %d: error %v", i, err)
		}
	}
	select {
	case <-a.Done():
		t.Fatal("a delivery of ten updates kicked a connection with room for one entry")
	default:
	}
	got := drain(t, a)
	want := []string{"welcome:0:"}
	for i := range 10 {
		want = append(want, fmt.Sprintf("notification:%d:u%d", 100+i, i))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frames of a (-want +got), in offset order, the repeated u0 once:\n%s", diff)
	}
	if diff := cmp.Diff([]string{"welcome:0:"}, drain(t, other)); diff != "" {
		t.Errorf("frames of another user (-want +got):\n%s", diff)
	}
	// A connection that does not read: one entry per delivery fills its queue, and the
	// delivery after that finds it full.
	for i := range 3 {
		h.PublishBatch(context.Background(), []*eventsv1.TaskUpdate{update("a", fmt.Sprint("v", i))}, []Offset{{Partition: 3, Offset: int64(200 + i)}})
	}
	select {
	case <-a.Done():
		if code, _ := a.CloseCode(); code != CloseSlow {
			t.Errorf("close code = %d, want %d", code, CloseSlow)
		}
	default:
		t.Fatal("a connection that stopped reading was not kicked")
	}
	if h.Conns() != 1 {
		t.Errorf("Conns() = %d, want 1 (the other user)", h.Conns())
	}
}
