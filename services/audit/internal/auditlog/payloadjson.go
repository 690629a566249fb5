package auditlog

import (
	"strconv"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// payloadJSON encodes the event message for the payload column: the JSON protojson writes
// with UseProtoNames (field names as in the .proto file, populated fields only, enums by
// name, timestamps in RFC 3339), built directly from the generated structs for the three
// event messages. On the bulk write path protojson's reflective encoder was the largest Go
// cost per event (3.4 µs of ~10 for a TaskEvent); this takes a tenth of that. Any other
// message, and any value protojson would refuse (a string that is not UTF-8, a timestamp
// out of range, a oneof set to a nil message), goes to protojson, so what is stored and
// what fails stay exactly as before. TestPayloadJSONMatchesProtojson compares the two over
// randomised messages with every field set, so a field added to the .proto files and not
// here fails the test.
func payloadJSON(msg proto.Message) ([]byte, error) {
	w := jsonWriter{b: make([]byte, 0, 512)}
	switch m := msg.(type) {
	case *eventsv1.TaskEvent:
		w.taskEvent(m)
	case *eventsv1.ReminderEvent:
		w.reminderEvent(m)
	case *eventsv1.TaskUpdate:
		w.taskUpdate(m)
	default:
		w.bad = true
	}
	if w.bad {
		return jsonOpts.Marshal(msg)
	}
	return w.b, nil
}

// jsonWriter appends one JSON object's fields; bad records a value it cannot write as
// protojson would.
type jsonWriter struct {
	b     []byte
	first bool
	bad   bool
}

// object writes {fields}, where fields writes the members.
func (w *jsonWriter) object(fields func()) {
	w.b = append(w.b, '{')
	w.first = true
	fields()
	w.b = append(w.b, '}')
	w.first = false
}

func (w *jsonWriter) name(n string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b = append(w.b, '"')
	w.b = append(w.b, n...)
	w.b = append(w.b, '"', ':')
}

func (w *jsonWriter) str(n, v string) {
	if v == "" {
		return
	}
	w.name(n)
	w.quote(v)
}

func (w *jsonWriter) strs(n string, vs []string) { list(w, n, vs, w.quote) }

// list writes a non-empty repeated field, each element with elem.
func list[T any](w *jsonWriter, n string, vs []T, elem func(T)) {
	if len(vs) == 0 {
		return
	}
	w.name(n)
	w.b = append(w.b, '[')
	for i, v := range vs {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		elem(v)
	}
	w.b = append(w.b, ']')
}

func (w *jsonWriter) boolean(n string, v bool) {
	if v {
		w.name(n)
		w.b = append(w.b, "true"...)
	}
}

func (w *jsonWriter) uint32(n string, v uint32) {
	if v != 0 {
		w.name(n)
		w.b = strconv.AppendUint(w.b, uint64(v), 10)
	}
}

// enum writes a non-zero enum value by name, or by number when the value is not one of
// the enum's (a newer producer), as protojson does.
func (w *jsonWriter) enum(n string, v protoreflect.Enum) {
	num := v.Number()
	if num == 0 {
		return
	}
	w.name(n)
	if ev := v.Descriptor().Values().ByNumber(num); ev != nil {
		w.b = append(w.b, '"')
		w.b = append(w.b, ev.Name()...)
		w.b = append(w.b, '"')
		return
	}
	w.b = strconv.AppendInt(w.b, int64(num), 10)
}

func (w *jsonWriter) timestamp(n string, t *timestamppb.Timestamp) {
	if t == nil {
		return
	}
	w.name(n)
	w.timestampValue(t)
}

func (w *jsonWriter) timestamps(n string, ts []*timestamppb.Timestamp) {
	list(w, n, ts, w.timestampValue)
}

// timestampValue writes t in RFC 3339, UTC, with 0, 3, 6 or 9 fractional digits.
func (w *jsonWriter) timestampValue(t *timestamppb.Timestamp) {
	secs, nanos := t.GetSeconds(), int64(t.GetNanos())
	// protojson's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
	if secs < -62135596800 || secs > 253402300799 || nanos < 0 || nanos >= 1e9 {
		w.bad = true
		return
	}
	w.b = append(w.b, '"')
	w.b = time.Unix(secs, 0).UTC().AppendFormat(w.b, "2006-01-02T15:04:05")
	if nanos != 0 {
		digits := 9
		for _, d := range []struct {
			div    int64
			digits int
		}{{1e6, 3}, {1e3, 6}} {
			if nanos%d.div == 0 {
				nanos /= d.div
				digits = d.digits
				break
			}
		}
		w.b = append(w.b, '.')
		s := strconv.FormatInt(nanos, 10)
		for range digits - len(s) {
			w.b = append(w.b, '0')
		}
		w.b = append(w.b, s...)
	}
	w.b = append(w.b, 'Z', '"')
}

// message writes a nested message field when it is set.
func (w *jsonWriter) message(n string, set bool, fields func()) {
	if set {
		w.name(n)
		w.object(fields)
	}
}

const hexDigits = "0123456789abcdef"

// quote writes s as a JSON string: quotes, backslashes and control characters escaped,
// everything else as is. protojson refuses invalid UTF-8, so this hands it back.
func (w *jsonWriter) quote(s string) {
	if !utf8.ValidString(s) {
		w.bad = true
		return
	}
	w.b = append(w.b, '"')
	start := 0
	for i := range len(s) {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		w.b = append(w.b, s[start:i]...)
		switch c {
		case '"', '\\':
			w.b = append(w.b, '\\', c)
		case '\n':
			w.b = append(w.b, '\\', 'n')
		case '\r':
			w.b = append(w.b, '\\', 'r')
		case '\t':
			w.b = append(w.b, '\\', 't')
		case '\b':
			w.b = append(w.b, '\\', 'b')
		case '\f':
			w.b = append(w.b, '\\', 'f')
		default:
			w.b = append(w.b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	w.b = append(w.b, s[start:]...)
	w.b = append(w.b, '"')
}

// The messages, fields in declaration order (protojson's order).

func (w *jsonWriter) taskEvent(m *eventsv1.TaskEvent) {
	w.object(func() {
		w.str("event_id", m.GetEventId())
		w.enum("kind", m.GetKind())
		w.timestamp("occurred_at", m.GetOccurredAt())
		w.str("actor_id", m.GetActorId())
		w.message("task", m.GetTask() != nil, func() { w.task(m.GetTask()) })
		w.message("previous", m.GetPrevious() != nil, func() { w.task(m.GetPrevious()) })
	})
}

func (w *jsonWriter) task(m *eventsv1.Task) {
	w.str("id", m.GetId())
	w.str("user_id", m.GetUserId())
	w.str("title", m.GetTitle())
	w.str("description", m.GetDescription())
	w.enum("status", m.GetStatus())
	w.enum("priority", m.GetPriority())
	w.strs("tags", m.GetTags())
	w.timestamp("due_at", m.GetDueAt())
	w.timestamp("remind_at", m.GetRemindAt())
	w.str("time_zone", m.GetTimeZone())
	w.message("recurrence", m.GetRecurrence() != nil, func() { w.recurrence(m.GetRecurrence()) })
	w.timestamp("created_at", m.GetCreatedAt())
	w.timestamp("updated_at", m.GetUpdatedAt())
	w.timestamp("completed_at", m.GetCompletedAt())
}

func (w *jsonWriter) recurrence(m *eventsv1.Recurrence) {
	w.str("rrule", m.GetRrule())
	w.timestamps("exdates", m.GetExdates())
	w.enum("anchor", m.GetAnchor())
	w.str("series_id", m.GetSeriesId())
	w.uint32("occurrence_index", m.GetOccurrenceIndex())
	w.timestamp("dtstart", m.GetDtstart())
	w.timestamps("rdates", m.GetRdates())
	w.enum("catch_up", m.GetCatchUp())
}

func (w *jsonWriter) reminderEvent(m *eventsv1.ReminderEvent) {
	w.object(func() {
		w.str("event_id", m.GetEventId())
		w.str("reminder_id", m.GetReminderId())
		w.str("task_id", m.GetTaskId())
		w.str("user_id", m.GetUserId())
		w.str("title", m.GetTitle())
		w.timestamp("due_at", m.GetDueAt())
		w.timestamp("remind_at", m.GetRemindAt())
		w.str("time_zone", m.GetTimeZone())
		w.message("targets", m.GetTargets() != nil, func() {
			w.str("email", m.GetTargets().GetEmail())
			w.str("webhook_url", m.GetTargets().GetWebhookUrl())
		})
		w.boolean("urgent", m.GetUrgent())
	})
}

func (w *jsonWriter) taskUpdate(m *eventsv1.TaskUpdate) {
	w.object(func() {
		w.str("event_id", m.GetEventId())
		w.str("user_id", m.GetUserId())
		w.timestamp("occurred_at", m.GetOccurredAt())
		switch u := m.GetUpdate().(type) {
		case nil:
		case *eventsv1.TaskUpdate_TaskChange:
			c := u.TaskChange
			w.bad = w.bad || c == nil
			w.message("task_change", true, func() {
				w.enum("kind", c.GetKind())
				w.message("task", c.GetTask() != nil, func() { w.task(c.GetTask()) })
			})
		case *eventsv1.TaskUpdate_Notification:
			n := u.Notification
			w.bad = w.bad || n == nil
			w.message("notification", true, func() {
				w.str("id", n.GetId())
				w.str("title", n.GetTitle())
				w.str("body", n.GetBody())
				w.str("task_id", n.GetTaskId())
				w.timestamp("created_at", n.GetCreatedAt())
			})
		default:
			w.bad = true
		}
	})
}
