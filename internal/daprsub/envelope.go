package daprsub

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"unicode/utf8"
)

// decodeEnvelope decodes raw into ce as json.Unmarshal would, in one pass, for the
// envelopes daprd writes: an object whose fields are plain strings (no escapes, valid
// UTF-8), data_base64 a plain string or null, data any JSON value. It reports false,
// leaving ce in an unspecified state, for anything else (escapes, a field name that
// differs from ours only in case, a null or a number where a string belongs, invalid
// JSON), and the caller decodes with encoding/json instead: the result is always
// encoding/json's. It exists because the bulk path unwraps every record's envelope, and
// encoding/json's validation pass plus reflection were a third of the audit service's CPU
// (services/audit README, "Delivery").
func decodeEnvelope(raw []byte, ce *CloudEvent) bool {
	d := envDecoder{b: raw}
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return d.end()
	}
	for {
		key, ok := d.plainBytes()
		if !ok || !d.consume(':') || !d.field(key, ce) {
			return false
		}
		if d.consume('}') {
			return d.end()
		}
		if !d.consume(',') {
			return false
		}
	}
}

// envelopeFields are the JSON names of CloudEvent's fields, from its tags.
var envelopeFields = func() [][]byte {
	t := reflect.TypeFor[CloudEvent]()
	names := make([][]byte, t.NumField())
	for i := range names {
		names[i] = []byte(strings.Split(t.Field(i).Tag.Get("json"), ",")[0])
	}
	return names
}()

type envDecoder struct {
	b []byte
	i int
}

func (d *envDecoder) skipSpace() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// consume skips white space and then c, reporting whether c was there.
func (d *envDecoder) consume(c byte) bool {
	d.skipSpace()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (d *envDecoder) end() bool {
	d.skipSpace()
	return d.i == len(d.b)
}

// plainString reads a string without escapes or control characters, in valid UTF-8.
func (d *envDecoder) plainString() (string, bool) {
	b, ok := d.plainBytes()
	return string(b), ok
}

// plainBytes is plainString without the copy: the bytes between the quotes.
func (d *envDecoder) plainBytes() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	start := d.i
	ascii := true
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false // encoding/json would replace the invalid bytes
			}
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// field decodes the value of key into ce (or skips it, for a name not ours).
func (d *envDecoder) field(key []byte, ce *CloudEvent) bool {
	var dst *string
	switch string(key) {
	case "id":
		dst = &ce.ID
	case "type":
		dst = &ce.Type
	case "source":
		dst = &ce.Source
	case "specversion":
		dst = &ce.SpecVersion
	case "datacontenttype":
		dst = &ce.DataContentType
	case "time":
		dst = &ce.Time
	case "traceparent":
		dst = &ce.TraceParent
	case "traceid":
		dst = &ce.TraceID
	case "topic":
		dst = &ce.Topic
	case "pubsubname":
		dst = &ce.PubsubName
	case "data":
		v, ok := d.value()
		ce.Data = v
		return ok
	case "data_base64":
		return d.base64(ce)
	default:
		for _, f := range envelopeFields {
			if bytes.EqualFold(key, f) {
				return false // encoding/json matches names case-insensitively
			}
		}
		_, ok := d.value()
		return ok
	}
	s, ok := d.plainString()
	*dst = s
	return ok
}

// base64 decodes data_base64: a plain string (as encoding/json decodes []byte) or null.
func (d *envDecoder) base64(ce *CloudEvent) bool {
	d.skipSpace()
	if bytes.HasPrefix(d.b[d.i:], []byte("null")) {
		d.i += len("null")
		ce.DataBase64 = nil
		return true
	}
	s, ok := d.plainBytes()
	if !ok {
		return false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(out, s)
	if err != nil {
		return false
	}
	ce.DataBase64 = out[:n]
	return true
}

// value returns the next JSON value as it stands in the input, checked with json.Valid:
// everything up to the ',' or '}' that ends it at its own level.
func (d *envDecoder) value() (json.RawMessage, bool) {
	d.skipSpace()
	start := d.i
	for depth := 0; d.i < len(d.b); {
		switch d.b[d.i] {
		case '"':
			if !d.skipString() {
				return nil, false
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return d.checked(start)
			}
			depth--
		case ',':
			if depth == 0 {
				return d.checked(start)
			}
		}
		d.i++
	}
	return nil, false
}

func (d *envDecoder) checked(start int) (json.RawMessage, bool) {
	v := bytes.TrimRight(d.b[start:d.i], " \t\n\r")
	if len(v) == 0 || !json.Valid(v) {
		return nil, false
	}
	return json.RawMessage(bytes.Clone(v)), true
}

// skipString moves past a string starting at d.i (escapes skipped, not checked: the
// value is checked as a whole afterwards).
func (d *envDecoder) skipString() bool {
	for d.i++; d.i < len(d.b); d.i++ {
		switch d.b[d.i] {
		case '\\':
			d.i++
		case '"':
			d.i++
			return true
		}
	}
	return false
}
