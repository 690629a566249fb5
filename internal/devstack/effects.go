package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// This file holds how the demo observes effects: the WebSocket frames it received, the
// messages in mailpit, a condition polled until it holds.

// frameLog collects WebSocket frames and prints each as it arrives.
type frameLog struct {
	mu     sync.Mutex
	frames []string
	out    io.Writer
}

func (f *frameLog) add(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frames = append(f.frames, s)
	short := s
	if len(short) > 160 {
		short = short[:160] + "…"
	}
	fmt.Fprintf(f.out, "  ws ← %s\n", short)
}

func (f *frameLog) containing(sub string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, fr := range f.frames {
		if strings.Contains(fr, sub) {
			n++
		}
	}
	return n
}

func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func errText(err error, okText string) string {
	if err != nil {
		return err.Error()
	}
	return okText
}

// mailCount asks mailpit how many messages mention subject.
func (s *Stack) mailCount(ctx context.Context, subject string) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Info.MailUI+"/api/v1/messages", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var body struct {
		Messages []struct {
			Subject string `json:"Subject"`
		} `json:"messages"`
	}
	if json.NewDecoder(resp.Body).Decode(&body) != nil {
		return 0
	}
	n := 0
	for _, m := range body.Messages {
		if strings.Contains(m.Subject, subject) {
			n++
		}
	}
	return n
}
