package collab

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the hub's Prometheus instruments. A nil *Metrics records nothing.
type Metrics struct {
	connections prometheus.Gauge
	openDocs    prometheus.Gauge
	opsApplied  prometheus.Counter
	opsRejected *prometheus.CounterVec
	commitTime  prometheus.Histogram
	submitTime  prometheus.Histogram
	slowDrops   prometheus.Counter
}

// NewMetrics creates the instruments and registers them with reg (when not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := prometheus.ExponentialBuckets(0.0005, 2, 14) // 0.5 ms .. 4 s
	m := &Metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "folio_ws_connections", Help: "Open WebSocket sessions."}),
		openDocs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "folio_open_documents", Help: "Documents loaded in memory (rooms)."}),
		opsApplied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "folio_ops_applied_total", Help: "Ops committed and applied."}),
		opsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_ops_rejected_total", Help: "WebSocket op frames and REST ops refused or failed, by error code: REST bodies that do not decode included, WebSocket frames only when their seq can be read (other bad frames are not known to be ops)."}, []string{"reason"}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "folio_commit_seconds", Help: "Duration of one durable commit of a batch of ops.", Buckets: buckets}),
		submitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "folio_submit_seconds", Help: "Time from receiving an op to applying it after its commit.", Buckets: buckets}),
		slowDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "folio_slow_consumer_disconnects_total", Help: "Sessions cut because their send queue was full."}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.openDocs, m.opsApplied, m.opsRejected,
			m.commitTime, m.submitTime, m.slowDrops)
	}
	return m
}

func (m *Metrics) connOpened() {
	if m != nil {
		m.connections.Inc()
	}
}

func (m *Metrics) connClosed() {
	if m != nil {
		m.connections.Dec()
	}
}

func (m *Metrics) docOpened() {
	if m != nil {
		m.openDocs.Inc()
	}
}

func (m *Metrics) docClosed() {
	if m != nil {
		m.openDocs.Dec()
	}
}

func (m *Metrics) opApplied(submit time.Duration) {
	if m != nil {
		m.opsApplied.Inc()
		m.submitTime.Observe(submit.Seconds())
	}
}

func (m *Metrics) opRejected(code Code) {
	if m != nil {
		m.opsRejected.WithLabelValues(string(code)).Inc()
	}
}

func (m *Metrics) commitTook(d time.Duration) {
	if m != nil {
		m.commitTime.Observe(d.Seconds())
	}
}

func (m *Metrics) slowConsumer() {
	if m != nil {
		m.slowDrops.Inc()
	}
}
