package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// reconnectOf reads a refused event stream to its end: a 200
// text/event-stream holding a retry: field and one reconnect event, whose
// retryMs is that field, within [least, 2*least).
func reconnectOf(t *testing.T, c *sseClient, code string, least time.Duration) reconnectData {
	t.Helper()
	if c.resp.StatusCode != http.StatusOK || c.resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("refused stream: %d %q, want 200 text/event-stream", c.resp.StatusCode, c.resp.Header.Get("Content-Type"))
	}
	ev := c.nextEvent()
	var d reconnectData
	if err := json.Unmarshal([]byte(ev.data), &d); err != nil || ev.name != sseReconnect || string(d.Code) != code || d.Message == "" {
		t.Fatalf("refused stream: event %+v, want %s with %s", ev, sseReconnect, code)
	}
	retry, err := strconv.ParseInt(c.retry, 10, 64)
	if err != nil || retry != d.RetryMs || retry < least.Milliseconds() || retry >= 2*least.Milliseconds() {
		t.Fatalf("retry: %q, retryMs %d; want equal, in [%d, %d)", c.retry, d.RetryMs, least.Milliseconds(), 2*least.Milliseconds())
	}
	if ev, ok := c.next(); ok {
		t.Fatalf("the refused stream goes on: %+v", ev)
	}
	return d
}

// TestSSETransientRefusalsKeepEventSource: EventSource gives up for good on
// any answer but 200 text/event-stream. So a stream refused for a reason
// that passes (a drain, storage unavailable, the address's upgrade rate) is,
// for a request that accepts text/event-stream, a 200 stream with a retry:
// delay and a reconnect event saying why, then its end; the same request
// without that Accept (curl, integrations) keeps its HTTP status.
func TestSSETransientRefusalsKeepEventSource(t *testing.T) {
	t.Run("rate_limited", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.RateLimits = RateLimits{Upgrades: Limit{PerSecond: 0.5, Burst: 1}} })
		e.create("d", "")
		e.sse("/api/v1/docs/d/events", "").close() // The burst.
		r := e.get("/api/v1/docs/d/events")
		if r.status != http.StatusTooManyRequests || r.errCode() != "rate_limited" {
			t.Fatalf("without Accept: %d %s", r.status, r.body)
		}
		after, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || after < 1 {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
		reconnectOf(t, e.sse("/api/v1/docs/d/events", ""), "rate_limited", time.Duration(after)*time.Second)
		if n := counterValue(t, e, "folio_sse_reconnects_total", "rate_limited"); n != 1 {
			t.Errorf("folio_sse_reconnects_total{code=rate_limited} = %v", n)
		}
	})
	t.Run("draining", func(t *testing.T) {
		e := newEnv(t, nil)
		e.create("d", "")
		e.srv.Drain()
		reconnectOf(t, e.sse("/api/v1/docs/d/events", "0"), "unavailable", sseRetry)
		if r := e.get("/api/v1/docs/d/events"); r.status != http.StatusServiceUnavailable || r.errCode() != "unavailable" {
			t.Errorf("without Accept: %d %s", r.status, r.body)
		}
	})
	t.Run("storage_unavailable", func(t *testing.T) {
		e := newEnv(t, nil)
		e.create("d", "")
		ts := httptest.NewServer(New(Options{Hub: e.hub, Store: lockedStore{e.db}, Logger: e.srv.log}).Handler())
		t.Cleanup(ts.Close)
		c := &testEnv{t: t, url: ts.URL}
		reconnectOf(t, c.sse("/api/v1/docs/d/events", ""), "unavailable", sseRetry)
		if r := c.get("/api/v1/docs/d/events"); r.status != http.StatusServiceUnavailable {
			t.Errorf("without Accept: %d %s", r.status, r.body)
		}
	})
}

