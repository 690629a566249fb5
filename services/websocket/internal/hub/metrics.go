package hub

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the hub's Prometheus collectors.
type Metrics struct {
	Connections     prometheus.Gauge
	FramesSent      prometheus.Counter
	SlowDisconnects prometheus.Counter
	Rejected        *prometheus.CounterVec
	Resume          *prometheus.CounterVec
	Updates         *prometheus.CounterVec
	HistoryBytes    prometheus.Gauge
	HistoryEvicted  *prometheus.CounterVec
	// ResumeWindowStart is, per partition, the first offset this process handled: a resume
	// from before it gets resync (a replica started with initialOffset newest).
	ResumeWindowStart *prometheus.GaugeVec
}

// NewMetrics creates the collectors and registers them on reg when it is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "taskflow_ws_connections", Help: "Open WebSocket connections."}),
		FramesSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "taskflow_ws_frames_sent_total", Help: "Frames written to WebSocket clients."}),
		SlowDisconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "taskflow_ws_slow_disconnects_total", Help: "Clients closed with 4008 because their send queue was full."}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskflow_ws_rejected_total", Help: "Connections refused, by reason (auth, query_token, origin, user_limit, process_limit)."}, []string{"reason"}),
		Resume: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskflow_ws_resume_total", Help: "Reconnects with since/epoch, by result (hit: missed frames replayed; miss: resync sent)."}, []string{"result"}),
		Updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskflow_ws_updates_total", Help: "Task updates handled, by result (delivered, no_client, duplicate)."}, []string{"result"}),
		HistoryBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "taskflow_ws_history_bytes", Help: "Bytes of resume history held, all users (payloads plus per-entry overhead)."}),
		HistoryEvicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskflow_ws_history_evicted_total", Help: "Updates dropped from resume history before their count or age limit, by budget (user_bytes, total_bytes, total_count) or partition_change."}, []string{"reason"}),
		ResumeWindowStart: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taskflow_ws_resume_window_start_offset", Help: "First offset of each partition handled by this process; resume positions before it get resync."}, []string{"partition"}),
	}
	if reg != nil {
		reg.MustRegister(m.Connections, m.FramesSent, m.SlowDisconnects, m.Rejected, m.Resume, m.Updates, m.HistoryBytes, m.HistoryEvicted, m.ResumeWindowStart)
	}
	return m
}
