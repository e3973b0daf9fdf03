package collab_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/collab/client"
	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// liveServer is a hub on a real bbolt file behind a real HTTP server on
// 127.0.0.1. It can be stopped and started again on the same file and
// address (restart_test.go). With maxDelay, every write on the server's and
// on dialAll's clients' connections waits up to maxDelay (network jitter).
type liveServer struct {
	t        testing.TB
	path     string
	addr     string
	opts     collab.Options
	maxDelay time.Duration
	noSync   bool // Skip fsync: for tests about ordering, not durability.

	db  *storage.DB
	hub *collab.Hub
	hs  *http.Server
	wg  sync.WaitGroup // The Serve goroutine.
}

func newLiveServer(t testing.TB, opts collab.Options, maxDelay time.Duration, noSync bool) *liveServer {
	t.Helper()
	s := &liveServer{t: t, path: filepath.Join(t.TempDir(), "folio.db"), addr: "127.0.0.1:0",
		opts: opts, maxDelay: maxDelay, noSync: noSync}
	s.opts.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *liveServer) url(doc string) string { return "ws://" + s.addr + "/api/v1/docs/" + doc + "/ws" }

// start opens the data file and serves on s.addr (the same port after a stop).
func (s *liveServer) start() {
	t := s.t
	t.Helper()
	db, err := storage.Open(s.path, storage.Options{NoSync: s.noSync})
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
	mux := http.NewServeMux()
	hub := s.hub
	mux.HandleFunc("GET /api/v1/docs/{id}/ws", func(w http.ResponseWriter, r *http.Request) {
		c, wire, err := collab.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{collab.Subprotocol}})
		if err != nil {
			return
		}
		hub.ServeConn(c, r.PathValue("id"), collab.Peer{Addr: r.RemoteAddr, Wire: wire})
	})
	s.hs = &http.Server{Handler: mux}
	if s.maxDelay > 0 {
		ln = &jitterListener{Listener: ln, max: s.maxDelay}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.hs.Serve(ln)
	}()
}

// stop shuts down in the production order: stop accepting, close the hub
// (it waits for the hijacked WebSocket sessions), close the store.
func (s *liveServer) stop() {
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
	s.hub, s.db = nil, nil
}

// jitterListener delays every write on accepted connections by a random
// duration up to max, keeping the byte order.
type jitterListener struct {
	net.Listener
	max time.Duration
}

func (l *jitterListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jitterConn{Conn: c, max: l.max}, nil
}

type jitterConn struct {
	net.Conn
	max time.Duration
}

func (c *jitterConn) Write(b []byte) (int, error) {
	time.Sleep(rand.N(c.max))
	return c.Conn.Write(b)
}

// ackLog records every ack the clients receive, and counts refusals.
type ackLog struct {
	mu      sync.Mutex
	acks    map[string]map[uint64]uint64 // session -> seq -> version
	refused map[collab.Code]int
}

func (a *ackLog) onError(e collab.ErrorMsg) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refused == nil {
		a.refused = map[collab.Code]int{}
	}
	a.refused[e.Code]++
}

func (a *ackLog) hook(c **client.Client) func(seq, version uint64) {
	return func(seq, version uint64) {
		a.mu.Lock()
		defer a.mu.Unlock()
		id := (*c).Session()
		if a.acks == nil {
			a.acks = map[string]map[uint64]uint64{}
		}
		if a.acks[id] == nil {
			a.acks[id] = map[uint64]uint64{}
		}
		if v, ok := a.acks[id][seq]; ok && v != version {
			panic(fmt.Sprintf("seq %d of %s acked as %d and %d", seq, id, v, version))
		}
		a.acks[id][seq] = version
	}
}

func (a *ackLog) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, m := range a.acks {
		n += len(m)
	}
	return n
}

func clientOptions(t testing.TB, name string) client.Options {
	return client.Options{Name: name, Color: "#336699", BackoffMin: 5 * time.Millisecond,
		BackoffMax: 100 * time.Millisecond, RetryDelay: 20 * time.Millisecond,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)}
}

