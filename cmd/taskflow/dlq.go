package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/taskflow/taskflow-events/internal/daprconn"
	"github.com/taskflow/taskflow-events/internal/daprpub"
	"github.com/taskflow/taskflow-events/internal/daprsub"
	"github.com/taskflow/taskflow-events/internal/devstack"
	"github.com/taskflow/taskflow-events/internal/localrun"
	"github.com/taskflow/taskflow-events/internal/wire"
)

// dlqTopics are the dead-letter topics of every subscription, <topic>-<service>-dlq.
var dlqTopics = wire.DeadLetterTopics()

// wireTopics is what the wire contract says about each event topic: its message type and
// its partition key.
var wireTopics = func() map[string]wire.Topic {
	m := make(map[string]wire.Topic, len(wire.EventTopics))
	for _, t := range wire.EventTopics {
		m[t.Name] = t
	}
	return m
}()

// splitDLQ returns the original topic and the service of a dead-letter topic name.
func splitDLQ(dlq string) (topic, service string, err error) {
	if topic, service, ok := wire.SplitDeadLetter(dlq); ok {
		return topic, service, nil
	}
	return "", "", fmt.Errorf("%w: %q is not a dead-letter topic: want <topic>-<service>-dlq, topic one of %s",
		errUsage, dlq, strings.Join(slices.Sorted(slices.Values(wire.EventTopicNames())), ", "))
}

type dlqFlags struct {
	cmd, stack, brokers, saslMech, saslUser, topic, edit, dapr, pubsub string
	tls, all                                                           bool
	ids, offsets                                                       []string
	timeout                                                            time.Duration
}

