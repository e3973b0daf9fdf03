package collab

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// gatedStore holds one Append (after arm or armStored) until release is
// closed.
type gatedStore struct {
	*storage.DB
	armed   atomic.Bool
	stored  bool // Hold after the records are stored, not before (armStored).
	entered chan struct{}
	release chan struct{}
}

func (g *gatedStore) arm() { g.hold(false) }

// armStored holds the next Append once its records are stored: other nodes
// can commit after them while the commit is still in flight here.
func (g *gatedStore) armStored() { g.hold(true) }

func (g *gatedStore) hold(stored bool) {
	g.entered, g.release, g.stored = make(chan struct{}), make(chan struct{}), stored
	g.armed.Store(true)
}

func (g *gatedStore) Append(ctx context.Context, id string, recs []storage.OpRecord, n int, snap *storage.Snapshot) error {
	if !g.armed.CompareAndSwap(true, false) {
		return g.DB.Append(ctx, id, recs, n, snap)
	}
	var err error
	if g.stored {
		err = g.DB.Append(ctx, id, recs, n, snap)
	}
	close(g.entered)
	<-g.release
	if !g.stored {
		err = g.DB.Append(ctx, id, recs, n, snap)
	}
	return err
}

// twoNodes is two hubs on one bbolt file joined by one MemBus, each room
// looking at the store every poll (0: the default); node a commits through
// a gatedStore, which passes every Append through until armed.
type twoNodes struct {
	db   *storage.DB
	gate *gatedStore
	bus  *MemBus
	a, b *Hub
}

func newTwoNodes(t *testing.T, bus *MemBus, poll time.Duration) *twoNodes {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "f.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	n := &twoNodes{db: db, gate: &gatedStore{DB: db}, bus: bus}
	opts := Options{Bus: bus, BusPoll: poll, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)}
	n.a, n.b = NewHub(n.gate, opts), NewHub(db, opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, h := range []*Hub{n.a, n.b} {
			if err := h.Close(ctx); err != nil {
				t.Errorf("hub close: %v", err)
			}
		}
		if k := bus.subscribers("d"); k != 0 {
			t.Errorf("%d bus subscriptions left after Close", k)
		}
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return n
}

