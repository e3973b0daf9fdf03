package collab_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/collab/client"
	"github.com/foliodocs/folio/collab/internal/livetest"
	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

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
func dialAll(t testing.TB, s *livetest.Server, doc string, n int, acks *ackLog) []*client.Client {
	t.Helper()
	cs := make([]*client.Client, n)
	for i := range cs {
		o := clientOptions(t, fmt.Sprintf("c%d", i))
		o.OnAck = acks.hook(&cs[i])
		o.OnError = acks.onError
		o.HTTPClient = s.HTTPClient() // Jitter the client-to-server direction too.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := client.Dial(ctx, s.URL(doc), o)
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
func checkConverged(t *testing.T, s *livetest.Server, doc string, cs []*client.Client, acks *ackLog) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range cs {
		if err := c.WaitSynced(ctx); err != nil {
			t.Fatalf("%s: not synced: %v", c.Session(), err)
		}
	}
	meta, err := s.DB().Meta(ctx, doc)
	if err != nil {
		t.Fatal(err)
	}
	head := meta.Version
	for _, c := range cs {
		eventually(t, "clients at the head version", func() bool { return c.Version() == head })
	}
	replay, seen := replayLog(t, s.DB(), doc, head)
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
	s := livetest.New(t, livetest.Options{Hub: collab.Options{OpsPerSecond: 300, OpBurst: 20},
		NoSync: true, MaxDelay: 2 * time.Millisecond})
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
	s := livetest.New(t, livetest.Options{NoSync: true})
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
	s := livetest.New(b, livetest.Options{Hub: collab.Options{OpsPerSecond: 1e9, OpBurst: 1 << 30}, NoSync: noSync})
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
