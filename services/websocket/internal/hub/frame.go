package hub

import (
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

// Frame types sent to clients.
const (
	TypeWelcome      = "welcome"
	TypeResync       = "resync"
	TypePong         = "pong"
	TypeTaskChange   = "task_change"
	TypeNotification = "notification"
)

// Frame is one message to clients, encoded once and shared by every connection that
// receives it. JSON is sent to JSON clients, Proto to clients of the protobuf subprotocol.
type Frame struct {
	Seq     uint64
	Type    string
	EventID string
	At      time.Time
	JSON    []byte
	Proto   []byte
	// Batch, when set, replaces this frame by these frames (queued as one entry).
	Batch []*Frame
}

// newFrame encodes a frame. data is the protojson of the update (nil for control frames),
// update its binary protobuf.
//
// JSON:  {"seq":N,"epoch":"E","type":"T","data":{...}}
// Proto: message Frame { uint64 seq = 1; string epoch = 2; string type = 3; TaskUpdate update = 4; }
func newFrame(seq uint64, epoch, typ, eventID string, data, update []byte, at time.Time) *Frame {
	j := make([]byte, 0, len(data)+64+len(epoch))
	j = append(j, `{"seq":`...)
	j = strconv.AppendUint(j, seq, 10)
	j = append(j, `,"epoch":"`...)
	j = append(j, epoch...) // hex, needs no escaping
	j = append(j, `","type":"`...)
	j = append(j, typ...) // one of the constants above
	j = append(j, '"')
	if data != nil {
		j = append(j, `,"data":`...)
		j = append(j, data...)
	}
	j = append(j, '}')

	p := make([]byte, 0, len(update)+32+len(epoch))
	if seq != 0 {
		p = protowire.AppendTag(p, 1, protowire.VarintType)
		p = protowire.AppendVarint(p, seq)
	}
	p = protowire.AppendTag(p, 2, protowire.BytesType)
	p = protowire.AppendString(p, epoch)
	p = protowire.AppendTag(p, 3, protowire.BytesType)
	p = protowire.AppendString(p, typ)
	if update != nil {
		p = protowire.AppendTag(p, 4, protowire.BytesType)
		p = protowire.AppendBytes(p, update)
	}
	return &Frame{Seq: seq, Type: typ, EventID: eventID, At: at, JSON: j, Proto: p}
}

// pongFrame answers a client's {"type":"ping"}.
var pongFrame = &Frame{Type: TypePong, JSON: []byte(`{"type":"pong"}`),
	Proto: protowire.AppendString(protowire.AppendTag(nil, 3, protowire.BytesType), TypePong)}

// PongFrame returns the shared answer to an application-level ping.
func PongFrame() *Frame { return pongFrame }

// encodeUpdate validates u and encodes it as JSON and as protobuf.
func encodeUpdate(u *eventsv1.TaskUpdate) (typ string, data, bin []byte, err error) {
	switch u.GetUpdate().(type) {
	case *eventsv1.TaskUpdate_TaskChange:
		typ = TypeTaskChange
	case *eventsv1.TaskUpdate_Notification:
		typ = TypeNotification
	}
	if u.GetUserId() == "" || typ == "" {
		return "", nil, nil, fmt.Errorf("%w %s: user_id and one of task_change or notification are required", ErrInvalidUpdate, u.GetEventId())
	}
	data, err = protojson.MarshalOptions{UseProtoNames: true}.Marshal(u)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%w %s: encode JSON: %w", ErrInvalidUpdate, u.GetEventId(), err)
	}
	bin, err = proto.MarshalOptions{Deterministic: true}.Marshal(u)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%w %s: encode protobuf: %w", ErrInvalidUpdate, u.GetEventId(), err)
	}
	return typ, data, bin, nil
}
