package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestViewerCountsDeliveriesOnly: a stream the server ends with a reconnect
// event (a drain, a limit) is a drop, not one more delivered event.
func TestViewerCountsDeliveriesOnly(t *testing.T) {
	var opened atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		if opened.Add(1) > 1 {
			<-r.Context().Done() // The reconnect: hold it until the viewer stops.
			return
		}
		_, _ = w.Write([]byte("retry: 2000\n\n" +
			"event: op\nid: 1\ndata: {\"v\":1}\n\n" +
			"event: op\nid: 2\ndata: {\"v\":2}\n\n" +
			"retry: 10\n\nevent: reconnect\ndata: {\"code\":\"unavailable\",\"message\":\"the server is shutting down\",\"retryMs\":10}\n\n"))
	}))
	defer srv.Close()
	tgt := newTarget(target{baseURL: srv.URL, stop: func(context.Context) error { return nil }})
	defer func() { _ = tgt.stop(context.Background()) }()
	var win window
	win.start.Store(time.Now().Add(-time.Second).UnixNano())
	v := startViewers(tgt, []*docRun{{id: "d"}}, 1, &win)
	deadline := time.Now().Add(10 * time.Second)
	for opened.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // Polls a condition; nothing is timed.
	}
	v.close()
	if opened.Load() < 2 {
		t.Fatal("the viewer did not reopen the stream the server ended")
	}
	if got := v.take(); got != 2 {
		t.Errorf("events counted = %d, want the 2 ops (a reconnect event is no delivery)", got)
	}
	if got := v.errors.Load(); got != 1 {
		t.Errorf("drops counted = %d, want 1", got)
	}
}
