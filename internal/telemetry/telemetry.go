// Package telemetry builds the JSON logger and the Prometheus registry every service uses.
package telemetry

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewLogger returns a JSON slog logger at level ("debug", "info", "warn", "error") whose
// every line carries the service (its Dapr app-id) and the build version.
func NewLogger(w io.Writer, level, service, version string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
		return nil, fmt.Errorf("parse log level %q: %w", level, err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})).With("service", service, "version", version), nil
}

// Metrics is a service's Prometheus registry with the event metrics every consumer exports.
type Metrics struct {
	Registry *prometheus.Registry
	events   *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	mu    sync.Mutex
	cache map[[2]string]observer
}

type observer struct {
	count prometheus.Counter
	hist  prometheus.Observer
}

// NewMetrics returns a registry with Go and process collectors and the event metrics.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskflow_events_total",
			Help: "Events handled, by topic and status (success, retry, drop).",
		}, []string{"topic", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "taskflow_event_handler_seconds",
			Help:    "Time from receiving an event to answering daprd, by topic and status.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14),
		}, []string{"topic", "status"}),
		cache: make(map[[2]string]observer),
	}
	reg.MustRegister(m.events, m.latency)
	return m
}

// ObserveEvent counts one handled event and its handling time.
func (m *Metrics) ObserveEvent(topic, status string, d time.Duration) {
	key := [2]string{topic, status}
	m.mu.Lock()
	o, ok := m.cache[key]
	if !ok {
		o = observer{count: m.events.WithLabelValues(topic, status), hist: m.latency.WithLabelValues(topic, status)}
		m.cache[key] = o
	}
	m.mu.Unlock()
	o.count.Inc()
	o.hist.Observe(d.Seconds())
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