func parseDLQFlags(args []string, stderr io.Writer) (dlqFlags, error) {
	f := dlqFlags{cmd: args[0]}
	fs := flag.NewFlagSet("dlq "+f.cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.stack, "stack", ".run/stack.json", "stack.json of a running `make run` (broker, daprd, service logs)")
	fs.StringVar(&f.brokers, "brokers", "", "Kafka brokers host:port,... (default: the local stack's; then no service logs are read)")
	fs.BoolVar(&f.tls, "tls", false, "connect to the brokers with TLS")
	fs.StringVar(&f.saslMech, "sasl-mechanism", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (password from $KAFKA_SASL_PASSWORD)")
	fs.StringVar(&f.saslUser, "sasl-user", "", "SASL user name")
	fs.StringVar(&f.topic, "topic", "", "dead-letter topic, e.g. reminders-notification-dlq (list: all of them when empty)")
	fs.Func("id", "show/replay: the entry with this CloudEvent id or event_id (replay: repeatable)", func(s string) error {
		f.ids = append(f.ids, s)
		return nil
	})
	fs.Func("offset", "show/replay: the entry at partition:offset of the dead-letter topic (replay: repeatable)", func(s string) error {
		f.offsets = append(f.offsets, s)
		return nil
	})
	fs.BoolVar(&f.all, "all", false, "replay: every entry (each event_id once)")
	fs.StringVar(&f.edit, "edit", "", "replay: publish this protojson file instead of the entry's payload (same type, same event_id)")
	fs.StringVar(&f.dapr, "dapr", "", "replay: daprd gRPC address host:port (default: the Task API double's sidecar; token from $DAPR_API_TOKEN)")
	fs.StringVar(&f.pubsub, "pubsub", localrun.PubsubName, "replay: pub/sub component name")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up reading the broker after this long")
	if err := fs.Parse(args[1:]); err != nil {
		return f, err
	}
	chosen := len(f.ids) + len(f.offsets)
	switch {
	case f.topic == "" && f.cmd != "list":
		return f, fmt.Errorf("%w: dlq %s needs --topic", errUsage, f.cmd)
	case f.cmd == "show" && chosen != 1:
		return f, fmt.Errorf("%w: dlq show needs one --id or --offset", errUsage)
	case f.cmd == "replay" && f.all == (chosen > 0):
		return f, fmt.Errorf("%w: dlq replay needs --all or one or more --id / --offset", errUsage)
	}
	return f, nil
}

func cmdDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || !slices.Contains([]string{"list", "show", "replay"}, args[0]) {
		fmt.Fprintln(stderr, "usage: taskflow dlq list|show|replay [flags]   (-h for flags)")
		return errUsage
	}
	f, err := parseDLQFlags(args, stderr)
	if err != nil {
		return err
	}
	var info *devstack.Info
	if f.brokers == "" || (f.cmd == "replay" && f.dapr == "") {
		i, err := loadInfo(f.stack)
		if err != nil {
			return err
		}
		info = &i
		if f.brokers == "" {
			f.brokers = i.Broker
		} else {
			info.RunDir, info.Services = "", nil // another cluster: the stack's logs are not about it
		}
	}
	cl, err := kafkaClient(f)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if f.topic == "" {
		return dlqOverview(ctx, cl, stdout)
	}
	topic, service, err := splitDLQ(f.topic)
	if err != nil {
		return err
	}
	recs, err := readTopic(ctx, cl, f.topic)
	if err != nil {
		return err
	}
	entries := make([]dlqEntry, len(recs))
	for i, r := range recs {
		entries[i] = parseEntry(r, wireTopics[topic])
	}
	logs := serviceLogs(info, service)
	switch f.cmd {
	case "list":
		for _, e := range entries {
			fmt.Fprintf(stdout, "%d:%d  id=%s  type=%s  time=%s  from=%s  reason: %s\n", e.partition, e.offset,
				orDash(e.ce.ID), orDash(e.ce.Type), orDash(e.ce.Time), orDash(e.source()), dropReason(logs, e))
		}
		fmt.Fprintf(stdout, "%d entr%s on %s (original topic %s)\n", len(entries), plural(len(entries), "y", "ies"), f.topic, topic)
		return nil
	case "show":
		sel, err := selectEntries(entries, f.ids, f.offsets, f.topic)
		if err != nil {
			return err
		}
		for _, e := range sel {
			showEntry(stdout, f.topic, e, dropReason(logs, e))
		}
		return nil
	}
	return dlqReplay(ctx, f, info, topic, entries, stdout)
}

// dlqOverview prints every known dead-letter topic, and any other *-dlq topic on the
// broker, with its entry count.
func dlqOverview(ctx context.Context, cl *kgo.Client, stdout io.Writer) error {
	onBroker, err := listTopics(ctx, cl)
	if err != nil {
		return err
	}
	names := slices.Clone(dlqTopics)
	for t := range onBroker {
		if strings.HasSuffix(t, "-dlq") && !slices.Contains(names, t) {
			names = append(names, t)
		}
	}
	for _, t := range names {
		if !onBroker[t] {
			fmt.Fprintf(stdout, "%-30s %6d  (no such topic yet: nothing dead-lettered)\n", t, 0)
			continue
		}
		ranges, err := partitionRanges(ctx, cl, t)
		if err != nil {
			return err
		}
		var n int64
		for _, r := range ranges {
			n += r[1] - r[0]
		}
		fmt.Fprintf(stdout, "%-30s %6d\n", t, n)
	}
	return nil
}

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

// serviceLogs are the log files of the service that dead-lettered into the topic, when the
// broker is the local stack's (stack.json); empty otherwise.
func serviceLogs(info *devstack.Info, service string) []string {
	if info == nil {
		return nil
	}
	var all, own []string
	for name, s := range info.Services {
		all = append(all, s.Log)
		if name == service || strings.HasPrefix(name, service+"-") {
			own = append(own, s.Log)
		}
	}
	if len(own) > 0 {
		return own
	}
	return all
}

