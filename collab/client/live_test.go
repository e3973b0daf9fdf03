package client

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/storage"
)

// liveServer is a real hub on a bbolt file in t.TempDir() behind an HTTP
// server on 127.0.0.1; it can be stopped and started again on the same file
// and address.
type liveServer struct {
	t    *testing.T
	path string
	addr string
	opts collab.Options

	db  *storage.DB
	hub *collab.Hub
	hs  *http.Server
	wg  sync.WaitGroup
}

func newLiveServer(t *testing.T, opts collab.Options) *liveServer {
	t.Helper()
	s := &liveServer{t: t, path: filepath.Join(t.TempDir(), "folio.db"), addr: "127.0.0.1:0", opts: opts}
	s.opts.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *liveServer) url(doc string) string { return "ws://" + s.addr + "/api/v1/docs/" + doc + "/ws" }

func (s *liveServer) start() {
	t := s.t
	t.Helper()
	db, err := storage.Open(s.path, storage.Options{NoSync: true})
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	var ln net.Listener
	deadline := time.Now().Add(5 * time.Second)
	for ln, err = net.Listen("tcp", s.addr); err != nil; ln, err = net.Listen("tcp", s.addr) {
		if time.Now().After(deadline) {
			t.Fatalf("listen %s: %v", s.addr, err)
		}
		time.Sleep(10 * time.Millisecond) // The port is still held by the old server.
	}
	s.addr = ln.Addr().String()
	s.db, s.hub = db, collab.NewHub(db, s.opts)
	hub := s.hub
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/docs/{id}/ws", func(w http.ResponseWriter, r *http.Request) {
		c, wire, err := collab.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{collab.Subprotocol}})
		if err != nil {
			return
		}
		hub.ServeConn(c, r.PathValue("id"), collab.Peer{Addr: r.RemoteAddr, Wire: wire})
	})
	s.hs = &http.Server{Handler: mux}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.hs.Serve(ln)
	}()
}

func (s *liveServer) stop() {
	if s.hub == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s.hs.Shutdown(ctx)
	s.wg.Wait()
	if err := s.hub.Close(ctx); err != nil {
		s.t.Errorf("hub close: %v", err)
	}
	if err := s.db.Close(); err != nil {
		s.t.Errorf("storage close: %v", err)
	}
	s.hub, s.db = nil, nil
}

// serverText is the document's text and version as a fresh reader sees it.
func (s *liveServer) serverText(doc string) (string, uint64) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	meta, err := s.db.Meta(ctx, doc)
	if err != nil {
		s.t.Fatal(err)
	}
	text, err := s.db.TextAt(ctx, doc, meta.Version)
	if err != nil {
		s.t.Fatal(err)
	}
	return text, meta.Version
}

// faultProxy forwards TCP connections on 127.0.0.1 to target and can cut
// them all, or black-hole them (keep them open, holding every byte back).
type faultProxy struct {
	t      *testing.T
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]bool
	up     map[net.Conn]bool // Client side of each pair.
	hole   bool              // Bytes are held back, both ways.
	holeUp bool              // Bytes from the client are held back.
	down   bool              // New connections are closed at once.
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
	return p.hole || (p.holeUp && p.up[src])
}

func (p *faultProxy) setHole(both, up bool) {
	p.mu.Lock()
	p.hole, p.holeUp = both, up
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
	s := newLiveServer(t, collab.Options{})
	var mu sync.Mutex
	var seen []string
	o := testOptions(t)
	o.OnPresence = func(p collab.Presence) { mu.Lock(); seen = append(seen, p.Session); mu.Unlock() }
	dial(t, s.url("k"), o)
	a := dial(t, s.url("k"), testOptions(t))
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
	b := dial(t, s.url("k"), o)
	if b.Session() != id {
		t.Fatalf("Options.Key resumed %q, want %q", b.Session(), id)
	}
	if err := b.Insert(0, "c"); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, b)
	if text, v := s.serverText("k"); text != "cab" || v != 3 {
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
