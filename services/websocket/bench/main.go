// Command bench measures the websocket service's fan-out: it starts the service binary,
// opens many WebSocket connections on loopback, drives updates over gRPC OnTopicEvent (as
// daprd would) at fixed rates and reports publish-to-frame latency, frames/s and the
// service's resident memory per connection. Run it through `make bench-ws`.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	runtimev1 "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/taskflow/taskflow-events/gen/taskflow/events/v1"
)

const secret = "bench-secret-bench-secret-bench-secret"

type options struct {
	bin       string
	users     int
	perUser   int
	rates     []int
	duration  time.Duration
	grpcAddr  string
	httpAddr  string
	dialers   int
	warmup    time.Duration
	maxFrames int
}

func main() {
	var o options
	var rates string
	flag.StringVar(&o.bin, "bin", "", "path of the built websocket service binary (required)")
	flag.IntVar(&o.users, "users", 1000, "distinct users")
	flag.IntVar(&o.perUser, "per-user", 10, "connections per user")
	flag.StringVar(&rates, "rates", "100,500,1000", "comma-separated update rates per second, one phase each")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each phase")
	flag.StringVar(&o.grpcAddr, "grpc-addr", "127.0.0.1:50101", "service gRPC address")
	flag.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:18080", "service HTTP address")
	flag.IntVar(&o.dialers, "dialers", 64, "concurrent dials")
	flag.Parse()
	for _, r := range strings.Split(rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 || n > 100000 {
			fmt.Fprintf(os.Stderr, "bad rate %q\n", r)
			os.Exit(2)
		}
		o.rates = append(o.rates, n)
	}
	if o.bin == "" || o.duration <= 0 || o.duration > 5*time.Minute || o.users*o.perUser > 60000 {
		fmt.Fprintln(os.Stderr, "need -bin, a duration up to 5m and at most 60000 connections")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if err := benchmark(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func raiseFileLimit(n uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if l.Cur >= n {
		return nil
	}
	if l.Max < n {
		l.Max = n // needs CAP_SYS_RESOURCE
	}
	l.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("need %d open files (hard limit too low: raise it with `ulimit -Hn` as root): %w", n, err)
	}
	return nil
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

// recorder keeps publish times by update number and the latency of every received frame.
type recorder struct {
	sent []atomic.Int64 // unix nanos by update number
	mu   sync.Mutex
	lat  []time.Duration
	got  atomic.Int64
}

func (r *recorder) received(data []byte, at time.Time) {
	i := bytes.Index(data, []byte(`"event_id":"b-`))
	if i < 0 {
		return
	}
	rest := data[i+len(`"event_id":"b-`):]
	j := bytes.IndexByte(rest, '"')
	n, err := strconv.Atoi(string(rest[:max(j, 0)]))
	if err != nil || n < 0 || n >= len(r.sent) {
		return
	}
	if s := r.sent[n].Load(); s != 0 {
		r.got.Add(1)
		r.mu.Lock()
		r.lat = append(r.lat, at.Sub(time.Unix(0, s)))
		r.mu.Unlock()
	}
}

func benchmark(ctx context.Context, o options) error {
	conns := o.users * o.perUser
	if err := raiseFileLimit(uint64(conns + 1024)); err != nil {
		return fmt.Errorf("raise the open-file limit: %w", err)
	}
	cmd := exec.CommandContext(ctx, o.bin)
	cmd.Env = append(os.Environ(), "GRPC_ADDR="+o.grpcAddr, "HTTP_ADDR="+o.httpAddr, "METRICS_ADDR=off",
		"LOG_LEVEL=warn", "JWT_HS256_SECRET="+secret, "MAX_CONNS="+strconv.Itoa(conns+100),
		"MAX_CONNS_PER_USER="+strconv.Itoa(o.perUser+5))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start service: %w", err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	if err := waitReady(ctx, "http://"+o.httpAddr+"/readyz"); err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond)
	rss0 := rssKiB(cmd.Process.Pid)

	total := 0
	for _, r := range o.rates {
		total += r * int(o.duration/time.Second+1)
	}
	total += 2 * o.users
	rec := &recorder{sent: make([]atomic.Int64, total+1)}
	start := time.Now()
	var wg sync.WaitGroup
	clients, err := dialAll(ctx, o, rec, &wg)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
		wg.Wait()
	}()
	fmt.Printf("connected %d clients (%d users x %d) in %v\n", len(clients), o.users, o.perUser, time.Since(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	rss1 := rssKiB(cmd.Process.Pid)
	fmt.Printf("service RSS: %d MiB idle, %d MiB with %d connections: %.1f KiB per connection\n",
		rss0>>10, rss1>>10, len(clients), float64(rss1-rss0)/float64(len(clients)))

	gc, err := grpc.NewClient(o.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer gc.Close()
	cb := runtimev1.NewAppCallbackClient(gc)

	next := 0
	// Warm-up (not reported): every connection's writer sends its first frames.
	if _, _, err := drive(ctx, cb, rec, &next, 2*o.users, o.users*2, o); err != nil {
		return err
	}
	time.Sleep(time.Second)
	fmt.Printf("\n| target updates/s | updates sent | frames delivered/expected | frames/s | p50 | p99 | max | service RSS |\n|---|---|---|---|---|---|---|---|\n")
	for _, rate := range o.rates {
		rec.mu.Lock()
		rec.lat = rec.lat[:0]
		rec.mu.Unlock()
		rec.got.Store(0)
		n, elapsed, err := drive(ctx, cb, rec, &next, rate, rate*int(o.duration/time.Second), o)
		if err != nil {
			return err
		}
		time.Sleep(2 * time.Second) // stragglers
		rec.mu.Lock()
		lat := slices.Clone(rec.lat)
		rec.mu.Unlock()
		slices.Sort(lat)
		want := n * o.perUser
		pct := func(p float64) time.Duration {
			if len(lat) == 0 {
				return 0
			}
			return lat[min(len(lat)-1, int(float64(len(lat))*p))]
		}
		fmt.Printf("| %d | %d in %v | %d/%d | %.0f | %v | %v | %v | %d MiB |\n", rate, n, elapsed.Round(10*time.Millisecond),
			rec.got.Load(), want, float64(rec.got.Load())/elapsed.Seconds(),
			pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond),
			pct(1).Round(10*time.Microsecond), rssKiB(cmd.Process.Pid)>>10)
	}
	return nil
}

func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("service not ready after 30s")
}

func dialAll(ctx context.Context, o options, rec *recorder, wg *sync.WaitGroup) ([]*websocket.Conn, error) {
	tokens := make([]string, o.users)
	for u := range tokens {
		t, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": fmt.Sprintf("user-%d", u), "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString([]byte(secret))
		if err != nil {
			return nil, err
		}
		tokens[u] = t
	}
	d := websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 256, HandshakeTimeout: 30 * time.Second}
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
				c, _, err := d.DialContext(ctx, "ws://"+o.httpAddr+"/ws", http.Header{"Authorization": {"Bearer " + tokens[i%o.users]}})
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, fmt.Errorf("dial %d: %w", i, err))
					mu.Unlock()
					return
				}
				conns[i] = c
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						_, data, err := c.ReadMessage()
						if err != nil {
							return
						}
						rec.received(data, time.Now())
					}
				}()
			}
		}()
	}
	dwg.Wait()
	if firstErr != nil {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		return nil, firstErr
	}
	return conns, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// drive sends count updates at rate per second (bounded by 2x the nominal time),
