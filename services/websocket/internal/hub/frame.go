package hub

import (
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
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