// dialAll connects n clients to doc, recording their acks in acks.
func dialAll(t testing.TB, s *liveServer, doc string, n int, acks *ackLog) []*client.Client {
	t.Helper()
	cs := make([]*client.Client, n)
	for i := range cs {
		o := clientOptions(t, fmt.Sprintf("c%d", i))
		o.OnAck = acks.hook(&cs[i])
		o.OnError = acks.onError
		if s.maxDelay > 0 { // Jitter the client-to-server direction too.
			tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &jitterConn{Conn: c, max: s.maxDelay}, nil
			}}
			t.Cleanup(tr.CloseIdleConnections)
			o.HTTPClient = &http.Client{Transport: tr}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := client.Dial(ctx, s.url(doc), o)
		cancel()
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		cs[i] = c
		t.Cleanup(func() { c.Close() })
	}
	return cs
}

var pieces = []string{"a", "bc", "Hello ", "\n", "é", "🎉", "👨‍👩‍👧‍👦", "e\u0301", "\r\n", "日本"}

// randomEdit is an insert, a delete or a replacement somewhere in an n code
// point text, with ASCII and non-ASCII text.
func randomEdit(r *rand.Rand, n int) ot.Op {
	pos := r.IntN(n + 1)
	var op ot.Op
	if pos > 0 {
		op = ot.Op{{Skip: pos}}
	}
	if d := min(n-pos, 1+r.IntN(4)); d > 0 && r.IntN(3) == 0 {
		op = append(op, ot.Component{Delete: d})
		if r.IntN(2) == 0 {
			return op
		}
	}
	return append(op, ot.Component{Insert: pieces[r.IntN(len(pieces))]})
}

// editLoop makes ops random edits on c with random pauses, dropping the
// connection with probability 1/dropEvery per edit.
func editLoop(c *client.Client, seed uint64, ops, dropEvery int) {
	r := rand.New(rand.NewPCG(seed, 99))
	for range ops {
		// A remote op can shorten the text between Text and Submit; Submit
		// then refuses the edit and the loop simply makes another.
		_ = c.Submit(randomEdit(r, len([]rune(c.Text()))))
		if r.IntN(dropEvery) == 0 {
			c.DropConnection()
		}
		if r.IntN(4) == 0 {
			n := len([]rune(c.Text()))
			c.SetCursor(&ot.Selection{Anchor: r.IntN(n + 1), Head: r.IntN(n + 1)})
		}
		time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond) // Think time.
	}
}

// checkConverged waits until every client has every op, then checks that all
// texts equal the server's text and a replay of the stored log, that every
// (session, seq) appears once in the log, and that every ack names the log
// record it acknowledged.
func checkConverged(t *testing.T, s *liveServer, doc string, cs []*client.Client, acks *ackLog) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range cs {
		if err := c.WaitSynced(ctx); err != nil {
			t.Fatalf("%s: not synced: %v", c.Session(), err)
		}
	}
	meta, err := s.db.Meta(ctx, doc)
	if err != nil {
		t.Fatal(err)
	}
	head := meta.Version
	for _, c := range cs {
		eventually(t, "clients at the head version", func() bool { return c.Version() == head })
	}
	replay, seen := replayLog(t, s.db, doc, head)
	fresh := dialAll(t, s, doc, 1, &ackLog{})[0]
	if fresh.Text() != replay || fresh.Version() != head {
		t.Fatalf("server text at %d differs from the log replay:\n%q\n%q", fresh.Version(), fresh.Text(), replay)
	}
	for _, c := range cs {
		if got := c.Text(); got != replay {
			t.Fatalf("%s diverged:\n got %q\nwant %q", c.Session(), got, replay)
		}
	}
	acks.mu.Lock()
	defer acks.mu.Unlock()
	t.Logf("%d clients converged on %d ops, %d code points; errors received: %v", len(cs), head,
		len([]rune(replay)), acks.refused)
	for session, m := range acks.acks {
		for seq, v := range m {
			if seen[session][seq] != v {
				t.Fatalf("ack (%s, %d) at version %d, log has it at %d", session, seq, v, seen[session][seq])
			}
		}
	}
}

