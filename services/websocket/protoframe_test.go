package main

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// decodeProtoFrame reads field 4 (the TaskUpdate) of a binary frame, as a client would with
// the Frame message from the README.
func decodeProtoFrame(t *testing.T, b []byte) *eventsv1.TaskUpdate {
	t.Helper()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad frame tag")
		}
		b = b[n:]
		if num == 4 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			u := &eventsv1.TaskUpdate{}
			if n < 0 || proto.Unmarshal(v, u) != nil {
				t.Fatalf("bad update in frame")
			}
			return u
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			t.Fatalf("bad frame field %d", num)
		}
		b = b[n:]
	}
	t.Fatalf("frame has no update")
	return nil
}
