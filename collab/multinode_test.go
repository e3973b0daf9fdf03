package collab_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/collab/client"
	"github.com/foliodocs/folio/storage"
)

// cluster is two hubs ("nodes") on one bbolt file, joined by a MemBus that
// loses some deliveries, each behind its own httptest server.
type cluster struct {
	db    *storage.DB
	store *racingStore
	hubs  []*collab.Hub
	addrs []string // host:port of each node's server
}

// racingStore counts the commits that lost the version race to another node.
type racingStore struct {
	*storage.DB
	lost atomic.Int64
}

func (s *racingStore) Append(ctx context.Context, id string, recs []storage.OpRecord, n int, snap *storage.Snapshot) error {
	err := s.DB.Append(ctx, id, recs, n, snap)
	if errors.Is(err, storage.ErrVersionConflict) {
		s.lost.Add(1)
	}
	return err
}

func newCluster(t *testing.T, nodes int, lossy bool) *cluster {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "folio.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	bus := &collab.MemBus{}
	if lossy {
		var mu sync.Mutex
		r := rand.New(rand.NewPCG(7, 7))
		bus.Drop = func(string, []storage.OpRecord) bool { // 1 in 20 deliveries is lost.
			mu.Lock()
			defer mu.Unlock()
			return r.IntN(20) == 0
		}
	}
	c := &cluster{db: db, store: &racingStore{DB: db}}
	for range nodes {
		hub := collab.NewHub(c.store, collab.Options{Bus: bus, BusPoll: 100 * time.Millisecond, OpsPerSecond: 300, OpBurst: 20,
			Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)})
		mux := http.NewServeMux()
		mux.HandleFunc("GET /api/v1/docs/{id}/ws", func(w http.ResponseWriter, r *http.Request) {
			conn, wire, err := collab.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{collab.Subprotocol}})
			if err != nil {
				return
			}
			hub.ServeConn(conn, r.PathValue("id"), collab.Peer{Addr: r.RemoteAddr, Wire: wire})
		})
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		t.Cleanup(func() { // Before srv.Close: the hub waits for its hijacked sessions.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := hub.Close(ctx); err != nil {
				t.Errorf("hub close: %v", err)
			}
		})
		c.hubs = append(c.hubs, hub)
		c.addrs = append(c.addrs, strings.TrimPrefix(srv.URL, "http://"))
	}
	return c
}

func (c *cluster) url(node int, doc string) string {
	return "ws://" + c.addrs[node] + "/api/v1/docs/" + doc + "/ws"
}

