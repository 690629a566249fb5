// Command bench measures the websocket service's fan-out and compares it with Centrifugo in
// the same run: it starts the service binary, opens many WebSocket connections on loopback,
// drives updates over gRPC OnTopicEvent (as daprd would) at fixed rates and reports
// publish-to-frame latency, frames/s and resident memory per connection; then the same
// service end to end (publisher daprd -> Kafka -> daprd -> service); then Centrifugo with the
// same users, connections and rates, published to over its HTTP API. It prints one Markdown
// table. Run it through `make bench-ws`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const secret = "bench-secret-bench-secret-bench-secret"

type options struct {
	bin, centrifugo, daprd  string
	users, perUser, dialers int
	rates, e2eRates         []int
	duration                time.Duration
	grpcAddr, httpAddr      string
	centrifugoAddr          string
	daprPort                int
}

func parseRates(s string) ([]int, error) {
	var rates []int
	for _, r := range strings.Split(s, ",") {
		if strings.TrimSpace(r) == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 || n > 100000 {
			return nil, fmt.Errorf("bad rate %q", r)
		}
		rates = append(rates, n)
	}
	return rates, nil
}

func main() {
	var o options
	var rates, e2eRates string
	flag.StringVar(&o.bin, "bin", "", "path of the built websocket service binary (required)")
	flag.StringVar(&o.centrifugo, "centrifugo", "", "path of the centrifugo binary (empty: skip Centrifugo)")
	flag.StringVar(&o.daprd, "daprd", "", "path of the daprd binary (empty: skip the daprd + Kafka run)")
	flag.IntVar(&o.users, "users", 1000, "distinct users")
	flag.IntVar(&o.perUser, "per-user", 10, "connections per user")
	flag.StringVar(&rates, "rates", "100,500,1000", "comma-separated update rates per second, one phase each")
	flag.StringVar(&e2eRates, "e2e-rates", "100,1000", "update rates of the daprd + Kafka run")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each phase")
	flag.StringVar(&o.grpcAddr, "grpc-addr", "127.0.0.1:50101", "service gRPC address")
	flag.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:18080", "service HTTP address")
	flag.StringVar(&o.centrifugoAddr, "centrifugo-addr", "127.0.0.1:18000", "Centrifugo HTTP address")
	flag.IntVar(&o.daprPort, "dapr-port", 18500, "first of the daprd ports (uses +0..3 and +10..13)")
	flag.IntVar(&o.dialers, "dialers", 64, "concurrent dials")
	flag.Parse()
	var err error
	if o.rates, err = parseRates(rates); err == nil {
		o.e2eRates, err = parseRates(e2eRates)
	}
	if err != nil || o.bin == "" || o.duration <= 0 || o.duration > 5*time.Minute || o.users <= 0 || o.perUser <= 0 || o.users*o.perUser > 18000 {
		fmt.Fprintln(os.Stderr, "need -bin, valid rates, a duration up to 5m and at most 18000 connections", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	err = benchmark(ctx, o)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// row is one line of the table.
type row struct {
	system, rate, sent, delivered, fps, p50, p99, max, kib, other, cpu string
	// numbers for the ratio rows
	nfps, np50, np99, nkib, ncpu float64
}

type bench struct {
	o    options
	rec  *recorder
	next int
	rows []row
}

func benchmark(ctx context.Context, o options) error {
	conns := o.users * o.perUser
	if err := raiseFileLimit(uint64(conns + 1024)); err != nil {
		return fmt.Errorf("raise the open-file limit: %w", err)
	}
	dir, err := os.MkdirTemp("", "bench-ws-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	secs := int(o.duration/time.Second) + 1
	total := 10 * o.users
	for _, r := range o.rates {
		total += 2 * r * secs
	}
	for _, r := range o.e2eRates {
		total += r * secs
	}
	b := &bench{o: o, rec: &recorder{sent: make([]atomic.Int64, total)}}
	fmt.Printf("%d connections (%d users x %d), phases of %v; nproc %d, %s\n", conns, o.users, o.perUser, o.duration, runtime.NumCPU(), runtime.Version())

	s, err := startService(ctx, o)
	if err != nil {
		return err
	}
	defer s.stop()
	if err := b.system(ctx, "websocket-service (gRPC)", s.pid(), s.dial, s.publish, o.rates, func(ctx context.Context) error {
		if o.daprd == "" {
			return nil
		}
		p, err := startPipeline(ctx, o, dir)
		if err != nil {
			return fmt.Errorf("start daprd + kafka: %w", err)
		}
		defer p.stop()
		return b.phases(ctx, "websocket-service via daprd + Kafka", append([]int{s.pid()}, p.pids()...), p.publish, o.e2eRates, 0)
	}); err != nil {
		return err
	}
	s.stop()

	if o.centrifugo != "" {
		c, err := startCentrifugo(ctx, o, dir)
		if err != nil {
			return err
		}
		defer c.stop()
		if err := b.system(ctx, "Centrifugo v6.9.1 (HTTP API)", c.pid(), c.dial, c.publish, o.rates, nil); err != nil {
			return err
		}
		c.stop()
	}
	b.print()
	return nil
}

// system connects every client to one server process, measures its memory per connection,
// runs the rate phases, then more (with the same connections) before closing them.
func (b *bench) system(ctx context.Context, name string, pid int, dial dialFunc, publish publishFunc, rates []int, more func(context.Context) error) error {
	o := b.o
	time.Sleep(500 * time.Millisecond)
	rss0 := rssKiB(pid)
	start := time.Now()
	var wg sync.WaitGroup
	conns, err := dialAll(ctx, o, dial, b.rec, &wg)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer func() {
		b.rec.closing.Store(true)
		closeAll(conns)
		wg.Wait()
		b.rec.closing.Store(false)
	}()
	took := time.Since(start)
	time.Sleep(2 * time.Second)
	rss1 := rssKiB(pid)
	kib := float64(rss1-rss0) / float64(len(conns))
	fmt.Printf("%s: connected in %v; RSS %d MiB idle, %d MiB connected: %.1f KiB per connection\n",
		name, took.Round(time.Millisecond), rss0>>10, rss1>>10, kib)
	// Warm-up (not reported): every connection gets its first updates.
	b.rec.reset()
	if _, _, err := drive(ctx, publish, b.rec, &b.next, 2*o.users, 2*o.users, o.users); err != nil {
		return fmt.Errorf("%s warm-up: %w", name, err)
	}
	b.rec.await(int64(2*o.users*o.perUser), 10*time.Second)
	if err := b.phases(ctx, name, []int{pid}, publish, rates, kib); err != nil {
		return err
	}
	if more != nil {
		if err := more(ctx); err != nil {
			return err
		}
	}
	if lost := b.rec.takeLost(); len(lost) > 0 {
		fmt.Printf("%s: connections closed by the server during the run: %v\n", name, lost)
	}
	return nil
}

func (b *bench) phases(ctx context.Context, name string, pids []int, publish publishFunc, rates []int, kib float64) error {
	o := b.o
	if kib == 0 { // a run on already connected clients: warm the new path up first
		b.rec.reset()
		if _, _, err := drive(ctx, publish, b.rec, &b.next, 500, o.users, o.users); err != nil {
			return fmt.Errorf("%s warm-up: %w", name, err)
		}
		b.rec.await(int64(o.users*o.perUser), 30*time.Second)
	}
	for _, rate := range rates {
		b.rec.reset()
		cpu0 := sampleCPU(pids)
		n, elapsed, err := drive(ctx, publish, b.rec, &b.next, rate, rate*int(o.duration/time.Second), o.users)
		if err != nil {
			return fmt.Errorf("%s at %d/s: %w", name, rate, err)
		}
		want := int64(n * o.perUser)
		lat := b.rec.await(want, 10*time.Second)
		cpu1 := sampleCPU(pids)
		other := otherCPU(cpu0, cpu1)
		pct := func(p float64) time.Duration {
			if len(lat) == 0 {
				return 0
			}
			return lat[min(len(lat)-1, int(float64(len(lat))*p))]
		}
		got := b.rec.got.Load()
		r := row{system: name, rate: strconv.Itoa(rate), sent: fmt.Sprintf("%d in %v", n, elapsed.Round(10*time.Millisecond)),
			delivered: fmt.Sprintf("%d/%d", got, want), nfps: float64(got) / elapsed.Seconds(),
			np50: float64(pct(0.50)), np99: float64(pct(0.99)), nkib: kib,
			p50: dur(pct(0.50)), p99: dur(pct(0.99)), max: dur(pct(1)), kib: "–",
			other: fmt.Sprintf("%.0f%%", 100*other), cpu: fmt.Sprintf("%.2f", serverCores(cpu0, cpu1, runtime.NumCPU()))}
		r.fps = fmt.Sprintf("%.0f", r.nfps)
		r.ncpu = serverCores(cpu0, cpu1, runtime.NumCPU())
		if kib != 0 {
			r.kib = fmt.Sprintf("%.1f", kib)
		}
		fmt.Fprintf(os.Stderr, "  %s %d/s: p50 %s p99 %s, %s delivered, RSS %d MiB, other CPU %s\n", name, rate, r.p50, r.p99, r.delivered, rssKiB(pids[0])>>10, r.other)
		b.rows = append(b.rows, r)
	}
	return nil
}

func dur(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(10 * time.Microsecond).String()
	}
}

// print writes the table: for each rate the service, Centrifugo and their ratio, then the
// daprd + Kafka rows.
func (b *bench) print() {
	ratio := func(a, c float64) string {
		if c == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", a/c)
	}
	fmt.Printf("\n| system | updates/s | updates sent | frames delivered/expected | frames/s | p50 | p99 | max | RSS KiB/conn | server CPU (cores) | other CPU |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	line := func(r row) {
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.system, r.rate, r.sent, r.delivered, r.fps, r.p50, r.p99, r.max, r.kib, r.cpu, r.other)
	}
	byRate := map[string][]row{}
	var order []string
	var e2e []row
	for _, r := range b.rows {
		if r.nkib == 0 {
			e2e = append(e2e, r)
			continue
		}
		if byRate[r.rate] == nil {
			order = append(order, r.rate)
		}
		byRate[r.rate] = append(byRate[r.rate], r)
	}
	for _, rate := range order {
		rs := byRate[rate]
		for _, r := range rs {
			line(r)
		}
		if len(rs) == 2 {
			a, c := rs[0], rs[1]
			fmt.Printf("| **ours / Centrifugo** | %s | | | %s | %s | %s | | %s | %s | |\n", rate, ratio(a.nfps, c.nfps), ratio(a.np50, c.np50), ratio(a.np99, c.np99), ratio(a.nkib, c.nkib), ratio(a.ncpu, c.ncpu))
		}
	}
	for _, r := range e2e {
		line(r)
	}
}
