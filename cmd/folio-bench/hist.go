package main

import (
	"slices"
	"time"
)

// histogram keeps every latency sample so that percentiles are exact, not
// bucketed. A run is bounded in time and rate, so the sample count is bounded
// too (a 60 s run at 30,000 samples/s is 1.8 M samples, 14 MB); past maxSamples
// it keeps a uniform reservoir instead, and says so in the summary.
//
// A histogram is not safe for concurrent use: each editor owns one and the run
// merges them when it ends.
type histogram struct {
	samples []time.Duration
	seen    int    // Samples offered, including those the reservoir dropped.
	rng     uint64 // xorshift state for the reservoir.
}

const maxSamples = 4 << 20

func (h *histogram) add(d time.Duration) {
	h.seen++
	if len(h.samples) < maxSamples {
		h.samples = append(h.samples, d)
		return
	}
	if h.rng == 0 {
		h.rng = 0x9e3779b97f4a7c15
	}
	h.rng ^= h.rng << 13
	h.rng ^= h.rng >> 7
	h.rng ^= h.rng << 17
	if i := h.rng % uint64(h.seen); i < maxSamples {
		h.samples[i] = d
	}
}

// merge adds o's samples to h.
func (h *histogram) merge(o *histogram) {
	for _, d := range o.samples {
		h.add(d)
	}
	h.seen += o.seen - len(o.samples)
}

// Summary is a latency distribution in milliseconds.
type Summary struct {
	Count   int     `json:"count"`
	P50     float64 `json:"p50_ms"`
	P90     float64 `json:"p90_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
	Mean    float64 `json:"mean_ms"`
	Sampled bool    `json:"sampled,omitempty"` // True when a reservoir was used.
}

// summary sorts the samples (in place) and returns exact nearest-rank
// percentiles.
func (h *histogram) summary() Summary {
	n := len(h.samples)
	if n == 0 {
		return Summary{}
	}
	slices.Sort(h.samples)
	var sum time.Duration
	for _, d := range h.samples {
		sum += d
	}
	return Summary{
		Count:   h.seen,
		P50:     ms(rank(h.samples, 50)),
		P90:     ms(rank(h.samples, 90)),
		P99:     ms(rank(h.samples, 99)),
		Max:     ms(h.samples[n-1]),
		Mean:    ms(sum / time.Duration(n)),
		Sampled: h.seen > n,
	}
}

// rank is the nearest-rank percentile p of sorted samples: the smallest
// sample with at least p% of the samples at or below it.
func rank(sorted []time.Duration, p int) time.Duration {
	i := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	if i < 1 {
		i = 1
	}
	return sorted[i-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
