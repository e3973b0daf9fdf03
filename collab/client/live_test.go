package client

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/collab/internal/livetest"
)

// faultProxy forwards TCP connections on 127.0.0.1 to target and can cut
// them all, or black-hole them (keep them open, holding every byte back).
type faultProxy struct {
	t      *testing.T
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu       sync.Mutex
	conns    map[net.Conn]bool
	up       map[net.Conn]bool // Client side of each pair.
	hole     bool              // Bytes are held back, both ways.
	holeUp   bool              // Bytes from the client are held back.
	holeDown bool              // Bytes to the client are held back.
	down     bool              // New connections are closed at once.
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, ln: ln, target: target, conns: map[net.Conn]bool{}, up: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) url(doc string) string {
	return "ws://" + p.ln.Addr().String() + "/api/v1/docs/" + doc + "/ws"
}

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		var u net.Conn
		if !down {
			u, err = net.Dial("tcp", p.target)
		}
		if down || err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[u] = true, true
		p.up[c] = true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, u)
		go p.pipe(u, c)
	}
}

func (p *faultProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		// A black hole holds the bytes back (as a dead route does) until
		// it ends or the connection is cut.
		for p.holding(src) {
			time.Sleep(time.Millisecond)
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *faultProxy) holding(src net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, open := p.conns[src]; !open {
		return false
	}
	return p.hole || (p.holeUp && p.up[src]) || (p.holeDown && !p.up[src])
}

func (p *faultProxy) setHole(both, up bool) {
	p.mu.Lock()
	p.hole, p.holeUp = both, up
	p.mu.Unlock()
}

func (p *faultProxy) setHoleDown(on bool) {
	p.mu.Lock()
	p.holeDown = on
	p.mu.Unlock()
}

func (p *faultProxy) setDown(on bool) {
	p.mu.Lock()
	p.down = on
	p.mu.Unlock()
}

// cutAll closes every proxied connection.
func (p *faultProxy) cutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
		delete(p.up, c)
	}
}

func (p *faultProxy) close() {
	p.ln.Close()
	p.cutAll()
	p.wg.Wait()
}

// TestKeyResumesSession: against the real server, a client reconnects with
// the key it drew (the server refuses a keyed session's public id)
// and keeps its session and exactly-once; Options.Key resumes the session
// from another client; the others see only the public id.
func TestKeyResumesSession(t *testing.T) {
	s := livetest.New(t, livetest.Options{NoSync: true})
	var mu sync.Mutex
	var seen []string
	o := testOptions(t)
	o.OnPresence = func(p collab.Presence) { mu.Lock(); seen = append(seen, p.Session); mu.Unlock() }
	dial(t, s.URL("k"), o)
	a := dial(t, s.URL("k"), testOptions(t))
	key, id := a.Key(), a.Session()
	if key == "" || id != collab.SessionID(key) {
		t.Fatalf("key %q, session %q", key, id)
	}
	if err := a.Insert(0, "a"); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, a)
	a.DropConnection()
	if err := a.Insert(1, "b"); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, a)
	if a.Reconnects() == 0 || a.Session() != id || a.Key() != key {
		t.Fatalf("after %d reconnects: session %q key %q", a.Reconnects(), a.Session(), a.Key())
	}
	a.Close()
	o = testOptions(t)
	o.Key = key
	b := dial(t, s.URL("k"), o)
	if b.Session() != id {
		t.Fatalf("Options.Key resumed %q, want %q", b.Session(), id)
	}
	if err := b.Insert(0, "c"); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, b)
	if text, v := s.Text("k"); text != "cab" || v != 3 {
		t.Fatalf("server text %q at %d", text, v)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("no presence seen")
	}
	for _, p := range seen {
		if p != id {
			t.Errorf("presence of %q, want only %q", p, id)
		}
	}
}

// TestDialIsBoundedByItsContext: Dial's first connection, the server's
// welcome included, has all of ctx, however short WriteTimeout is
// (WriteTimeout bounds writes and the handshakes of reconnects). It was cut
// at WriteTimeout, so a test with a short one failed to dial under load.
func TestDialIsBoundedByItsContext(t *testing.T) {
	s := livetest.New(t, livetest.Options{NoSync: true})
	o := testOptions(t)
	o.WriteTimeout = time.Nanosecond // Past before any welcome could come.
	c := dial(t, s.URL("dial"), o)
	if c.Text() != "" || c.Version() != 0 {
		t.Fatalf("welcome: %q@%d", c.Text(), c.Version())
	}
}

// TestReplacedSessionStops: a 4003 on the client's current connection
// means another client took its session by the same key (two processes
// given one Options.Key): it stops with session_replaced instead of
// taking the session back, which would have the two take it from each
// other for as long as both run (docs/protocol.md).
func TestReplacedSessionStops(t *testing.T) {
	s := livetest.New(t, livetest.Options{NoSync: true})
	o := testOptions(t)
	closed := onClosed(&o)
	a := dial(t, s.URL("shared"), o)
	ob := testOptions(t)
	ob.Key = a.Key()
	b := dial(t, s.URL("shared"), ob)
	select {
	case err := <-closed:
		var re *RefusedError
		if !errors.As(err, &re) || re.Code != collab.CodeSessionReplaced {
			t.Fatalf("closed with %v, want session_replaced", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the replaced client still runs")
	}
	if err := b.Insert(0, "b"); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, b)
	if a.Reconnects() != 0 || b.Reconnects() != 0 {
		t.Fatalf("reconnects: replaced %d, replacing %d; want none", a.Reconnects(), b.Reconnects())
	}
}
