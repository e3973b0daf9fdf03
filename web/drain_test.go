package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestDrainRefusalsSayWhenToRetry: while the server drains, what it refuses
// with 503 unavailable says when to come back (Retry-After, the least delay
// an EventSource is given for the same refusal), for the clients that get
// an HTTP status: a WebSocket upgrade, an event stream without Accept:
// text/event-stream, and, once the hub has closed behind the drain, a REST
// write. What a drain does not refuse is answered: REST reads and writes
// while the hub is open, and a long-poll, at once with what exists.
// Storage unavailable meanwhile refuses REST reads and long-polls the same
// way.
func TestDrainRefusalsSayWhenToRetry(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "")
	e.srv.Drain()
	want := retrySeconds(sseRetry)
	refused := func(name string, r response) {
		t.Helper()
		if r.status != http.StatusServiceUnavailable || r.errCode() != "unavailable" {
			t.Errorf("%s: %d %s, want 503 unavailable", name, r.status, r.body)
		} else if got := r.header.Get("Retry-After"); got != itoa(uint64(want)) {
			t.Errorf("%s: Retry-After %q, want %d", name, got, want)
		}
	}
	refused("WebSocket upgrade", e.get("/api/v1/docs/d/ws"))
	refused("event stream without Accept", e.get("/api/v1/docs/d/events"))

	e.postOp("d", 0, `["a"]`) // Served: the hub is still open.
	start := time.Now()
	if r := e.get("/api/v1/docs/d/ops?since=1&wait=60"); r.status != http.StatusOK || r.header.Get("Retry-After") != "" {
		t.Errorf("long-poll while draining: %d %q %s, want 200 at once", r.status, r.header.Get("Retry-After"), r.body)
	} else if d := time.Since(start); d > 15*time.Second {
		t.Errorf("long-poll while draining waited %v", d)
	}

	// The hub closes once the HTTP requests in flight have ended; one that
	// reaches it then is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.hub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	refused("REST op after the hub closed", e.send("POST", "/api/v1/docs/d/ops", `{"version":1,"op":[1,"b"]}`))
	refused("REST delete after the hub closed", e.send("DELETE", "/api/v1/docs/d", ""))

	locked := httptest.NewServer(New(Options{Hub: e.hub, Store: lockedStore{e.db}, Logger: e.srv.log}).Handler())
	t.Cleanup(locked.Close)
	c := &testEnv{t: t, url: locked.URL}
	refused("REST read, storage unavailable", c.get("/api/v1/docs/d"))
	refused("long-poll, storage unavailable", c.get("/api/v1/docs/d/ops?since=1&wait=60"))
}