// dropReason finds why an entry was dead-lettered. The record carries no reason: daprd
// copies the consumed record and its metadata, nothing else. The daprsub runtime logs each
// DROP once, as event_dropped with the error, the CloudEvent id, the event_id and the
// original topic, partition and offset. The stack appends to its logs across runs while its
// broker starts empty, so a line must match the id (a record without one: the coordinates);
// the last such line wins, one that also matches the coordinates first.
func dropReason(logs []string, e dlqEntry) string {
	id, topic := e.eventID(), e.headers["__topic"]
	var matched, exact string
	for _, path := range logs {
		fh, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for sc.Scan() {
			if !bytes.Contains(sc.Bytes(), []byte(`"event_dropped"`)) {
				continue
			}
			var l struct {
				Msg, Topic, Error string
				EventID           string `json:"event_id"`
				CloudEventID      string `json:"cloudevent_id"`
				Partition, Offset *int64
			}
			if json.Unmarshal(sc.Bytes(), &l) != nil || l.Msg != "event_dropped" || (topic != "" && l.Topic != topic) {
				continue
			}
			idMatch := id != "" && (l.EventID == id || l.CloudEventID == id || (e.ce.ID != "" && l.CloudEventID == e.ce.ID))
			at := l.Partition != nil && l.Offset != nil && e.headers["__partition"] == strconv.FormatInt(*l.Partition, 10) &&
				e.headers["__offset"] == strconv.FormatInt(*l.Offset, 10)
			switch {
			case idMatch && at:
				exact = l.Error
			case idMatch, id == "" && at:
				matched = l.Error
			}
		}
		fh.Close()
	}
	if r := cmp.Or(exact, matched); r != "" {
		return r
	}
	if id == "" {
		return fmt.Sprintf("see the service log (event_dropped, topic=%s partition=%s offset=%s)", topic, e.headers["__partition"], e.headers["__offset"])
	}
	return fmt.Sprintf("see the service log (event_dropped, event_id=%s)", id)
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

func showEntry(w io.Writer, topic string, e dlqEntry, reason string) {
	row := func(k, v string) { fmt.Fprintf(w, "%-16s %s\n", k, v) }
	row("dead letter", fmt.Sprintf("%s %d:%d (key %q, written %s)", topic, e.partition, e.offset, e.key, e.written.UTC().Format(time.RFC3339)))
	row("from", orDash(e.source()))
	row("id", orDash(e.ce.ID))
	row("event_id", orDash(e.eventID()))
	row("type", orDash(e.ce.Type))
	row("source", orDash(e.ce.Source))
	row("specversion", orDash(e.ce.SpecVersion))
	row("time", orDash(e.ce.Time))
	row("datacontenttype", orDash(e.ce.DataContentType))
	row("traceparent", orDash(e.ce.TraceParent))
	for _, k := range slices.Sorted(maps.Keys(e.headers)) {
		row("header", k+"="+e.headers[k])
	}
	row("reason", reason)
	if e.msg == nil {
		row("payload", fmt.Sprintf("NOT a valid event: %v", e.err))
		fmt.Fprintf(w, "%q\n", e.payload)
		return
	}
	// Indented by encoding/json: protojson's Multiline output varies its spacing on purpose.
	var b bytes.Buffer
	js, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(e.msg)
	_ = json.Indent(&b, js, "", "  ")
	row("payload", string(e.msg.ProtoReflect().Descriptor().FullName()))
	fmt.Fprintln(w, b.String())
}

// dlqReplay republishes the chosen entries to the original topic through daprd in our wire
// format, each event_id once. A chosen entry that is not a valid event refuses the whole
// replay before anything is published.
func dlqReplay(ctx context.Context, f dlqFlags, info *devstack.Info, topic string, entries []dlqEntry, stdout io.Writer) error {
	sel := entries
	if !f.all {
		var err error
		if sel, err = selectEntries(entries, f.ids, f.offsets, f.topic); err != nil {
			return err
		}
	}
	seen, uniq := map[string]dlqEntry{}, sel[:0:0]
	for _, e := range sel {
		if first, ok := seen[e.eventID()]; ok && e.eventID() != "" {
			fmt.Fprintf(stdout, "skipping %d:%d: same event_id %s as %d:%d\n", e.partition, e.offset, e.eventID(), first.partition, first.offset)
			continue
		}
		seen[e.eventID()] = e
		uniq = append(uniq, e)
	}
	if f.edit != "" {
		if len(uniq) != 1 {
			return fmt.Errorf("%w: --edit replaces one entry's payload; %d chosen", errUsage, len(uniq))
		}
		msg, err := editedEvent(f.edit, wireTopics[topic], uniq[0])
		if err != nil {
			return err
		}
		uniq[0].msg, uniq[0].err = msg, nil
	}
	var refused []error
	for _, e := range uniq {
		if e.msg == nil {
			refused = append(refused, fmt.Errorf("entry %d:%d (id %s): %w", e.partition, e.offset, e.ce.ID, e.err))
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("replay refused, nothing published (fix the payload with --edit): %w", errors.Join(refused...))
	}
	target := f.dapr
	if target == "" {
		target = info.TaskAPI.DaprGRPC
	}
	client, err := daprconn.New(daprconn.Config{Target: target, APIToken: os.Getenv("DAPR_API_TOKEN")})
	if err != nil {
		return err
	}
	defer client.Close()
	for _, e := range uniq {
		key := cmp.Or(wireTopics[topic].Key(e.msg), e.key)
		pub := daprpub.New(sameCloudEventID{Client: client, id: e.ce.ID}, f.pubsub)
		if err := pub.Publish(ctx, topic, e.ce.Type, key, e.msg); err != nil {
			return fmt.Errorf("replay %d:%d: %w", e.partition, e.offset, err)
		}
		fmt.Fprintf(stdout, "replayed %d:%d to %s through %s: id=%s type=%s event_id=%s key=%s\n",
			e.partition, e.offset, topic, target, e.ce.ID, e.ce.Type, e.msg.GetEventId(), key)
	}
	return nil
}

// editedEvent reads the corrected event for --edit (protojson of the topic's type, unknown
// fields refused so a typo is not silently dropped) and insists on the original event_id:
// consumers deduplicate on it, so a new one would be a new event, not a replay.
func editedEvent(path string, wt wire.Topic, e dlqEntry) (wire.Event, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	msg := wt.New()
	if err := protojson.Unmarshal(b, msg); err != nil {
		return nil, fmt.Errorf("--edit %s: parse as %s: %w", path, msg.ProtoReflect().Descriptor().FullName(), err)
	}
	if got, want := msg.GetEventId(), e.eventID(); got != want {
		return nil, fmt.Errorf("--edit %s: event_id %q, want the entry's %q (consumers deduplicate on it)", path, got, want)
	}
	bin, err := proto.Marshal(msg)
	if err == nil {
		err = daprsub.Decode(wire.ContentType, bin, wt.New())
	}
	if err != nil {
		return nil, fmt.Errorf("--edit %s: %w", path, err)
	}
	return msg, nil
}

// sameCloudEventID republishes under the entry's CloudEvent id. daprpub sets it to the
// event_id, as the wire format asks; an entry whose producer left the id to daprd keeps the
// id it was dead-lettered with, so traces and logs still find it.
type sameCloudEventID struct {
	daprpub.Client
	id string
}

func (c sameCloudEventID) PublishEvent(ctx context.Context, pubsub, topic string, data any, opts ...dapr.PublishEventOption) error {
	if c.id != "" {
		opts = append(opts, func(r *runtimev1.PublishEventRequest) { r.Metadata[wire.MetaID] = c.id })
	}
	return c.Client.PublishEvent(ctx, pubsub, topic, data, opts...)
}

func orDash(s string) string { return cmp.Or(s, "-") }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
