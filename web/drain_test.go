package web

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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

// TestSSEDeletedWinsOverDrain: a viewer whose document is deleted is told
// so with end (deleted) even when the server starts draining before its
// stream wrote its end (a slow viewer, its writer still busy with what came
// before): a reconnect event would send it back to be refused while the
// server drains, then answered 404, and EventSource would give up without
// saying why. The viewer is slow for real: small socket buffers, and a
// snapshot far larger than they hold, that it does not read until the
// document is deleted and the drain has begun.
func TestSSEDeletedWinsOverDrain(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.WriteTimeout = time.Minute })
	const size = 1 << 20 // Several times what the buffers below hold.
	if _, err := e.hub.Create(context.Background(), "d", strings.Repeat("x", size)); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(e.srv.Handler())
	ts.Listener = smallBuffers{ts.Listener}
	ts.Start()
	t.Cleanup(ts.Close)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				err = c.(*net.TCPConn).SetReadBuffer(smallBuffer)
			}
			return c, err
		},
	}}
	t.Cleanup(client.CloseIdleConnections)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/v1/docs/d/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req) // Its headers; the snapshot waits in the socket.
	if err != nil {
		t.Fatal(err)
	}
	c := &sseClient{t: t, resp: resp, rd: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(c.close)
	// The snapshot's first line: its writer has taken it and is writing it.
	for line := ""; line != "event: snapshot\n"; {
		if line, err = c.rd.ReadString('\n'); err != nil {
			t.Fatalf("before the snapshot: %v", err)
		}
	}

	if r := e.send("DELETE", "/api/v1/docs/d", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	e.srv.Drain()
	if ev, ok := c.next(); !ok || len(ev.data) < size {
		t.Fatalf("the rest of the snapshot: %v %d bytes", ok, len(ev.data))
	}
	ev := c.nextEvent(ssePresence, sseLeave)
	if ev.name != "end" || !strings.Contains(ev.data, `"code":"deleted"`) {
		t.Fatalf("a deleted document's stream, ended during a drain: %+v, want end deleted", ev)
	}
	if ev, ok := c.next(); ok {
		t.Fatalf("the stream goes on after end: %+v", ev)
	}
}

// smallBuffer is the socket buffer size (SO_SNDBUF, SO_RCVBUF) asked for
// by the slow viewer's test, without autotuning (Linux doubles it): a
// fraction of its snapshot. A few kilobytes would slow loopback to a crawl.
const smallBuffer = 64 << 10

// smallBuffers is a listener whose connections have small send buffers.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		err = c.(*net.TCPConn).SetWriteBuffer(smallBuffer)
	}
	return c, err
}
