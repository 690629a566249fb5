package daprsub

import (
	"encoding/json"
	"reflect"
	"testing"
)

// envelopeCases are envelopes as daprd writes them (binary and JSON data) and the odd ones
// decodeEnvelope must hand to encoding/json or decode exactly like it.
var envelopeCases = []struct {
	name string
	raw  string
	fast bool // decodeEnvelope must take it (the common case stays fast)
}{
	{"daprd binary", `{"data_base64":"CgNhYmMSA3h5eg==","datacontenttype":"application/octet-stream","id":"e-1","pubsubname":"taskflow-pubsub","source":"task-api","specversion":"1.0","time":"2026-12-03T07:00:00Z","topic":"task-events","traceid":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","tracestate":"","type":"taskflow.task.completed.v1"}`, true},
	{"daprd JSON data", `{"data":{"event_id":"e-2","task":{"id":"t","title":"a, {b} \"c\" [d]","tags":["x","y"]},"n":-1.5e3,"ok":true,"none":null},"datacontenttype":"application/json","id":"e-2","specversion":"1.0","type":"t"}`, true},
	{"string data", `{"data":"plain text","datacontenttype":"text/plain","id":"e-3","specversion":"1.0"}`, true},
	{"whitespace", " \n{ \"id\" : \"e-4\" ,\t\"data\" : [ 1 , 2 ] , \"specversion\":\"1.0\" }\r\n", true},
	{"empty object", `{}`, true},
	{"unicode", `{"id":"é-ünï","specversion":"1.0","source":"日本"}`, true},
	{"null data", `{"data":null,"data_base64":null,"id":"e"}`, true},
	{"empty base64", `{"data_base64":"","id":"e"}`, true},
	{"duplicate key, last wins", `{"id":"a","id":"b"}`, true},
	{"unknown fields skipped", `{"x":{"y":[1,{"z":"}"}]},"w":"\"","id":"e","v":123,"u":false}`, true},
	{"escaped string", `{"id":"a\"b","type":"t\u00e9"}`, false},
	{"escaped key", `{"i\u0064":"e"}`, false},
	{"case-folded name", `{"ID":"e","Type":"t"}`, false},
	{"long-s name (folds to source)", "{\"\u017fource\":\"v\",\"id\":\"e\"}", false},
	{"number for a string", `{"id":5}`, false},
	{"null for a string", `{"id":null}`, false},
	{"invalid utf-8", "{\"id\":\"\xff\"}", false},
	{"control character", "{\"id\":\"a\tb\"}", false},
	{"bad base64", `{"data_base64":"!!"}`, false},
	{"base64 with newline escape", `{"data_base64":"CgNh\nYmM="}`, false},
	{"trailing garbage", `{"id":"e"} x`, false},
	{"trailing comma", `{"id":"e",}`, false},
	{"unterminated", `{"id":"e"`, false},
	{"invalid data", `{"data":{"a":},"id":"e"}`, false},
	{"bare word data", `{"data":nope,"id":"e"}`, false},
	{"not an object", `["id","e"]`, false},
	{"empty", ``, false},
}

// TestDecodeEnvelopeMatchesEncodingJSON: whenever decodeEnvelope takes an envelope, the
// result is what encoding/json gives, and it takes the ones daprd writes.
func TestDecodeEnvelopeMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range envelopeCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got CloudEvent
			ok := decodeEnvelope([]byte(tc.raw), &got)
			if ok != tc.fast {
				t.Errorf("decodeEnvelope took it = %v, want %v", ok, tc.fast)
			}
			checkEnvelope(t, []byte(tc.raw), got, ok)
		})
	}
}

// TestDecodeEnvelopeKnowsEveryField: a field added to CloudEvent that decodeEnvelope does
// not fill would be skipped as unknown while encoding/json fills it; every field, given a
// string value, is decoded as encoding/json decodes it (or left to it).
func TestDecodeEnvelopeKnowsEveryField(t *testing.T) {
	t.Parallel()
	for _, name := range envelopeFields {
		raw := []byte(`{"` + string(name) + `":"dGV4dA=="}`)
		var got CloudEvent
		ok := decodeEnvelope(raw, &got)
		if !ok {
			t.Errorf("decodeEnvelope(%s) left it to encoding/json, want it taken", raw)
		}
		checkEnvelope(t, raw, got, ok)
	}
}

// checkEnvelope fails t when decodeEnvelope took raw (ok) and encoding/json disagrees.
func checkEnvelope(t *testing.T, raw []byte, got CloudEvent, ok bool) {
	t.Helper()
	if !ok {
		return
	}
	var want CloudEvent
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("decodeEnvelope took %q, which encoding/json refuses: %v", raw, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeEnvelope(%q) =\n%#v\nencoding/json:\n%#v", raw, got, want)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, tc := range envelopeCases {
		f.Add([]byte(tc.raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var got CloudEvent
		ok := decodeEnvelope(raw, &got)
		checkEnvelope(t, raw, got, ok)
	})
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	raw := []byte(envelopeCases[0].raw)
	b.Run("single-pass", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var ce CloudEvent
			if !decodeEnvelope(raw, &ce) {
				b.Fatal("not taken")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var ce CloudEvent
			if err := json.Unmarshal(raw, &ce); err != nil {
				b.Fatal(err)
			}
		}
	})
}
