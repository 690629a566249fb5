package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// dlqEntry is one dead-letter record: the CloudEvent daprd wrote and its decoded payload.
type dlqEntry struct {
	partition int32
	offset    int64
	key       string
	written   time.Time
	headers   map[string]string
	ce        daprsub.CloudEvent
	payload   []byte
	msg       wire.Event // nil when the payload is not a valid event of its type
	err       error      // why msg is nil
}

// parseEntry unwraps a dead-letter record. daprd dead-letters the record value it consumed
// (the CloudEvent) and turns the consumer metadata into headers: __topic, __partition,
// __offset, __key, __timestamp of the original record (components-contrib kafka
// GetEventMetadata; dapr pkg/runtime/subscription sendToDeadLetter). Nothing says why.
func parseEntry(r *kgo.Record, wt wire.Topic) dlqEntry {
	e := dlqEntry{partition: r.Partition, offset: r.Offset, key: string(r.Key), written: r.Timestamp, headers: map[string]string{}}
	for _, h := range r.Headers {
		e.headers[h.Key] = string(h.Value)
	}
	ce, err := daprsub.ParseCloudEvent(r.Value)
	if err != nil {
		e.payload, e.err = r.Value, fmt.Errorf("%w: the record is not a CloudEvent", daprsub.ErrInvalidEvent)
		return e
	}
	e.ce = ce
	if e.payload, e.err = ce.Payload(); e.err != nil {
		return e
	}
	msg := wt.New()
	if e.err = daprsub.Decode(e.ce.DataContentType, e.payload, msg); e.err == nil {
		e.msg = msg
	}
	return e
}

// source is the original topic partition:offset of the entry, from daprd's headers.
func (e dlqEntry) source() string {
	t := cmp.Or(e.headers["__topic"], e.ce.Topic)
	if p, o := e.headers["__partition"], e.headers["__offset"]; p != "" && o != "" {
		return t + "@" + p + ":" + o
	}
	return t
}

// eventID is the entry's event_id: from the decoded event, else read leniently from a JSON
// payload, else the CloudEvent id (which producers set to the event_id).
func (e dlqEntry) eventID() string {
	if e.msg != nil {
		return e.msg.GetEventId()
	}
	var v struct {
		EventID  string `json:"event_id"`
		EventID2 string `json:"eventId"`
	}
	if json.Unmarshal(e.payload, &v) == nil && cmp.Or(v.EventID, v.EventID2) != "" {
		return cmp.Or(v.EventID, v.EventID2)
	}
	return e.ce.ID
}

// selectEntries picks entries by CloudEvent id or event_id and by partition:offset; each
// selector must match.
func selectEntries(entries []dlqEntry, ids, offsets []string, topic string) ([]dlqEntry, error) {
	var out []dlqEntry
	for _, id := range ids {
		n := 0
		for _, e := range entries {
			if e.ce.ID == id || e.eventID() == id {
				out, n = append(out, e), n+1
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("no entry with id %s on %s", id, topic)
		}
	}
	for _, po := range offsets {
		ps, offs, ok := strings.Cut(po, ":")
		p, perr := strconv.ParseInt(ps, 10, 32)
		o, oerr := strconv.ParseInt(offs, 10, 64)
		if !ok || perr != nil || oerr != nil {
			return nil, fmt.Errorf("%w: --offset %q: want partition:offset, e.g. 3:0", errUsage, po)
		}
		i := slices.IndexFunc(entries, func(e dlqEntry) bool { return e.partition == int32(p) && e.offset == o })
		if i < 0 {
			return nil, fmt.Errorf("no entry at %s on %s", po, topic)
		}
		out = append(out, entries[i])
	}
	return out, nil
}
