package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
)

// dlqShow prints the entry chosen by --id or --offset in full.
func dlqShow(stdout io.Writer, f dlqFlags, entries []dlqEntry, logs []string) error {
	sel, err := selectEntries(entries, f.ids, f.offsets, f.topic)
	if err != nil {
		return err
	}
	for _, e := range sel {
		showEntry(stdout, f.topic, e, dropReason(logs, e))
	}
	return nil
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