// TestSSEPermanentRefusalsKeepStatus: a refusal that no retry cures keeps
// its HTTP status even for EventSource, which then stops, as it should:
// forbidden, not_found, invalid_id, invalid_message and internal (a bug).
func TestSSEPermanentRefusalsKeepStatus(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Authorize = fakeAuthorize })
	if _, err := e.hub.Create(context.Background(), "d", ""); err != nil {
		t.Fatal(err)
	}
	accept := []string{"Accept", "text/event-stream"}
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/api/v1/docs/d/events?token=nope", http.StatusForbidden},
		{"/api/v1/docs/missing/events?token=admin", http.StatusNotFound},
		{"/api/v1/docs/d/events?token=view-d&since=x", http.StatusBadRequest},
		{"/api/v1/docs/bad.id/events?token=admin", http.StatusBadRequest},
	} {
		if r := e.get(c.path, accept...); r.status != c.status || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q %s, want %d", c.path, r.status, r.header.Get("Content-Type"), r.body, c.status)
		}
	}
	srv := New(Options{Store: brokenStore{}, Logger: e.srv.log})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "http://localhost/api/v1/docs/d/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("internal: %d %s", rec.Code, rec.Body)
	}
}

// TestSSEDrainEndsWithReconnect: the streams a drain ends say so with a
// reconnect event whose delay is spread, so that the viewers of a restarted
// server do not all come back at once.
func TestSSEDrainEndsWithReconnect(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "")
	c := e.sse("/api/v1/docs/d/events", "")
	if ev := c.nextEvent(ssePresence); ev.name != sseSnapshot {
		t.Fatalf("first event %+v", ev)
	}
	e.srv.Drain()
	reconnectOf(t, c, "unavailable", sseRetry)
}

// TestSSEResumesAfterRefusedReconnect: what EventSource does after a
// restart. A stream ended by the drain of its server reconnects to it while
// it still drains (refused: reconnect), then to the next server, resuming
// after its Last-Event-ID with the ops it missed.
func TestSSEResumesAfterRefusedReconnect(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "")
	front := newSwitch(t, e.srv)
	c := front.sse("/api/v1/docs/d/events", "")
	c.nextEvent(ssePresence) // The snapshot at 0.
	e.postOp("d", 0, `["a"]`)
	if ev := c.nextEvent(ssePresence, sseLeave); ev.name != sseOp || ev.id != "1" {
		t.Fatalf("op event %+v", ev)
	}
	e.srv.Drain()
	reconnectOf(t, c, "unavailable", sseRetry)
	reconnectOf(t, front.sse("/api/v1/docs/d/events", c.lastID), "unavailable", sseRetry)
	e.postOp("d", 1, `["b"]`)
	front.to(New(Options{Hub: e.hub, Store: e.db, Logger: e.srv.log}))
	c = front.sse("/api/v1/docs/d/events", c.lastID)
	if ev := c.nextEvent(ssePresence, sseLeave); ev.name != sseOp || ev.id != "2" {
		t.Fatalf("resumed after the refusal: %+v, want op 2", ev)
	}
}

// switchServer is one address in front of a web.Server that a test can
// replace, as a restarted process replaces its predecessor on its port.
type switchServer struct {
	*testEnv
	cur     atomic.Pointer[Server]
	streams atomic.Int64 // Requests for event streams, counted once their server is chosen.
}

func newSwitch(t *testing.T, srv *Server) *switchServer {
	t.Helper()
	s := &switchServer{}
	s.cur.Store(srv)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv := s.cur.Load()
		if strings.HasSuffix(r.URL.Path, "/events") {
			s.streams.Add(1)
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	s.testEnv = &testEnv{t: t, url: ts.URL}
	t.Cleanup(func() {
		s.cur.Load().Drain() // Its streams end; Close waits for them.
		ts.Close()
	})
	return s
}

// to puts srv behind the address.
func (s *switchServer) to(srv *Server) { s.cur.Store(srv) }

// counterValue reads the counter name{code=code} from the server's registry.
func counterValue(t *testing.T, e *testEnv, name, code string) float64 {
	t.Helper()
	mfs, err := e.srv.opts.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "code" && l.GetValue() == code {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