// replayLog applies the stored log from version 0 and checks that every
// (session, seq) appears once; it returns the text and where each is.
func replayLog(t *testing.T, db *storage.DB, doc string, head uint64) (string, map[string]map[uint64]uint64) {
	t.Helper()
	recs, err := db.Ops(context.Background(), doc, 0, head)
	if err != nil {
		t.Fatal(err)
	}
	replay := ""
	seen := map[string]map[uint64]uint64{}
	for i, rec := range recs {
		if rec.Version != uint64(i+1) {
			t.Fatalf("log record %d has version %d", i, rec.Version)
		}
		if replay, err = ot.Apply(replay, rec.Op); err != nil {
			t.Fatalf("replay op %d: %v", rec.Version, err)
		}
		if seen[rec.Session] == nil {
			seen[rec.Session] = map[uint64]uint64{}
		}
		if v, dup := seen[rec.Session][rec.Seq]; dup {
			t.Fatalf("(%s, %d) committed twice: versions %d and %d", rec.Session, rec.Seq, v, rec.Version)
		}
		seen[rec.Session][rec.Seq] = rec.Version
	}
	return replay, seen
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func runChaos(t *testing.T, clients, ops int) {
	s := newLiveServer(t, collab.Options{OpsPerSecond: 300, OpBurst: 20}, 2*time.Millisecond, true)
	var acks ackLog
	cs := dialAll(t, s, "chaos", clients, &acks)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { editLoop(c, uint64(i), ops, 25) })
	}
	wg.Wait()
	checkConverged(t, s, "chaos", cs, &acks)
	reconnects := 0
	for _, c := range cs {
		reconnects += c.Reconnects()
	}
	if reconnects == 0 {
		t.Fatal("no client reconnected: the chaos did not happen")
	}
}

// TestChaosConvergence: 8 clients edit one document with random pauses and
// network jitter while their connections are cut at random.
func TestChaosConvergence(t *testing.T) { runChaos(t, 8, 120) }

// TestChaosConvergenceLong is the same with more clients and edits.
func TestChaosConvergenceLong(t *testing.T) {
	if testing.Short() {
		t.Skip("long randomized run; CI runs it")
	}
	runChaos(t, 12, 350)
}

// TestPresenceThroughEdits: a peer's cursor, as another client sees it, moves
// with a third client's edits, and leave arrives when a client closes.
func TestPresenceThroughEdits(t *testing.T) {
	s := newLiveServer(t, collab.Options{}, 0, true)
	var acks ackLog
	cs := dialAll(t, s, "pres", 3, &acks)
	a, b, c := cs[0], cs[1], cs[2]
	if err := a.Insert(0, "hello wörld"); err != nil {
		t.Fatal(err)
	}
	for _, x := range cs {
		eventually(t, "text everywhere", func() bool { return x.Text() == "hello wörld" })
	}
	b.SetCursor(&ot.Selection{Anchor: 6, Head: 11}) // "wörld"
	bCursor := func(x *client.Client) *ot.Selection {
		for _, p := range x.Peers() {
			if p.Session == b.Session() {
				return p.Cursor
			}
		}
		return nil
	}
	want := ot.Selection{Anchor: 6, Head: 11}
	eventually(t, "a sees b's cursor", func() bool { p := bCursor(a); return p != nil && *p == want })
	if err := c.Insert(0, "🎉🎉 "); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(3, 2); err != nil { // "he" of "🎉🎉 hello"
		t.Fatal(err)
	}
	want = ot.Selection{Anchor: 7, Head: 12}
	for _, x := range []*client.Client{a, c} {
		eventually(t, "b's cursor moved", func() bool { p := bCursor(x); return p != nil && *p == want })
	}
	// b's own cursor moves the same way through the ops it receives.
	eventually(t, "b's own cursor moved", func() bool { p := b.Cursor(); return p != nil && *p == want })
	if got := a.Text(); got != "🎉🎉 llo wörld" {
		t.Fatalf("text %q", got)
	}
	left := b.Session()
	b.Close()
	eventually(t, "leave reaches a and c", func() bool {
		return len(a.Peers()) == 1 && len(c.Peers()) == 1 && a.Peers()[0].Session != left && c.Peers()[0].Session != left
	})
}

// BenchmarkClientRoundTrip measures submit-to-ack through the Go client, a
// real hub and a durable (fsync) bbolt file: one op in flight at a time.
func BenchmarkClientRoundTrip(b *testing.B) { benchRoundTrip(b, false) }

// BenchmarkClientRoundTripNoSync is the same without fsync.
func BenchmarkClientRoundTripNoSync(b *testing.B) { benchRoundTrip(b, true) }

func benchRoundTrip(b *testing.B, noSync bool) {
	s := newLiveServer(b, collab.Options{OpsPerSecond: 1e9, OpBurst: 1 << 30}, 0, noSync)
	c := dialAll(b, s, "bench", 1, &ackLog{})[0]
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := c.Insert(i%64, "x"); err != nil {
			b.Fatal(err)
		}
		if err := c.WaitSynced(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
