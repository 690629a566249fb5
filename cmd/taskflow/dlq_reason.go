package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/taskflow/taskflow-events/internal/devstack"
)

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
