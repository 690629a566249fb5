package daprsub

import (
	"errors"
	"fmt"
	"mime"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/taskflow/taskflow-events/internal/wire"
)

// Message is what an event payload must be: a protobuf message that carries the
// producer-set idempotency key (the wire contract's event interface).
type Message = wire.Event

// ErrInvalidEvent is wrapped by every decoding failure; such events are dropped.
var ErrInvalidEvent = errors.New("invalid event")

var (
	binaryOpts = proto.UnmarshalOptions{}
	jsonOpts   = protojson.UnmarshalOptions{DiscardUnknown: true}
)

// mediaType returns the lower-cased media type without parameters.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	for i := range len(ct) {
		if c := ct[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(ct)
		}
	}
	return ct
}

func isJSON(mt string) bool {
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// Decode fills msg from data according to the content type and checks event_id.
// Every error wraps ErrInvalidEvent.
func Decode(contentType string, data []byte, msg Message) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: empty body (content type %q)", ErrInvalidEvent, contentType)
	}
	switch mt := mediaType(contentType); {
	case mt == wire.ContentType:
		if err := binaryOpts.Unmarshal(data, msg); err != nil {
			return fmt.Errorf("%w: decode binary protobuf %s: %w", ErrInvalidEvent, msg.ProtoReflect().Descriptor().FullName(), err)
		}
	case isJSON(mt):
		if err := jsonOpts.Unmarshal(data, msg); err != nil {
			return fmt.Errorf("%w: decode JSON %s: %w", ErrInvalidEvent, msg.ProtoReflect().Descriptor().FullName(), err)
		}
	default:
		if _, _, err := mime.ParseMediaType(contentType); err != nil || mt == "" {
			return fmt.Errorf("%w: missing or malformed content type %q", ErrInvalidEvent, contentType)
		}
		return fmt.Errorf("%w: unsupported content type %q (want application/octet-stream or application/json)", ErrInvalidEvent, contentType)
	}
	if msg.GetEventId() == "" {
		return fmt.Errorf("%w: %s has no event_id", ErrInvalidEvent, msg.ProtoReflect().Descriptor().FullName())
	}
	return nil
}
