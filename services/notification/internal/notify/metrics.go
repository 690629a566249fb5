package notify

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts deliveries per channel and what happened to them.
type Metrics struct {
	deliveries *prometheus.CounterVec
}

// NewMetrics registers the delivery counters in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "taskflow_notification_deliveries_total",
		Help: "Reminder channels by what happened: attempted (a send was made), delivered, scheduled (a retry after a transient failure), gave_up (still failing after NOTIFY_RETRY_FOR), failed (permanent failure), skipped (stale or turned off), held (quiet hours).",
	}, []string{"channel", "event"})}
	reg.MustRegister(m.deliveries)
	return m
}

func (m *Metrics) add(c Channel, event string) {
	if m != nil {
		m.deliveries.WithLabelValues(string(c), event).Inc()
	}
}

// countPlans counts the channels a batch decided on arrival without sending (failed,
// skipped, held); a redelivered reminder counts again.
func (h *Handler) countPlans(reqs []Request) {
	for _, r := range reqs {
		for _, p := range r.Plans {
			switch p.Status {
			case Failed:
				h.metrics.add(p.Channel, "failed")
			case Skipped:
				h.metrics.add(p.Channel, "skipped")
			case Held:
				h.metrics.add(p.Channel, "held")
			}
		}
	}
}

// countOutcomes counts attempts and what came of them.
func (h *Handler) countOutcomes(outcomes []Outcome) {
	for _, o := range outcomes {
		if o.Attempted {
			h.metrics.add(o.Channel, "attempted")
		}
		switch {
		case o.Status == Delivered:
			h.metrics.add(o.Channel, "delivered")
		case o.Status == Retrying:
			h.metrics.add(o.Channel, "scheduled")
		case o.GaveUp:
			h.metrics.add(o.Channel, "gave_up")
		case o.Status == Failed:
			h.metrics.add(o.Channel, "failed")
		case o.Status == Skipped:
			h.metrics.add(o.Channel, "skipped")
		case o.Status == Held:
			h.metrics.add(o.Channel, "held")
		}
	}
}
