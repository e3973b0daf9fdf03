package livetest

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

// Options configures a Server. The zero value is a durable (fsync) store and
// no jitter.
type Options struct {
	// Hub configures the hub. Its Logger is replaced by one that writes
	// errors to the test's log.
	Hub collab.Options

	// NoSync skips fsync: for tests about ordering, not durability.
	NoSync bool

	// MaxDelay, when positive, delays every write on the server's
	// connections by a random duration up to MaxDelay.
	MaxDelay time.Duration
}

// Server is a hub on a real bbolt file behind an HTTP server on 127.0.0.1.
type Server struct {
	t    testing.TB
	path string
	addr string // 127.0.0.1:0 until the first Start, then the port it got.
	opts Options

	db  *storage.DB  // Nil while stopped.
	hub *collab.Hub  // Nil while stopped.
	hs  *http.Server // Nil while stopped.
	wg  sync.WaitGroup
}

// New starts a Server on a new data file; t.Cleanup stops it.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	opts.Hub.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	s := &Server{t: t, path: filepath.Join(t.TempDir(), "folio.db"), addr: "127.0.0.1:0", opts: opts}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Addr is the server's host:port; it stays the same across restarts.
func (s *Server) Addr() string { return s.addr }

// URL is the WebSocket URL of doc.
func (s *Server) URL(doc string) string { return "ws://" + s.addr + "/api/v1/docs/" + doc + "/ws" }

// Running reports whether the server is started.
func (s *Server) Running() bool { return s.hub != nil }

// DB is the store of the running server (nil while stopped).
func (s *Server) DB() *storage.DB { return s.db }

// Start opens the data file and serves on the server's address, waiting for
// the port while a previous server's socket still holds it.
func (s *Server) Start() {
	t := s.t
	t.Helper()
	db, err := storage.Open(s.path, storage.Options{NoSync: s.opts.NoSync})
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	var ln net.Listener
	deadline := time.Now().Add(5 * time.Second)
	for ln, err = net.Listen("tcp", s.addr); err != nil; ln, err = net.Listen("tcp", s.addr) {
		if time.Now().After(deadline) {
			db.Close()
			t.Fatalf("listen %s: %v", s.addr, err)
		}
		time.Sleep(10 * time.Millisecond) // The port is still held by the old server.
	}
	s.addr = ln.Addr().String()
	if s.opts.MaxDelay > 0 {
		ln = &jitterListener{Listener: ln, max: s.opts.MaxDelay}
	}
	s.db, s.hub = db, collab.NewHub(db, s.opts.Hub)
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
	hs := s.hs
	s.wg.Go(func() { hs.Serve(ln) })
}

// Stop shuts down in the production order: stop accepting, close the hub
// (it waits for the hijacked WebSocket sessions), close the store. Stopping
// a stopped server does nothing.
func (s *Server) Stop() {
	if s.hub == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.hs.Shutdown(ctx); err != nil {
		s.t.Errorf("http shutdown: %v", err)
	}
	s.wg.Wait()
	if err := s.hub.Close(ctx); err != nil {
		s.t.Errorf("hub close: %v", err)
	}
	if err := s.db.Close(); err != nil {
		s.t.Errorf("storage close: %v", err)
	}
	s.db, s.hub, s.hs = nil, nil, nil
}

// Text is doc's text and version as a fresh reader of the store sees them.
func (s *Server) Text(doc string) (string, uint64) {
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
