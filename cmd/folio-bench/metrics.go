package main

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serverMetrics are the counters folio-bench reads from the server's
// /metrics (Prometheus text format) around a window.
type serverMetrics struct {
	ok                     bool
	commitSum, commitCount float64 // folio_commit_seconds: one durable commit of a batch.
	commitFast             float64 // Its bucket le="0.064": commits within 64 ms.
	slowTxns               float64 // folio_storage_slow_transactions_total.
	submitSum, submitCount float64 // folio_submit_seconds: op received → applied after commit.
	applied                float64 // folio_ops_applied_total.
	slow                   float64 // folio_slow_consumer_disconnects_total.
	mallocs, allocBytes    float64 // go_memstats_mallocs_total, go_memstats_alloc_bytes_total.
	txns, txnReqs          float64 // folio_storage_transactions_total, folio_storage_requests_total.
	checkpoints, ckSeconds float64 // folio_storage_checkpoints_total, folio_storage_checkpoint_seconds_total.
}

func (t *target) metrics(ctx context.Context) serverMetrics {
	var m serverMetrics
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.baseURL+"/metrics", nil)
	if err != nil {
		return m
	}
	resp, err := t.do(req)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m
	}
	fields := map[string]*float64{
		"folio_commit_seconds_sum": &m.commitSum, "folio_commit_seconds_count": &m.commitCount,
		"folio_submit_seconds_sum": &m.submitSum, "folio_submit_seconds_count": &m.submitCount,
		"folio_ops_applied_total": &m.applied, "folio_slow_consumer_disconnects_total": &m.slow,
		"go_memstats_mallocs_total": &m.mallocs, "go_memstats_alloc_bytes_total": &m.allocBytes,
		"folio_storage_transactions_total": &m.txns, "folio_storage_requests_total": &m.txnReqs,
		"folio_storage_checkpoints_total": &m.checkpoints, "folio_storage_checkpoint_seconds_total": &m.ckSeconds,
		`folio_commit_seconds_bucket{le="0.064"}`: &m.commitFast, "folio_storage_slow_transactions_total": &m.slowTxns,
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if p := fields[name]; ok && p != nil {
			if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
				*p = v
				m.ok = true
			}
		}
	}
	return m
}

// fill writes what happened between m0 and m into rep.
func (m serverMetrics) fill(rep *Report, m0 serverMetrics) {
	if !m.ok || !m0.ok {
		return
	}
	if n := m.commitCount - m0.commitCount; n > 0 {
		rep.Commits = int64(n)
		rep.CommitMeanMS = 1000 * (m.commitSum - m0.commitSum) / n
		rep.OpsPerCommit = (m.applied - m0.applied) / n
		rep.SlowCommits = int64(n - (m.commitFast - m0.commitFast))
	}
	if n := m.submitCount - m0.submitCount; n > 0 {
		rep.SubmitMeanMS = 1000 * (m.submitSum - m0.submitSum) / n
	}
	if n := m.txns - m0.txns; n > 0 {
		rep.StorageTxns = int64(n)
		rep.RoomCommitsPerTxn = (m.txnReqs - m0.txnReqs) / n
		rep.SlowTxns = int64(m.slowTxns - m0.slowTxns)
		rep.Checkpoints = int64(m.checkpoints - m0.checkpoints)
		if rep.Checkpoints > 0 {
			rep.CheckpointMeanMS = 1000 * (m.ckSeconds - m0.ckSeconds) / float64(rep.Checkpoints)
		}
	}
	rep.SlowConsumers = int64(m.slow - m0.slow)
	if n := m.applied - m0.applied; n > 0 && m.mallocs > 0 {
		rep.AllocsPerOp = (m.mallocs - m0.mallocs) / n
		rep.AllocBytesPerOp = (m.allocBytes - m0.allocBytes) / n
	}
}

// counters lists every counter of m.
func (m *serverMetrics) counters() []*float64 {
	return []*float64{&m.commitSum, &m.commitCount, &m.commitFast, &m.slowTxns, &m.submitSum, &m.submitCount,
		&m.applied, &m.slow, &m.mallocs, &m.allocBytes, &m.txns, &m.txnReqs, &m.checkpoints, &m.ckSeconds}
}

// since returns the increments from prev to m. When the server restarted in
// between (a counter went back), everything m counts is new.
func (m serverMetrics) since(prev serverMetrics) serverMetrics {
	d, p := m, prev.counters()
	for i, c := range d.counters() {
		if *c < *p[i] {
			return m
		}
		*c -= *p[i]
	}
	return d
}

// plus adds d's counters to m's.
func (m serverMetrics) plus(d serverMetrics) serverMetrics {
	dc := d.counters()
	for i, c := range m.counters() {
		*c += *dc[i]
	}
	m.ok = m.ok || d.ok
	return m
}

// metricsWatch adds up a --url server's counters over a window from samples
// taken every second, so that a restart of the server (its counters back at
// zero) loses the window at most what it counted in the second before it.
type metricsWatch struct {
	done   chan struct{}
	result chan serverMetrics
}

func (t *target) watchMetrics(ctx context.Context, first serverMetrics, every time.Duration) *metricsWatch {
	w := &metricsWatch{done: make(chan struct{}), result: make(chan serverMetrics, 1)}
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		prev, sum := first, serverMetrics{ok: first.ok}
		sample := func() {
			if cur := t.metrics(ctx); cur.ok { // Not while the server is down.
				if prev.ok {
					sum = sum.plus(cur.since(prev))
				}
				prev, sum.ok = cur, true
			}
		}
		for {
			select {
			case <-tick.C:
				sample()
			case <-w.done:
				sample()
				w.result <- sum
				return
			}
		}
	}()
	return w
}

// stop takes the last sample and returns the sum of the increments.
func (w *metricsWatch) stop() serverMetrics {
	close(w.done)
	return <-w.result
}