// round-robin over the users, and returns how many it sent and how long that took.
func drive(ctx context.Context, cb runtimev1.AppCallbackClient, rec *recorder, next *int, rate, count int, o options) (int, time.Duration, error) {
	begin := time.Now()
	interval := time.Second / time.Duration(rate)
	end := begin.Add(2 * time.Duration(count) * interval)
	sent := 0
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for sent < count && time.Now().Before(end) && ctx.Err() == nil && *next < len(rec.sent) {
		if d := time.Until(begin.Add(time.Duration(sent) * interval)); d > 0 {
			time.Sleep(d) // open loop: late sends catch up instead of being skipped
		}
		i := *next
		*next++
		u := &eventsv1.TaskUpdate{EventId: "b-" + strconv.Itoa(i), UserId: fmt.Sprintf("user-%d", i%o.users),
			Update: &eventsv1.TaskUpdate_Notification{Notification: &eventsv1.Notification{Id: "n", Title: "Task due soon", Body: "Water the plants"}}}
		data, err := proto.Marshal(u)
		if err != nil {
			return sent, 0, err
		}
		sem <- struct{}{}
		wg.Add(1)
		rec.sent[i].Store(time.Now().UnixNano())
		go func() {
			defer func() { <-sem; wg.Done() }()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			resp, err := cb.OnTopicEvent(cctx, &runtimev1.TopicEventRequest{
				Id: u.GetEventId(), Source: "bench", Type: "taskflow.update.notification.v1", SpecVersion: "1.0",
				DataContentType: "application/octet-stream", Data: data, Topic: "task-updates", PubsubName: "taskflow-pubsub",
			})
			if err != nil || resp.GetStatus() != runtimev1.TopicEventResponse_SUCCESS {
				failed.Add(1)
			}
		}()
		sent++
	}
	elapsed := time.Since(begin)
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return sent, elapsed, fmt.Errorf("%d OnTopicEvent calls failed", f)
	}
	return sent, elapsed, nil
}
