package web

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foliodocs/folio/storage"
)

// metrics are web's own series; collab registers its own on the same registry.
type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	sseClients prometheus.Gauge
	pollers    prometheus.Gauge
	// sseReconnects counts reconnect events: a refusal answered 200 for
	// EventSource's sake is invisible in folio_http_requests_total.
	sseReconnects *prometheus.CounterVec
}

// storeStats is implemented by *storage.DB: its group-commit counters.
type storeStats interface{ Stats() storage.Stats }

// registerStoreMetrics exports the committer's counters when store has them.
func registerStoreMetrics(reg prometheus.Registerer, store Store) {
	st, ok := store.(storeStats)
	if !ok {
		return
	}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "folio_storage_transactions_total",
			Help: "Durable commits: journal writes (one fdatasync each) and bbolt transactions (two).",
		}, func() float64 { return float64(st.Stats().Transactions) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "folio_storage_checkpoints_total",
			Help: "bbolt transactions that applied journaled ops.",
		}, func() float64 { return float64(st.Stats().Checkpoints) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "folio_storage_checkpoint_seconds_total",
			Help: "Time spent in those transactions; the storage committer writes nothing else meanwhile.",
		}, func() float64 { return st.Stats().CheckpointTime.Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "folio_storage_checkpoint_failures_total",
			Help: "Checkpoints that failed (e.g. a full disk): acknowledged ops wait in the journal, and writes fail once it is full too.",
		}, func() float64 { return float64(st.Stats().CheckpointFailures) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "folio_storage_requests_total",
			Help: "Write requests committed; divided by transactions it is the group-commit factor.",
		}, func() float64 { return float64(st.Stats().Requests) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "folio_storage_slow_transactions_total",
			Help: "Write transactions that took 64 ms or more (a stalled disk holds every write meanwhile).",
		}, func() float64 { return float64(st.Stats().Slow) }),
	)
}

// registerConnMetrics exports the held connections and the refusals of
// Options.MaxConns.
func registerConnMetrics(reg prometheus.Registerer, c *connSlots) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "folio_held_connections",
			Help: "Connections held against --max-conns: WebSocket sessions, SSE streams and waiting long-polls.",
		}, func() float64 { return float64(c.held.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "folio_held_connections_refused_total",
			Help: "WebSockets, SSE streams and long-polls refused because --max-conns connections were held.",
		}, func() float64 { return float64(c.refused.Load()) }),
	)
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "folio_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern (streams and WebSockets excluded).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"route"}),
		sseClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "folio_sse_clients",
			Help: "Open Server-Sent Events streams.",
		}),
		pollers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "folio_longpoll_clients",
			Help: "Long-poll requests currently waiting for an op.",
		}),
		sseReconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_sse_reconnects_total",
			Help: "SSE streams refused (answered 200 so that EventSource retries) or ended with a reconnect event, by error code.",
		}, []string{"code"}),
	}
	reg.MustRegister(m.requests, m.duration, m.sseClients, m.pollers, m.sseReconnects)
	return m
}

// Route labels of requests the mux never sees.
const (
	// routeUnmatched: refused before routing (a Host, a page's token, a
	// cross-site write).
	routeUnmatched = "unmatched"
	// routePreflight: a CORS preflight, answered (or refused) by cors.
	routePreflight = "preflight"
)

func (m *metrics) observe(route string, status int, d time.Duration, streaming bool) {
	if route == "" {
		route = routeUnmatched
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	if !streaming {
		m.duration.WithLabelValues(route).Observe(d.Seconds())
	}
}