// roomState is the text and head version of doc's room on h (it opens it).
func roomState(t *testing.T, h *Hub, doc string) (string, uint64) {
	t.Helper()
	sub, err := h.Subscribe(context.Background(), doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ev, err := sub.Next(context.Background())
	if err != nil || ev.Kind != EventSnapshot {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	return ev.Text, ev.Version
}

// inRoom runs fn on the goroutine of doc's open room on h.
func inRoom(t *testing.T, h *Hub, doc string, fn func(r *room)) {
	t.Helper()
	r := h.lookupRoom(doc)
	if r == nil {
		t.Fatal("room not open")
	}
	if err := r.do(context.Background(), func() { fn(r) }); err != nil {
		t.Fatal(err)
	}
}

func insertAt(pos int, s string) ot.Op {
	if pos == 0 {
		return ot.Op{{Insert: s}}
	}
	return ot.Op{{Skip: pos}, {Insert: s}}
}

type submitOutcome struct {
	version uint64
	err     error
}

// submitHeld submits on node a while its commit is held, returning once
// the commit waits; the result arrives on the channel after release.
func (n *twoNodes) submitHeld(doc string, sub Submission) <-chan submitOutcome {
	n.gate.arm()
	out := make(chan submitOutcome, 1)
	go func() {
		v, err := n.a.Submit(context.Background(), doc, sub)
		out <- submitOutcome{v, err}
	}()
	<-n.gate.entered
	return out
}

// TestBusConflictRebased: node a's commit loses the race for version 1 to
// node b's; a catches up, rebases its op over b's and commits it as version
// 2, as one node would have with the same arrival order.
func TestBusConflictRebased(t *testing.T) {
	n := newTwoNodes(t, &MemBus{}, 0)
	ctx := context.Background()
	if _, err := n.a.Create(ctx, "d", "abc"); err != nil {
		t.Fatal(err)
	}
	roomState(t, n.b, "d") // Both rooms loaded at version 0.
	held := n.submitHeld("d", Submission{Base: 0, Op: insertAt(0, "A"), Session: "sa", Seq: 1})
	if v, err := n.b.Submit(ctx, "d", Submission{Base: 0, Op: insertAt(0, "B"), Session: "sb", Seq: 1}); err != nil || v != 1 {
		t.Fatalf("b: %d, %v", v, err)
	}
	close(n.gate.release)
	if res := <-held; res.err != nil || res.version != 2 {
		t.Fatalf("a: %d, %v", res.version, res.err)
	}
	const want = "ABabc" // Left: the later op's insert goes first at a tie.
	if text, v := textOf(t, n.db, "d"); text != want || v != 2 {
		t.Fatalf("stored %q at %d", text, v)
	}
	for _, h := range []*Hub{n.a, n.b} {
		eventually(t, "room at version 2", func() bool {
			text, v := roomState(t, h, "d")
			return text == want && v == 2
		})
	}
	recs, err := n.db.Ops(ctx, "d", 0, 2)
	if err != nil || recs[0].Session != "sb" || recs[1].Session != "sa" || recs[1].Seq != 1 {
		t.Fatalf("log %+v, %v", recs, err)
	}
}

// TestBusConflictSameSeq: one (session, seq) reaches both nodes (a client
// resent it after moving). Node b commits it; node a must not commit it
// again: its held copy is answered with b's version, and so is a later
// resend.
func TestBusConflictSameSeq(t *testing.T) {
	n := newTwoNodes(t, &MemBus{}, 0)
	ctx := context.Background()
	if _, err := n.a.Create(ctx, "d", ""); err != nil {
		t.Fatal(err)
	}
	roomState(t, n.b, "d")
	sub := Submission{Base: 0, Op: insertAt(0, "x"), Session: "s", Seq: 1}
	held := n.submitHeld("d", sub)
	if v, err := n.b.Submit(ctx, "d", sub); err != nil || v != 1 {
		t.Fatalf("b: %d, %v", v, err)
	}
	close(n.gate.release)
	if res := <-held; res.err != nil || res.version != 1 {
		t.Fatalf("a: %d, %v", res.version, res.err)
	}
	if v, err := n.a.Submit(ctx, "d", sub); err != nil || v != 1 {
		t.Fatalf("retry on a: %d, %v", v, err)
	}
	if text, v := textOf(t, n.db, "d"); text != "x" || v != 1 {
		t.Fatalf("stored %q at %d", text, v)
	}
}

// TestBusConflictPrecondition: a ReplaceText bound to a version is not
// rebased over another node's commit; it fails with precondition_failed.
func TestBusConflictPrecondition(t *testing.T) {
	n := newTwoNodes(t, &MemBus{}, 0)
	ctx := context.Background()
	if _, err := n.a.Create(ctx, "d", "abc"); err != nil {
		t.Fatal(err)
	}
	roomState(t, n.b, "d")
	n.gate.arm()
	out := make(chan error, 1)
	go func() {
		_, err := n.a.ReplaceText(ctx, "d", "xyz", u64(0), "ann")
		out <- err
	}()
	<-n.gate.entered
	if _, err := n.b.Submit(ctx, "d", Submission{Base: 0, Op: insertAt(3, "!")}); err != nil {
		t.Fatal(err)
	}
	close(n.gate.release)
	if err := <-out; AsError(err).Code != CodePreconditionFailed {
		t.Fatalf("want precondition_failed, got %v", err)
	}
	if text, v := textOf(t, n.db, "d"); text != "abc!" || v != 1 {
		t.Fatalf("stored %q at %d", text, v)
	}
}

// TestBusGap: a lost delivery leaves node a behind until the next one
// shows the gap; a then reads what it missed from the store, and its
// subscribers get every op in order.
func TestBusGap(t *testing.T) {
	var drop atomic.Bool
	n := newTwoNodes(t, &MemBus{Drop: func(string, []storage.OpRecord) bool { return drop.Load() }}, 0)
	ctx := context.Background()
	if _, err := n.a.Create(ctx, "d", ""); err != nil {
		t.Fatal(err)
	}
	roomState(t, n.b, "d")
	sub, err := n.a.Subscribe(ctx, "d", u64(0))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	drop.Store(true)
	if _, err := n.b.Submit(ctx, "d", Submission{Base: 0, Op: insertAt(0, "a")}); err != nil {
		t.Fatal(err)
	}
	if _, v := roomState(t, n.a, "d"); v != 0 {
		t.Fatalf("node a at %d without a delivery", v)
	}
	drop.Store(false)
	if _, err := n.b.Submit(ctx, "d", Submission{Base: 1, Op: insertAt(1, "b")}); err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 2; want++ {
		ev, err := sub.Next(ctx)
		if err != nil || ev.Kind != EventOp || ev.Version != want {
			t.Fatalf("want op %d, got %+v, %v", want, ev, err)
		}
	}
	if text, v := roomState(t, n.a, "d"); text != "ab" || v != 2 {
		t.Fatalf("node a: %q at %d", text, v)
	}
}

// TestBusVersionSeenElsewhere: a client names a version node a has not
// heard of (it saw it on node b): node a catches up from the store first,
// for a subscription's resume version and for an op's base alike.
func TestBusVersionSeenElsewhere(t *testing.T) {
	n := newTwoNodes(t, &MemBus{Drop: func(string, []storage.OpRecord) bool { return true }}, 0)
	ctx := context.Background()
	if _, err := n.a.Create(ctx, "d", ""); err != nil {
		t.Fatal(err)
	}
	roomState(t, n.a, "d")
	for i, s := range []string{"a", "b"} {
		if _, err := n.b.Submit(ctx, "d", Submission{Base: uint64(i), Op: insertAt(i, s)}); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := n.a.Subscribe(ctx, "d", u64(1))
	if err != nil {
		t.Fatalf("resume at a version node a had not seen: %v", err)
	}
	defer sub.Close()
	if ev, err := sub.Next(ctx); err != nil || ev.Kind != EventOp || ev.Version != 2 {
		t.Fatalf("want op 2, got %+v, %v", ev, err)
	}
	if _, err := n.b.Submit(ctx, "d", Submission{Base: 2, Op: insertAt(2, "c")}); err != nil {
		t.Fatal(err)
	}
	v, err := n.a.Submit(ctx, "d", Submission{Base: 3, Op: insertAt(3, "d")})
	if err != nil || v != 4 {
		t.Fatalf("op based on a version seen elsewhere: %d, %v", v, err)
	}
	if _, err := n.a.Submit(ctx, "d", Submission{Base: 9, Op: insertAt(0, "x")}); AsError(err).Code != CodeVersionAhead {
		t.Fatalf("base nobody has: want version_ahead, got %v", err)
	}
	if text, v := textOf(t, n.db, "d"); text != "abcd" || v != 4 {
		t.Fatalf("stored %q at %d", text, v)
	}
}

// TestBusBehind: while node a's room is busy, more commits arrive than its
// queue of deliveries holds; the bus callback does not block, and the room
// catches up from the store when it is free again.
func TestBusBehind(t *testing.T) {
	n := newTwoNodes(t, &MemBus{}, 0)
	ctx := context.Background()
	if _, err := n.a.Create(ctx, "d", ""); err != nil {
		t.Fatal(err)
	}
	roomState(t, n.a, "d")
	r := n.a.lookupRoom("d")
	busy, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- r.do(ctx, func() { close(busy); <-release }) }()
	<-busy
	const ops = remoteQueue + 20
	for i := range ops {
		if _, err := n.b.Submit(ctx, "d", Submission{Base: uint64(i), Op: insertAt(i, "x")}); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.remote) != remoteQueue || len(r.wake) != 1 {
		t.Fatalf("queue %d, wake %d: the room was not behind", len(r.remote), len(r.wake))
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want, _ := textOf(t, n.db, "d")
	eventually(t, "node a caught up", func() bool {
		text, v := roomState(t, n.a, "d")
		return text == want && v == ops
	})
	inRoom(t, n.a, "d", func(r *room) {
		if len(r.window) != ops || r.window[ops-1].Version != ops {
			t.Errorf("window of %d ops", len(r.window))
		}
	})
}

// TestBusUnsubscribe: a room subscribes once while loaded and cancels when
// it unloads.
func TestBusUnsubscribe(t *testing.T) {
	bus := &MemBus{}
	ts := newTestServer(t, Options{Bus: bus, IdleUnload: 20 * time.Millisecond})
	if _, err := ts.hub.Create(context.Background(), "d", ""); err != nil {
		t.Fatal(err)
	}
	c := dialTest(t, ts.url+"d")
	c.hello(ClientMsg{})
	if k := bus.subscribers("d"); k != 1 {
		t.Fatalf("%d subscriptions while loaded", k)
	}
	c.close()
	eventually(t, "room unloaded", func() bool { return ts.hub.lookupRoom("d") == nil })
	if k := bus.subscribers("d"); k != 0 {
		t.Fatalf("%d subscriptions after unload", k)
	}
}

// TestBusNil: without a Bus a room has no bus channels and
// subscribes to nothing (single-node behaviour unchanged).
func TestBusNil(t *testing.T) {
	ts := newTestServer(t, Options{})
	if _, err := ts.hub.Create(context.Background(), "d", ""); err != nil {
		t.Fatal(err)
	}
	roomState(t, ts.hub, "d")
	inRoom(t, ts.hub, "d", func(r *room) {
		if r.remote != nil || r.wake != nil || r.unsubscribe != nil {
			t.Error("a room without a Bus set up bus state")
		}
	})
}

// racingStore lets "another node" commit an insert of "z" at the head just
// before each of the next races Appends, which then lose the version race;
// with phantom, the Append fails with a version conflict while nobody
// committed anything.
type racingStore struct {
	*storage.DB
	races   atomic.Int32
	phantom bool
}

func (s *racingStore) Append(ctx context.Context, id string, recs []storage.OpRecord, n int, snap *storage.Snapshot) error {
	if s.races.Add(-1) >= 0 {
		if s.phantom {
			return fmt.Errorf("injected: %w", storage.ErrVersionConflict)
		}
		m, err := s.DB.Meta(ctx, id)
		if err != nil {
			return err
		}
		rec := storage.OpRecord{Version: m.Version + 1, Op: insertAt(0, "z"), Session: "other", Seq: m.Version + 1}
		if err := s.DB.Append(ctx, id, []storage.OpRecord{rec}, m.Length+1, nil); err != nil {
			return err
		}
	}
	return s.DB.Append(ctx, id, recs, n, snap)
}

// TestBusCommitRace: a commit that loses the version race is rebased and
// committed again by the server; one that keeps losing fails with conflict
// after maxCommitTries; a conflict nobody caused fails at once.
func TestBusCommitRace(t *testing.T) {
	cases := []struct {
		name    string
		races   int32
		phantom bool
		want    string // stored text
		version uint64 // the op's version; 0: refused with conflict
	}{
		{name: "retried", races: 3, want: "zzzab", version: 4},
		{name: "bounded", races: 100, want: strings.Repeat("z", maxCommitTries) + "ab"},
		{name: "phantom", races: 1, phantom: true, want: "ab"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, err := storage.Open(filepath.Join(t.TempDir(), "f.db"), storage.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			rs := &racingStore{DB: db, phantom: tc.phantom}
			ts := newTestServerStore(t, rs, db, Options{Bus: &MemBus{}})
			ctx := context.Background()
			if _, err := ts.hub.Create(ctx, "d", "ab"); err != nil {
				t.Fatal(err)
			}
			rs.races.Store(tc.races)
			v, err := ts.hub.Submit(ctx, "d", Submission{Base: 0, Op: insertAt(2, "!"), Session: "s", Seq: 1})
			if tc.version != 0 {
				tc.want += "!"
				if err != nil || v != tc.version {
					t.Fatalf("got %d, %v; want version %d", v, err, tc.version)
				}
			} else if AsError(err).Code != CodeConflict {
				t.Fatalf("want conflict, got %d, %v", v, err)
			}
			text, head := textOf(t, db, "d")
			if text != tc.want {
				t.Fatalf("stored %q at %d, want %q", text, head, tc.want)
			}
			if got, v := roomState(t, ts.hub, "d"); got != text || v != head {
				t.Fatalf("room %q at %d, store %q at %d", got, v, text, head)
			}
		})
	}
}

// TestBusDeleteElsewhere: a document deleted through one node ends the other
// node's room at its next look at the store (BusPoll): its subscribers get
// deleted, as on the node that deleted it, and the store is not asked to
// delete it again.
func TestBusDeleteElsewhere(t *testing.T) {
	n := newTwoNodes(t, &MemBus{}, 20*time.Millisecond)
	a, b, db := n.a, n.b, n.db
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.Create(ctx, "d", "x"); err != nil {
		t.Fatal(err)
	}
	sub, err := b.Subscribe(ctx, "d", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if ev, err := sub.Next(ctx); err != nil || ev.Kind != EventSnapshot {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	if err := a.Delete(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := sub.Next(ctx)
		if err == nil {
			continue // A presence or leave, say.
		}
		if AsError(err).Code != CodeDeleted {
			t.Fatalf("subscription on the other node ended with %v (last event %+v), want deleted", err, ev)
		}
		break
	}
	if _, err := b.Submit(ctx, "d", Submission{Op: ot.Op{{Insert: "y"}}}); AsError(err).Code != CodeNotFound {
		t.Fatalf("submit after the delete: %v, want not_found", err)
	}
}
