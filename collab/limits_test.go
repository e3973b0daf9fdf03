package collab

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestSubscribersPerDocLimit: a document takes MaxSubscribersPerDoc
// subscriptions and refuses more with too_many_connections (a retryable
// refusal); another document is not affected, and a closed subscription
// makes room at once.
func TestSubscribersPerDocLimit(t *testing.T) {
	ts := newTestServer(t, Options{MaxSubscribersPerDoc: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range []string{"d", "e"} {
		if _, err := ts.hub.Create(ctx, id, ""); err != nil {
			t.Fatal(err)
		}
	}
	var subs []*Subscription
	defer func() {
		for _, s := range subs {
			s.Close()
		}
	}()
	subscribe := func(id string) error {
		s, err := ts.hub.Subscribe(ctx, id, nil)
		if err == nil {
			subs = append(subs, s)
		}
		return err
	}
	for range 2 {
		if err := subscribe("d"); err != nil {
			t.Fatal(err)
		}
	}
	err := subscribe("d")
	if e := AsError(err); e == nil || e.Code != CodeTooManyConnections || !Retryable(err) {
		t.Fatalf("third subscription: %v, want too_many_connections", err)
	}
	if err := subscribe("e"); err != nil {
		t.Fatalf("another document: %v", err)
	}
	subs[0].Close()
	if err := subscribe("d"); err != nil {
		t.Fatalf("after one closed: %v", err)
	}
}

// TestPeerDone: Peer.Done is called once when the hub is done with a
// connection, whether its session ended or the hub, closed, refused it.
func TestPeerDone(t *testing.T) {
	ts := newTestServer(t, Options{})
	var done atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, wire, err := Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		ts.hub.StartConn(c, "d", Peer{Addr: r.RemoteAddr, Wire: wire, Done: func() { done.Add(1) }})
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	c := dialTest(t, url)
	c.hello(ClientMsg{})
	if n := done.Load(); n != 0 {
		t.Fatalf("Done called %d times while the session is open", n)
	}
	c.close()
	eventually(t, "Done after the session ended", func() bool { return done.Load() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.hub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	c = dialTest(t, url) // Refused by the closed hub.
	c.closed()
	eventually(t, "Done after the closed hub refused it", func() bool { return done.Load() == 2 })
}
