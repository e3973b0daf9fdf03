package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestMetricsAcrossRestart: a --url server that restarts in a window (its
// counters back at zero, and down for a while) still has the window's
// increments counted: those before the restart and those after it.
func TestMetricsAcrossRestart(t *testing.T) {
	var mu sync.Mutex
	applied, commits, down, polls := 1000.0, 500.0, false, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		polls++
		if down {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "folio_ops_applied_total %g\nfolio_commit_seconds_count %g\nfolio_commit_seconds_sum %g\n",
			applied, commits, commits/1000)
	}))
	defer srv.Close()
	// set changes what the server answers and waits until the watch has
	// seen it twice.
	set := func(a, c float64, d bool) {
		mu.Lock()
		applied, commits, down = a, c, d
		seen := polls
		mu.Unlock()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			n := polls
			mu.Unlock()
			if n >= seen+2 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the watch stopped polling")
			}
		}
	}
	tgt := newTarget(target{baseURL: srv.URL, remote: true, stop: func(context.Context) error { return nil }})
	ctx := context.Background()
	m0 := tgt.metrics(ctx)
	w := tgt.watchMetrics(ctx, m0, 10*time.Millisecond)
	set(1300, 650, false) // +300 ops in 150 commits before the restart.
	set(0, 0, true)
	set(200, 100, false) // The new process: 200 ops in 100 commits.
	sum := w.stop()
	var rep Report
	sum.fill(&rep, serverMetrics{ok: true})
	if sum.applied != 500 || rep.Commits != 250 {
		t.Fatalf("counted %v ops in %d commits, want 500 in 250", sum.applied, rep.Commits)
	}
	var plain Report // What the two samples alone would say.
	tgt.metrics(ctx).fill(&plain, m0)
	if plain.Commits != 0 {
		t.Fatalf("the two samples counted %d commits; the test does not show the difference", plain.Commits)
	}
}
