package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

func raiseFileLimit(n uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if l.Cur >= n {
		return nil
	}
	if l.Max < n {
		return fmt.Errorf("need %d open files, hard limit is %d (raise it with `ulimit -Hn` as root)", n, l.Max)
	}
	l.Cur = n
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// recorder keeps publish times by update number and the latency of every received update.
type recorder struct {
	sent []atomic.Int64 // unix nanos by update number
	mu   sync.Mutex
	lat  []time.Duration
	got  atomic.Int64
	// lost counts connections the server closed, by reason, until closing is set.
	lost    map[string]int
	closing atomic.Bool
}

func (r *recorder) closed(err error) {
	if r.closing.Load() {
		return
	}
	reason := err.Error()
	if ce, ok := errors.AsType[*websocket.CloseError](err); ok {
		reason = fmt.Sprintf("close %d %s", ce.Code, ce.Text)
	}
	r.mu.Lock()
	if r.lost == nil {
		r.lost = map[string]int{}
	}
	r.lost[reason]++
	r.mu.Unlock()
}

// takeLost returns and clears the counts of connections closed by the server.
func (r *recorder) takeLost() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.lost
	r.lost = nil
	return l
}

var eventIDKey = []byte(`"event_id":`)

// received records every update in data (Centrifugo may put several pushes in one frame).
func (r *recorder) received(data []byte, at time.Time) {
	for {
		i := bytes.Index(data, eventIDKey)
		if i < 0 {
			return
		}
		data = bytes.TrimLeft(data[i+len(eventIDKey):], " ")
		rest, ok := bytes.CutPrefix(data, []byte(`"b-`))
		if !ok {
			continue
		}
		n, ok := atoi(rest)
		if !ok || n >= len(r.sent) {
			continue
		}
		if s := r.sent[n].Load(); s != 0 {
			r.got.Add(1)
			r.mu.Lock()
			r.lat = append(r.lat, at.Sub(time.Unix(0, s)))
			r.mu.Unlock()
		}
	}
}

// atoi reads the decimal number that b starts with, up to a '"' (no allocation, unlike
// strconv.Atoi(string(…))).
func atoi(b []byte) (int, bool) {
	n, i := 0, 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9' && i < 9; i++ {
		n = n*10 + int(b[i]-'0')
	}
	return n, i > 0 && i < len(b) && b[i] == '"'
}

// reset starts a phase and returns a function that waits (at most timeout) for want updates
// and returns the sorted latencies.
func (r *recorder) reset() {
	r.mu.Lock()
	r.lat = r.lat[:0]
	r.mu.Unlock()
	r.got.Store(0)
}

func (r *recorder) await(want int64, timeout time.Duration) []time.Duration {
	deadline := time.Now().Add(timeout)
	for r.got.Load() < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // duplicates would show up as more than want
	r.mu.Lock()
	lat := slices.Clone(r.lat)
	r.mu.Unlock()
	slices.Sort(lat)
	return lat
}

func waitHTTP(ctx context.Context, method, url string, hdr http.Header, want int) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader("{}"))
		req.Header = hdr
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after 30s", url)
}

// dialFunc opens one connection for user u, ready to receive updates.
type dialFunc func(ctx context.Context, u int) (*websocket.Conn, error)

// dialAll opens users*perUser connections with o.dialers dials at a time and starts a reader
// for each; the reader answers Centrifugo's `{}` pings and stops when the conn is closed.
func dialAll(ctx context.Context, o options, dial dialFunc, rec *recorder, wg *sync.WaitGroup) ([]*websocket.Conn, error) {
	conns := make([]*websocket.Conn, o.users*o.perUser)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var dwg sync.WaitGroup
	for range o.dialers {
		dwg.Add(1)
		go func() {
			defer dwg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) || ctx.Err() != nil {
					return
				}
				c, err := dial(ctx, i%o.users)
				if err != nil {
					mu.Lock()
					firstErr = cmp(firstErr, fmt.Errorf("dial %d: %w", i, err))
					mu.Unlock()
					return
				}
				conns[i] = c
				wg.Add(1)
				go func() {
					defer wg.Done()
					// One buffer per connection, reused: 100,000 frames a phase would otherwise
					// make the client collect garbage every few seconds, and its own GC pauses
					// show up in both systems' tails.
					var buf bytes.Buffer
					for {
						_, r, err := c.NextReader()
						if err == nil {
							buf.Reset()
							_, err = buf.ReadFrom(r)
						}
						if err != nil {
							rec.closed(err)
							return
						}
						at := time.Now()
						data := buf.Bytes()
						if isPing(data) {
							_ = c.WriteMessage(websocket.TextMessage, []byte("{}"))
						}
						rec.received(data, at)
					}
				}()
			}
		}()
	}
	dwg.Wait()
	if firstErr != nil {
		closeAll(conns)
		return nil, firstErr
	}
	return conns, nil
}

// isPing reports whether a frame holds a Centrifugo ping: an empty command `{}`, alone or as
// one line of a batch of newline-separated messages.
func isPing(data []byte) bool {
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if string(line) == "{}" {
			return true
		}
	}
	return false
}

func closeAll(conns []*websocket.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// publishFunc publishes update number n for user u.
type publishFunc func(ctx context.Context, n, u int) error

// drive publishes count updates at rate per second (bounded by 2x the nominal time), at most
// 64 in flight, round-robin over the users, and returns how many it sent and how long that
// took. The publish time of update n is taken just before its publish call.
func drive(ctx context.Context, publish publishFunc, rec *recorder, next *int, rate, count, users int) (int, time.Duration, error) {
	begin := time.Now()
	interval := time.Second / time.Duration(rate)
	end := begin.Add(2 * time.Duration(count) * interval)
	sent := 0
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	for sent < count && time.Now().Before(end) && ctx.Err() == nil && *next < len(rec.sent) {
		if d := time.Until(begin.Add(time.Duration(sent) * interval)); d > 0 {
			time.Sleep(d) // open loop: late sends catch up instead of being skipped
		}
		n := *next
		*next++
		sem <- struct{}{}
		wg.Add(1)
		rec.sent[n].Store(time.Now().UnixNano())
		go func() {
			defer func() { <-sem; wg.Done() }()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := publish(cctx, n, n%users); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		}()
		sent++
	}
	elapsed := time.Since(begin)
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return sent, elapsed, fmt.Errorf("%d publishes failed, first: %v", f, firstErr.Load())
	}
	return sent, elapsed, nil
}
