package web

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/foliodocs/folio/collab"
)

// TestServerWideConnLimit: Options.MaxConns bounds the WebSocket sessions,
// SSE streams and waiting long-polls held at once, whatever their document
// or address. Past it each kind is refused with 503 too_many_connections and
// Retry-After (an EventSource with a reconnect event); what holds nothing (a
// plain poll, a HEAD, an upgrade that fails) is served and takes no slot;
// and every slot comes back when its connection ends.
func TestServerWideConnLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxConns = 3 })
	e.create("d", "")
	held := func() float64 { return testutilGauge(e, "folio_held_connections") }
	if r := e.get("/api/v1/docs/d/ws"); r.status == http.StatusSwitchingProtocols || r.status < 400 {
		t.Fatalf("a GET of the WebSocket URL that is no upgrade: %d", r.status)
	}
	for _, path := range []string{"/api/v1/docs/d/events", "/api/v1/docs/d/ops?since=0&wait=30", "/api/v1/docs/d/ws"} {
		e.do(http.MethodHead, path, nil)
	}
	if h := held(); h != 0 {
		t.Fatalf("folio_held_connections = %v after refused upgrades and HEADs", h)
	}

	var polls sync.WaitGroup
	hold := func(since uint64) (*editor, *sseClient) {
		ed := newEditor(t, e, "d")
		c := e.sse("/api/v1/docs/d/events", "")
		if ev := c.nextEvent(ssePresence); ev.name != sseSnapshot {
			t.Fatalf("first event %+v", ev)
		}
		polls.Go(func() {
			if r := e.get("/api/v1/docs/d/ops?wait=30&since=" + itoa(since)); r.status != http.StatusOK {
				t.Errorf("long-poll: %d %s", r.status, r.body)
			}
		})
		eventually(t, "three connections held", func() bool { return held() == 3 })
		return ed, c
	}
	ed, c := hold(0)

	r := e.get("/api/v1/docs/d/events")
	if r.status != http.StatusServiceUnavailable || r.errCode() != "too_many_connections" || r.header.Get("Retry-After") != "5" {
		t.Errorf("a fourth stream: %d %v %s", r.status, r.header, r.body)
	}
	reconnectOf(t, e.sse("/api/v1/docs/d/events", ""), "too_many_connections", busyRetry)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if conn, resp, err := dialWS(ctx, e, "d", nil); err == nil {
		conn.CloseNow()
		t.Error("a fourth connection: a WebSocket upgraded")
	} else if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
		t.Errorf("a fourth connection, a WebSocket: %v %+v", err, resp)
	}
	if r := e.get("/api/v1/docs/d/ops?since=0&wait=30"); r.status != http.StatusServiceUnavailable || r.errCode() != "too_many_connections" {
		t.Errorf("a fourth connection, a long-poll: %d %s", r.status, r.body)
	}
	if r := e.get("/api/v1/docs/d/ops?since=0"); r.status != http.StatusOK {
		t.Errorf("a plain poll holds nothing: %d %s", r.status, r.body)
	}
	if m := string(e.get("/metrics").body); !strings.Contains(m, "\nfolio_held_connections_refused_total 4\n") {
		t.Errorf("refusals counted: %s", grepLines(m, "folio_held_connections"))
	}

	ed.conn.Close(websocket.StatusNormalClosure, "")
	c.close()
	e.postOp("d", 0, `["x"]`) // Answers the long-poll.
	polls.Wait()
	eventually(t, "every slot back", func() bool { return held() == 0 })
	ed, c = hold(1) // Admitted again.
	ed.conn.Close(websocket.StatusNormalClosure, "")
	c.close()
	e.postOp("d", 1, `["y"]`)
	polls.Wait()
}

// TestStreamsPerDocLimit: a document takes collab.Options.MaxSubscribersPerDoc
// SSE streams and waiting long-polls; past it they are refused with 503
// too_many_connections and Retry-After (an EventSource with a reconnect
// event), while other documents and the document's editors are served, and
// a stream that ends makes room.
func TestStreamsPerDocLimit(t *testing.T) {
	e := newEnvWith(t, func(o *collab.Options) { o.MaxSubscribersPerDoc = 1 }, nil)
	e.create("d", "")
	e.create("other", "")
	c := e.sse("/api/v1/docs/d/events", "")
	if ev := c.nextEvent(ssePresence); ev.name != sseSnapshot {
		t.Fatalf("first event %+v", ev)
	}
	reconnectOf(t, e.sse("/api/v1/docs/d/events", ""), "too_many_connections", busyRetry)
	for _, path := range []string{"/api/v1/docs/d/events", "/api/v1/docs/d/ops?since=0&wait=30"} {
		if r := e.get(path); r.status != http.StatusServiceUnavailable || r.errCode() != "too_many_connections" || r.header.Get("Retry-After") != "5" {
			t.Errorf("%s: %d %v %s", path, r.status, r.header, r.body)
		}
	}
	if ev := e.sse("/api/v1/docs/other/events", "").nextEvent(ssePresence); ev.name != sseSnapshot {
		t.Errorf("another document's stream: %+v", ev)
	}
	newEditor(t, e, "d") // Editors count in MaxConnsPerDoc.
	c.close()
	eventually(t, "the first stream's slot back", func() bool { return testutilGauge(e, "folio_held_connections") == 2 })
	if ev := e.sse("/api/v1/docs/d/events", "").nextEvent(ssePresence); ev.name != sseSnapshot {
		t.Errorf("a stream after the first ended: %+v", ev)
	}
}
