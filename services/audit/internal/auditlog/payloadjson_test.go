package auditlog

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// fill sets fields of m to random values, following the descriptors (so a field added to
// the .proto files is filled too): every field when all, otherwise each with probability ½.
func fill(r *rand.Rand, m protoreflect.Message, all bool, depth int) {
	if m.Descriptor().FullName() == "google.protobuf.Timestamp" {
		fillTimestamp(r, m)
		return
	}
	// One member of each oneof, or (sparse) none half of the time.
	chosen := map[protoreflect.FieldDescriptor]bool{}
	oneofs := m.Descriptor().Oneofs()
	for i := range oneofs.Len() {
		if o := oneofs.Get(i); all || r.IntN(2) == 0 {
			chosen[o.Fields().Get(r.IntN(o.Fields().Len()))] = true
		}
	}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.ContainingOneof() != nil {
			if !chosen[fd] {
				continue
			}
		} else if !all && r.IntN(2) == 0 {
			continue
		}
		if fd.IsList() {
			l := m.Mutable(fd).List()
			for range 1 + r.IntN(3) {
				if fd.Kind() == protoreflect.MessageKind {
					e := l.NewElement()
					fill(r, e.Message(), all, depth+1)
					l.Append(e)
				} else {
					l.Append(randomScalar(r, fd))
				}
			}
			continue
		}
		if fd.Kind() == protoreflect.MessageKind {
			if depth > 3 {
				continue
			}
			fill(r, m.Mutable(fd).Message(), all, depth+1)
			continue
		}
		m.Set(fd, randomScalar(r, fd))
	}
}

func fillTimestamp(r *rand.Rand, m protoreflect.Message) {
	secs := r.Int64N(253402300799+62135596800) - 62135596800
	var nanos int64
	switch r.IntN(4) { // every precision protojson writes: 0, 3, 6, 9 digits
	case 1:
		nanos = r.Int64N(1000) * 1e6
	case 2:
		nanos = r.Int64N(1e6) * 1e3
	case 3:
		nanos = r.Int64N(1e9)
	}
	m.Set(m.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(secs))
	m.Set(m.Descriptor().Fields().ByName("nanos"), protoreflect.ValueOfInt32(int32(nanos)))
}

var awkward = []string{"", "a", "plain text", `quote " and \ backslash`, "tab\tnew\nline\rcr", "\x00\x01\x1f\x7f",
	"<script>&amp;</script>", "ünïcödé ✓ 日本語", "emoji 🎉", "\u2028\u2029", "/slash/", "€"}

func randomScalar(r *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		s := awkward[r.IntN(len(awkward))]
		if r.IntN(2) == 0 {
			s += strings.Repeat("x", r.IntN(20))
		}
		return protoreflect.ValueOfString(s)
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(r.IntN(2) == 0)
	case protoreflect.Uint32Kind:
		return protoreflect.ValueOfUint32([]uint32{0, 1, 7, 1 << 31, 1<<32 - 1}[r.IntN(5)])
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		if r.IntN(5) == 0 { // a value this build does not know (a newer producer)
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(100 + r.IntN(100)))
		}
		return protoreflect.ValueOfEnum(vals.Get(r.IntN(vals.Len())).Number())
	}
	panic("randomScalar: add kind " + fd.Kind().String() + " (field " + string(fd.FullName()) + ") to payloadJSON and this test")
}

// TestPayloadJSONMatchesProtojson checks that payloadJSON writes what protojson writes,
// as JSON values (the column is jsonb, so spacing is not kept), and that it parses back
// into the same message, over randomised messages of the three event types: sparse ones
// and ones with every field set.
func TestPayloadJSONMatchesProtojson(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, newMsg := range []func() proto.Message{
		func() proto.Message { return &eventsv1.TaskEvent{} },
		func() proto.Message { return &eventsv1.ReminderEvent{} },
		func() proto.Message { return &eventsv1.TaskUpdate{} },
	} {
		for i := range 3000 {
			m := newMsg()
			fill(r, m.ProtoReflect(), i%3 == 0, 0)
			got, err := payloadJSON(m)
			if err != nil {
				t.Fatalf("payloadJSON(%v): %v", m, err)
			}
			want, err := jsonOpts.Marshal(m)
			if err != nil {
				t.Fatalf("protojson(%v): %v", m, err)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("payloadJSON wrote invalid JSON %s: %v", got, err)
			}
			if err := json.Unmarshal(want, &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("%T:\npayloadJSON: %s\nprotojson:   %s", m, got, want)
			}
			back := newMsg()
			if err := protojson.Unmarshal(got, back); err != nil || !proto.Equal(back, m) {
				t.Fatalf("%T %s does not parse back into the message (%v)", m, got, err)
			}
		}
	}
}

// TestPayloadJSONRefusesAsProtojson checks the values protojson refuses: payloadJSON hands
// them to protojson, so the error is protojson's, as before.
func TestPayloadJSONRefusesAsProtojson(t *testing.T) {
	for name, m := range map[string]proto.Message{
		"invalid UTF-8":      &eventsv1.TaskEvent{EventId: "e1", ActorId: "\xff\xfe"},
		"timestamp too late": &eventsv1.ReminderEvent{EventId: "e1", DueAt: &timestamppb.Timestamp{Seconds: 253402300800}},
		"nanos out of range": &eventsv1.TaskUpdate{EventId: "e1", OccurredAt: &timestamppb.Timestamp{Nanos: -1}},
	} {
		if _, err := payloadJSON(m); err == nil {
			t.Errorf("%s: payloadJSON accepted what protojson refuses", name)
		}
	}
	// A nil oneof member: protojson's output, whatever it is.
	m := &eventsv1.TaskUpdate{EventId: "e1", Update: &eventsv1.TaskUpdate_Notification{}}
	got, err := payloadJSON(m)
	want, werr := jsonOpts.Marshal(m)
	if (err == nil) != (werr == nil) || string(got) != string(want) {
		t.Errorf("nil oneof member: payloadJSON %s, %v; protojson %s, %v", got, err, want, werr)
	}
}

func BenchmarkPayloadJSON(b *testing.B) {
	ts := timestamppb.New(time.Date(2026, 12, 3, 12, 0, 0, 123000000, time.UTC))
	m := &eventsv1.TaskEvent{EventId: "evt-1234", Kind: eventsv1.TaskEventKind_TASK_EVENT_KIND_COMPLETED, OccurredAt: ts, ActorId: "user-3",
		Task: &eventsv1.Task{Id: "task-12", UserId: "user-3", Title: "task evt-1234", Status: eventsv1.TaskStatus_TASK_STATUS_OPEN, Tags: []string{"x"}, DueAt: ts}}
	b.Run("protojson", func(b *testing.B) {
		for b.Loop() {
			_, _ = jsonOpts.Marshal(m)
		}
	})
	b.Run("payloadJSON", func(b *testing.B) {
		for b.Loop() {
			_, _ = payloadJSON(m)
		}
	})
}
