package daprsub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// CloudEvent is the JSON envelope daprd wraps every published event in, as it lies on the
// broker and, unchanged, on a dead-letter topic. Bulk subscriptions ask daprd for the raw
// Kafka record (rawPayload) and unwrap it here, because daprd's bulk gRPC delivery drops
// `data_base64`, i.e. every binary protobuf payload (1.14 to 1.17.5:
// TestDaprdRuntimeBehaviour); the CLI's dlq commands and the console read records with it.
type CloudEvent struct {
	ID              string          `json:"id"`
	Type            string          `json:"type"`
	Source          string          `json:"source"`
	SpecVersion     string          `json:"specversion"`
	DataContentType string          `json:"datacontenttype"`
	Time            string          `json:"time"`
	TraceParent     string          `json:"traceparent"`
	TraceID         string          `json:"traceid"`
	Topic           string          `json:"topic"`
	PubsubName      string          `json:"pubsubname"`
	Data            json.RawMessage `json:"data"`
	DataBase64      []byte          `json:"data_base64"`
}

// ParseCloudEvent decodes a structured CloudEvent record; an error wrapping
// ErrInvalidEvent when raw is not one (not JSON, or no specversion).
func ParseCloudEvent(raw []byte) (CloudEvent, error) {
	ce, err := decodeCloudEvent(raw)
	if err != nil {
		return ce, err
	}
	if ce.SpecVersion == "" {
		return ce, fmt.Errorf("%w: not a CloudEvent (no specversion)", ErrInvalidEvent)
	}
	return ce, nil
}

// Payload returns the event data the envelope carries: data_base64 as is, a JSON string
// of a non-JSON content type unquoted, any other data as its JSON text; nil for none.
func (ce CloudEvent) Payload() ([]byte, error) {
	switch {
	case ce.DataBase64 != nil:
		return ce.DataBase64, nil
	case len(ce.Data) == 0 || string(ce.Data) == "null":
		return nil, nil
	case ce.Data[0] == '"' && !isJSON(mediaType(ce.DataContentType)):
		s, err := strconv.Unquote(string(ce.Data))
		if err != nil {
			var str string
			if jerr := json.Unmarshal(ce.Data, &str); jerr != nil {
				return nil, fmt.Errorf("%w: decode CloudEvent data string: %w", ErrInvalidEvent, jerr)
			}
			s = str
		}
		return []byte(s), nil
	default:
		return ce.Data, nil
	}
}

// looksLikeCloudEvent reports whether a raw record is a structured CloudEvent.
func looksLikeCloudEvent(contentType string, raw []byte) bool {
	if mediaType(contentType) == "application/cloudevents+json" {
		return true
	}
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{' && bytes.Contains(raw, []byte(`"specversion"`))
}

// unwrapCloudEvent fills m from the envelope and returns the event data.
func unwrapCloudEvent(m *Meta, raw []byte) ([]byte, error) {
	ce, err := decodeCloudEvent(raw)
	if err != nil {
		return nil, err
	}
	m.ID, m.Type, m.Source, m.SpecVersion, m.ContentType = ce.ID, ce.Type, ce.Source, ce.SpecVersion, ce.DataContentType
	if ce.TraceParent != "" {
		m.TraceParent = ce.TraceParent
	} else if ce.TraceID != "" {
		m.TraceParent = ce.TraceID
	}
	m.TraceID = traceIDOf(m.TraceParent)
	if t, err := time.Parse(time.RFC3339Nano, ce.Time); err == nil {
		m.Time = t
	}
	return ce.Payload()
}

// decodeCloudEvent decodes the JSON envelope: in one pass when it is as daprd writes it,
// with encoding/json otherwise (same result either way, see decodeEnvelope).
func decodeCloudEvent(raw []byte) (CloudEvent, error) {
	var ce CloudEvent
	if decodeEnvelope(raw, &ce) {
		return ce, nil
	}
	ce = CloudEvent{}
	if err := json.Unmarshal(raw, &ce); err != nil {
		return ce, fmt.Errorf("%w: decode CloudEvent envelope: %w", ErrInvalidEvent, err)
	}
	return ce, nil
}
