package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

type wsFrame struct {
	Seq   *uint64 `json:"seq"`
	Epoch string  `json:"epoch"`
	Type  string  `json:"type"`
	Data  struct {
		EventID      string `json:"event_id"`
		Notification struct {
			TaskID string `json:"task_id"`
		} `json:"notification"`
	} `json:"data"`
}

// watchWS keeps a WebSocket connection as the dev user, resuming after a disconnect.
func (o *Observer) watchWS(ctx context.Context, first chan<- error) {
	var since, epoch string
	started := false
	for ctx.Err() == nil {
		u := o.s.Info.WebSocketURL
		if epoch != "" {
			u += "?since=" + since + "&epoch=" + epoch
		}
		h := http.Header{"Authorization": {"Bearer " + o.s.Info.DevToken}}
		conn, _, err := websocket.DefaultDialer.DialContext(ctx, u, h)
		if err != nil {
			if !started {
				first <- fmt.Errorf("connect to the WebSocket service: %w", err)
				return
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		o.mu.Lock()
		o.wsConns++
		o.mu.Unlock()
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				break
			}
			now := time.Now()
			var f wsFrame
			if json.Unmarshal(msg, &f) != nil {
				continue
			}
			if f.Seq != nil {
				since, epoch = fmt.Sprint(*f.Seq), f.Epoch
			}
			o.mu.Lock()
			switch f.Type {
			case "welcome", "resync":
				if !started {
					started = true
					first <- nil
				}
			case "task_change":
				o.wsUpdate[f.Data.EventID]++
				if _, ok := o.wsUpdateAt[f.Data.EventID]; !ok {
					o.wsUpdateAt[f.Data.EventID] = now
				}
			case "notification":
				o.wsNotif[f.Data.Notification.TaskID]++
			}
			o.mu.Unlock()
		}
		stop()
		conn.Close()
		if !started {
			first <- fmt.Errorf("the WebSocket service closed the connection before its welcome frame")
			return
		}
	}
}