// dial connects a client to node. With roam, every (re)connection goes to
// a random node instead, so a session's resends reach other nodes.
func (c *cluster) dial(t *testing.T, node int, doc string, roam bool, o client.Options) *client.Client {
	t.Helper()
	if roam {
		var mu sync.Mutex
		r := rand.New(rand.NewPCG(uint64(node), uint64(len(o.Name))))
		tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			mu.Lock()
			addr := c.addrs[r.IntN(len(c.addrs))]
			mu.Unlock()
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
		t.Cleanup(tr.CloseIdleConnections)
		o.HTTPClient = &http.Client{Transport: tr}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, c.url(node, doc), o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// runMultiNode: clients spread over two nodes edit one document at random
// while their connections drop; half of them reconnect to a random node.
// At the end every client and each node's room hold the stored head text,
// which is the replay of the log, every (session, seq) is in the log once,
// at the version its ack named, and every client sees all the others.
func runMultiNode(t *testing.T, clients, ops int) {
	c := newCluster(t, 2, true)
	const doc = "multi"
	var acks ackLog
	// Every client has a key of its own, so nothing may take its session:
	// a 4003 on its current connection, or a hello refused as
	// session_replaced (which stops it), means one of its own earlier
	// connections took it.
	var replaced atomic.Int64
	t.Cleanup(func() { // Also when the test failed otherwise (a client stopped by it).
		if n := replaced.Load(); n > 0 {
			t.Errorf("%d times a client was told its session was replaced (4003), though no two share a key", n)
		}
	})
	cs := make([]*client.Client, clients)
	for i := range cs {
		o := clientOptions(t, fmt.Sprintf("c%d", i))
		o.OnAck = acks.hook(&cs[i])
		o.OnError = acks.onError
		o.OnStatus = func(_ client.Status, err error) {
			var re *client.RefusedError
			if websocket.CloseStatus(err) == collab.CloseReplaced ||
				errors.As(err, &re) && re.Code == collab.CodeSessionReplaced {
				replaced.Add(1)
			}
		}
		cs[i] = c.dial(t, i%2, doc, i%4 >= 2, o)
	}
	var wg sync.WaitGroup
	for i, cl := range cs {
		wg.Go(func() { editLoop(cl, uint64(i), ops, 25) })
	}
	wg.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, cl := range cs {
		if err := cl.WaitSynced(ctx); err != nil {
			t.Fatalf("%s: not synced: %v", cl.Session(), err)
		}
	}
	meta, err := c.db.Meta(ctx, doc)
	if err != nil {
		t.Fatal(err)
	}
	head := meta.Version
	replay, seen := replayLog(t, c.db, doc, head)
	for _, cl := range cs {
		eventually(t, "clients at the head version", func() bool { return cl.Version() == head })
		if got := cl.Text(); got != replay {
			t.Fatalf("%s diverged at version %d: %s", cl.Session(), head, firstDiff(got, replay))
		}
	}
	// Presence crosses nodes too: after the drops and moves, every client
	// sees exactly the others, wherever they are connected.
	sessions := map[string]bool{}
	for _, cl := range cs {
		sessions[cl.Session()] = true
	}
	for _, cl := range cs {
		var seen []string // What cl saw last, for the failure's message.
		defer func() {
			if t.Failed() {
				t.Logf("%s saw %d peers: %v (want the %d others of %v)", cl.Session(), len(seen), seen, len(cs)-1, slices.Sorted(maps.Keys(sessions)))
			}
		}()
		eventually(t, "every client seeing every other", func() bool {
			peers := cl.Peers()
			seen = seen[:0]
			for _, p := range peers {
				seen = append(seen, p.Session)
			}
			for _, p := range peers {
				if !sessions[p.Session] || p.Session == cl.Session() {
					return false
				}
			}
			return len(peers) == len(cs)-1
		})
	}
	for node := range c.hubs {
		fresh := c.dial(t, node, doc, false, clientOptions(t, "fresh"))
		if fresh.Text() != replay || fresh.Version() != head {
			t.Fatalf("node %d at %d (head %d) differs from the log replay: %s", node, fresh.Version(), head,
				firstDiff(fresh.Text(), replay))
		}
	}
	acks.mu.Lock()
	defer acks.mu.Unlock()
	for session, m := range acks.acks {
		for seq, v := range m {
			if seen[session][seq] != v {
				t.Fatalf("ack (%s, %d) at version %d, log has it at %d", session, seq, v, seen[session][seq])
			}
		}
	}
	reconnects := 0
	for _, cl := range cs {
		reconnects += cl.Reconnects()
	}
	t.Logf("%d clients on 2 nodes converged on %d ops; %d commits lost a race; %d reconnects; errors received: %v",
		clients, head, c.store.lost.Load(), reconnects, acks.refused)
	if c.store.lost.Load() == 0 || reconnects == 0 {
		t.Fatal("no commit race or no reconnect: the test did not exercise the multi-node paths")
	}
}

// TestMultiNodeConvergence: 8 clients on two nodes sharing one store.
func TestMultiNodeConvergence(t *testing.T) { runMultiNode(t, 8, 100) }

// TestMultiNodeConvergenceLong is the same with more clients and edits.
func TestMultiNodeConvergenceLong(t *testing.T) {
	if testing.Short() {
		t.Skip("long randomized run; CI runs it")
	}
	runMultiNode(t, 12, 250)
}

// firstDiff shows where got first differs from want, in code points.
func firstDiff(got, want string) string {
	g, w := []rune(got), []rune(want)
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	end := func(r []rune) string { return string(r[i:min(len(r), i+20)]) }
	return fmt.Sprintf("lengths %d and %d, first difference at %d: got %q, want %q", len(g), len(w), i, end(g), end(w))
}
