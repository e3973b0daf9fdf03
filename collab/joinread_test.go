package collab

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// checkCatchUp fails unless ops are exactly the versions from+1..to, in
// order.
func checkCatchUp(t *testing.T, ops []OpMsg, from, to uint64) {
	t.Helper()
	if uint64(len(ops)) != to-from {
		t.Fatalf("%d ops after %d, want %d (to %d)", len(ops), from, to-from, to)
	}
	for i, m := range ops {
		if m.Version != from+1+uint64(i) {
			t.Fatalf("op %d has version %d, want %d", i, m.Version, from+1+uint64(i))
		}
	}
}

// TestResumeCatchUpReadOffTheRoom: a client resuming from before the op
// window needs older ops from storage; they are read on its own goroutine,
// so while that read is slow the room goes on serving the document's
// editors, and the client then gets every op after its version once, in
// order, the ones committed during its read included.
func TestResumeCatchUpReadOffTheRoom(t *testing.T) {
	for _, via := range []string{"hello", "subscribe"} {
		t.Run(via, func(t *testing.T) {
			ts, fs := newFaultServer(t, Options{OpWindow: 4, CatchUpLimit: 100})
			ctx := context.Background()
			a := dialTest(t, ts.url+"old")
			a.hello(ClientMsg{})
			for i := range uint64(20) {
				a.sendRaw(opJSON(i+1, i, `["a"]`))
				a.expect(TypeAck)
			}
			release := fs.opsStall.hold(t)
			welcome := make(chan []OpMsg, 1)
			c := dialTest(t, ts.url+"old")
			var sub *Subscription
			subErr := make(chan error, 1)
			if via == "hello" {
				c.send(ClientMsg{Type: TypeHello, Key: NewKey(), Version: u64(2)})
			} else {
				go func() {
					var err error
					sub, err = ts.hub.Subscribe(ctx, "old", u64(2))
					subErr <- err
				}()
			}
			eventually(t, "the read of old ops", func() bool { return fs.opsStall.held.Load() == 1 })
			// Enough ops that the window moves past what is being read.
			for i := range uint64(6) {
				a.sendRaw(opJSON(21+i, 20+i, `["b"]`))
				a.expect(TypeAck) // Not held behind the read.
			}
			release()
			if via == "hello" {
				var w Welcome
				c.expectInto(TypeWelcome, &w)
				if w.Text != nil || w.Version != 26 {
					t.Fatalf("welcome %+v", w)
				}
				welcome <- w.Ops
			} else {
				if err := <-subErr; err != nil {
					t.Fatal(err)
				}
				defer sub.Close()
				var ops []OpMsg
				for len(ops) < 24 {
					ev, err := sub.Next(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if ev.Kind == EventOp {
						ops = append(ops, *ev.Op)
					}
				}
				welcome <- ops
			}
			checkCatchUp(t, <-welcome, 2, 26)
		})
	}
}

// TestResumeReadAcrossRecreate: when the document is deleted and created
// again while a resuming client reads its old ops and session seq, the
// client gets the new document's text, not the old ops, and its session
// starts afresh there (its old seqs are not taken as the new document's).
func TestResumeReadAcrossRecreate(t *testing.T) {
	ts, fs := newFaultServer(t, Options{OpWindow: 2, IdleUnload: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := dialTest(t, ts.url+"again")
	wa := a.hello(ClientMsg{})
	for i := range uint64(6) {
		a.sendRaw(opJSON(i+1, i, `["a"]`))
		a.expect(TypeAck)
	}
	a.close()
	// A room loaded afresh: it holds neither the old ops nor the session.
	eventually(t, "the room's unload", func() bool { return ts.hub.lookupRoom("again") == nil })
	relOps, relSeq := fs.opsStall.hold(t), fs.seqStall.hold(t)
	c := dialTest(t, ts.url+"again")
	c.send(ClientMsg{Type: TypeHello, Key: wa.Key, Version: u64(1)})
	eventually(t, "the reads", func() bool { return fs.opsStall.held.Load() == 1 })
	relOps()
	eventually(t, "the reads", func() bool { return fs.seqStall.held.Load() == 1 })
	if err := ts.hub.Delete(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.hub.Create(ctx, "again", "new"); err != nil {
		t.Fatal(err)
	}
	relSeq()
	var w Welcome
	c.expectInto(TypeWelcome, &w)
	if w.Text == nil || *w.Text != "new" || w.Version != 7 || len(w.Ops) != 0 {
		t.Fatalf("welcome after the re-create: %+v", w)
	}
	c.sendRaw(opJSON(1, 7, `["!"]`)) // The new document has no seqs of this session.
	var ack Ack
	c.expectInto(TypeAck, &ack)
	if text, v := textOf(t, ts.db, "again"); text != "!new" || v != 8 || ack.Version != 8 {
		t.Fatalf("%q@%d, ack %+v", text, v, ack)
	}
}

// TestSessionSeqReadOffTheRoom: a hello whose session the room does not
// hold makes storage say the session's last seq; that read happens on the
// joiner's goroutine, so the room answers its editors meanwhile, and an op
// of the session committed after the read (its REST retry, say) still
// counts: its resend is acknowledged with its version, not applied again.
func TestSessionSeqReadOffTheRoom(t *testing.T) {
	// 4 × MaxConnsPerDoc seqs cached at most: the REST sessions below make
	// the room forget the others.
	ts, fs := newFaultServer(t, Options{MaxConnsPerDoc: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := dialTest(t, ts.url+"seq")
	b.hello(ClientMsg{})
	key := NewKey()
	id := SessionID(key)
	v, err := ts.hub.Submit(ctx, "seq", Submission{Base: 0, Op: ot.Op{{Insert: "x"}}, Session: id, Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	forget := func() { // Fill the seq cache past its bound.
		for i := range 8 {
			v, err = ts.hub.Submit(ctx, "seq", Submission{Base: v, Op: ot.Op{{Insert: "y"}},
				Session: fmt.Sprintf("rest-%d-%d", v, i), Seq: 1})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	forget()
	release := fs.seqStall.hold(t)
	c := dialTest(t, ts.url+"seq")
	c.send(ClientMsg{Type: TypeHello, Key: key, Version: &v})
	eventually(t, "the read of the session's seq", func() bool { return fs.seqStall.held.Load() == 1 })
	b.sendRaw(opJSON(1, v, `["b"]`))
	ack := nextAck(t, b) // Not held behind the read.
	// The session's next op, committed after the read, then forgotten.
	second, err := ts.hub.Submit(ctx, "seq", Submission{Base: ack.Version, Op: ot.Op{{Insert: "z"}}, Session: id, Seq: 2})
	if err != nil {
		t.Fatal(err)
	}
	v = second
	forget()
	release()
	var w Welcome
	c.expectInto(TypeWelcome, &w)
	want, head := textOf(t, ts.db, "seq")
	c.sendRaw(opJSON(2, w.Version, `["z"]`)) // A resend: already committed.
	if ack := nextAck(t, c); ack.Version != second {
		t.Fatalf("resend acknowledged at %d, want %d", ack.Version, second)
	}
	if text, v := textOf(t, ts.db, "seq"); text != want || v != head {
		t.Fatalf("the resend was applied again: %q@%d, want %q@%d", text, v, want, head)
	}
}

// nextAck returns the next ack c gets, skipping broadcasts; an error fails.
func nextAck(t *testing.T, c *testClient) Ack {
	t.Helper()
	for {
		b := c.next()
		switch msgType(b) {
		case TypeAck:
			var ack Ack
			if err := json.Unmarshal(b, &ack); err != nil {
				t.Fatal(err)
			}
			return ack
		case TypeError:
			t.Fatalf("want an ack, got %s", b)
		}
	}
}

// TestRESTSessionSeqReadOffTheRoom: a REST op with an Idempotency-Key is a
// session the room has not seen, whose last seq storage must say; that
// read happens on the caller's goroutine, so the room answers its editors
// meanwhile, and the key's retry is still answered with the first version.
func TestRESTSessionSeqReadOffTheRoom(t *testing.T) {
	ts, fs := newFaultServer(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := dialTest(t, ts.url+"rest")
	b.hello(ClientMsg{})
	b.sendRaw(opJSON(1, 0, `["b"]`))
	nextAck(t, b)
	release := fs.seqStall.hold(t)
	sub := Submission{Base: 1, Op: ot.Op{{Insert: "r"}}, Session: "idem-1", Seq: 7, Single: true}
	first := make(chan uint64, 1)
	go func() {
		v, err := ts.hub.Submit(ctx, "rest", sub)
		if err != nil {
			t.Error(err)
		}
		first <- v
	}()
	eventually(t, "the read of the key's seq", func() bool { return fs.seqStall.held.Load() == 1 })
	b.sendRaw(opJSON(2, 1, `["b"]`))
	nextAck(t, b) // Not held behind the read.
	release()
	v := <-first
	if again, err := ts.hub.Submit(ctx, "rest", sub); err != nil || again != v {
		t.Fatalf("retry: %d %v, want %d", again, err, v)
	}
	if text, head := textOf(t, ts.db, "rest"); text != "bbr" && text != "rbb" || head != 3 {
		t.Fatalf("%q@%d", text, head)
	}
}

// TestSubscribeCatchUpEventsOffTheRoom: a Subscribe's catch-up leaves the
// room as the committed records, which Next makes events (for up to
// CatchUpLimit ops, ~4 ms of the room's time otherwise); the events are
// every op after the version, once, in order, then presence.
func TestSubscribeCatchUpEventsOffTheRoom(t *testing.T) {
	ts := newTestServer(t, Options{OpWindow: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := dialTest(t, ts.url+"sub")
	a.hello(ClientMsg{})
	for i := range uint64(10) {
		a.sendRaw(opJSON(i+1, i, `["a"]`))
		a.expect(TypeAck)
	}
	sub, err := ts.hub.Subscribe(ctx, "sub", u64(3))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for _, ev := range sub.backlog {
		if ev.Kind == EventOp {
			t.Fatalf("the room made the catch-up's op %d an event", ev.Version)
		}
	}
	var ops []OpMsg
	evs := sub.Ready(nil, 100)
	for _, ev := range evs[:7] {
		if ev.Kind != EventOp || ev.Op.Type != TypeOp {
			t.Fatalf("event %+v, want an op", ev)
		}
		ops = append(ops, *ev.Op)
	}
	checkCatchUp(t, ops, 3, 10)
	if len(evs) != 8 || evs[7].Kind != EventPresence {
		t.Fatalf("after the ops: %+v", evs[7:])
	}
}

// seqFailStore fails every read of a session's seq, as a store that is
// busy or closed does.
type seqFailStore struct{ *faultStore }

func (s seqFailStore) SessionSeq(context.Context, string, string) (uint64, uint64, error) {
	return 0, 0, fmt.Errorf("injected: %w", storage.ErrLocked)
}

// TestRESTSessionSeqReadFailureCounted: a REST op whose Idempotency-Key's
// seq cannot be read is refused, and counted in folio_ops_rejected_total
// under the code its client gets, as it was when the room read the seq and
// refused the op itself: the read moved to the caller's goroutine, the
// count must not go with it.
func TestRESTSessionSeqReadFailureCounted(t *testing.T) {
	db, err := storage.Open(t.TempDir()+"/f.db", storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(prometheus.NewRegistry())
	ts := newTestServerStore(t, seqFailStore{&faultStore{DB: db}}, db, Options{Metrics: m})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ts.hub.Create(ctx, "counted", ""); err != nil {
		t.Fatal(err)
	}
	_, err = ts.hub.Submit(ctx, "counted", Submission{Base: 0, Op: ot.Op{{Insert: "x"}}, Session: "idem-1", Seq: 7, Single: true})
	if e := AsError(err); e == nil || e.Code != CodeUnavailable {
		t.Fatalf("Submit: %v, want unavailable", err)
	}
	if got := counterValue(m.opsRejected.WithLabelValues(string(CodeUnavailable))); got != 1 {
		t.Errorf("folio_ops_rejected_total{reason=unavailable} = %v, want 1", got)
	}
}

// readerKey marks the context of the reads TestJoinReadsBounded counts.
type readerKey struct{}

// TestJoinReadsBounded: a document edited faster than a joining caller
// reads moves the room's window past every read, so the room always asks
// for more; after joinReads reads off the room, the room reads the rest
// itself, and the caller gets everything it asked for, once. The store's
// hook makes it deterministic: every read by the caller is followed by
// enough commits to move the window on.
func TestJoinReadsBounded(t *testing.T) {
	for _, via := range []string{"subscribe", "rest"} {
		t.Run(via, func(t *testing.T) {
			ts, fs := newFaultServer(t, Options{OpWindow: 4, CatchUpLimit: 10000})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := ts.hub.Create(ctx, "hot", ""); err != nil {
				t.Fatal(err)
			}
			var head uint64
			commit := func() {
				v, err := ts.hub.Submit(ctx, "hot", Submission{Base: head, Op: ot.Op{{Skip: int(head)}, {Insert: "a"}}})
				if err != nil {
					t.Error(err)
					return
				}
				head = v
			}
			for range 20 {
				commit()
			}
			var reads int
			hook := func(rctx context.Context) {
				if rctx.Value(readerKey{}) == nil || reads >= 50 {
					return // The room's own read, or the edits stopped.
				}
				reads++
				for range 6 { // More than the window's slack (OpWindow/4 = 1).
					commit()
				}
			}
			fs.onRead.Store(&hook)
			rctx := context.WithValue(ctx, readerKey{}, true)
			if via == "rest" {
				v, err := ts.hub.Submit(rctx, "hot", Submission{Base: head, Op: ot.Op{{Insert: "!"}}, Session: "rest-1", Seq: 1})
				if err != nil {
					t.Fatal(err)
				}
				if v != head+1 {
					t.Fatalf("committed at %d, head was %d", v, head)
				}
			} else {
				sub, err := ts.hub.Subscribe(rctx, "hot", u64(2))
				if err != nil {
					t.Fatal(err)
				}
				defer sub.Close()
				var ops []OpMsg
				for uint64(len(ops)) < head-2 {
					ev, err := sub.Next(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if ev.Kind == EventOp {
						ops = append(ops, *ev.Op)
					}
				}
				checkCatchUp(t, ops, 2, head)
			}
			if reads > joinReads {
				t.Fatalf("the caller read %d times off the room, want at most %d", reads, joinReads)
			}
		})
	}
}

// TestAbandonedHelloDoesNotTakeOver: a hello whose join waits for its
// session's seq read (off the room) may be admitted after the same client
// gave up on that connection and joined again on a newer one. The newer
// connection keeps the session; the older one is the replaced one. Before,
// whichever join finished last took over, so the client's live connection
// was closed with 4003 by one it had abandoned.
func TestAbandonedHelloDoesNotTakeOver(t *testing.T) {
	ts, fs := newFaultServer(t, Options{MaxConnsPerDoc: 2})
	key, v := forgottenSession(t, ts, "late")
	release := fs.seqStall.hold(t)
	abandoned := dialTest(t, ts.url+"late")
	abandoned.send(ClientMsg{Type: TypeHello, Key: key, Version: &v})
	eventually(t, "the first hello's seq read", func() bool { return fs.seqStall.held.Load() == 1 })
	live := dialTest(t, ts.url+"late")
	w := live.hello(ClientMsg{Key: key, Version: &v})
	release()
	if code := abandoned.closed(); code != CloseReplaced {
		t.Fatalf("the abandoned connection closed with %d, want %d", code, CloseReplaced)
	}
	live.sendRaw(opJSON(2, w.Version, `["z"]`))
	if ack := nextAck(t, live); ack.Version != w.Version+1 {
		t.Fatalf("ack at %d, want %d", ack.Version, w.Version+1)
	}
}

// TestLateAcceptedHelloDoesNotTakeOver: the client sends its hello once it
// has the 101, and the server may take the connection later still (a
// handler goroutine that runs late). A client that gave up on such a
// connection and joined again on a newer one keeps the newer: the one it
// gave up on gets 4003 when its hello comes through. Before, a connection's
// place in the order was taken when the hub got it, after the 101, so the
// abandoned connection counted as the newer and closed the live one with
// 4003, though no other client had the key.
func TestLateAcceptedHelloDoesNotTakeOver(t *testing.T) {
	ts := newTestServer(t, Options{})
	held, release := stallFirstAccept(t, ts)
	key := NewKey()
	abandoned := dialTest(t, ts.url+"late")
	held()
	abandoned.send(ClientMsg{Type: TypeHello, Key: key})
	live := dialTest(t, ts.url+"late")
	w := live.hello(ClientMsg{Key: key})
	release()
	if m := abandoned.next(); msgType(m) != TypeError {
		t.Fatalf("the abandoned connection got %s; the live one closed with %d", m, live.closed())
	}
	if code := abandoned.closed(); code != CloseReplaced {
		t.Fatalf("the abandoned connection closed with %d, want %d", code, CloseReplaced)
	}
	live.sendRaw(opJSON(1, w.Version, `["z"]`))
	if ack := nextAck(t, live); ack.Version != w.Version+1 {
		t.Fatalf("ack at %d, want %d", ack.Version, w.Version+1)
	}
}

// forgottenSession makes doc with an op of a session that its room no longer
// holds (the seq cache is bounded by MaxConnsPerDoc, which must be 2): a
// hello with the session's key reads its seq from storage. It returns the
// key and the head version.
func forgottenSession(t *testing.T, ts *testServer, doc string) (key string, head uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ts.db.Create(ctx, doc, ""); err != nil {
		t.Fatal(err)
	}
	key = NewKey()
	v, err := ts.hub.Submit(ctx, doc, Submission{Base: 0, Op: ot.Op{{Insert: "x"}}, Session: SessionID(key), Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 { // Past the seq cache's bound.
		if v, err = ts.hub.Submit(ctx, doc, Submission{Base: v, Op: ot.Op{{Insert: "y"}},
			Session: fmt.Sprintf("rest-%d", i), Seq: 1}); err != nil {
			t.Fatal(err)
		}
	}
	return key, v
}

// stallFirstAccept holds the first connection ts upgrades between its 101
// and the hub, as a handler goroutine that runs late would; the first
// returned func waits until it is held, the second lets it go (also at the
// test's end).
func stallFirstAccept(t *testing.T, ts *testServer) (held, release func()) {
	upgraded, released := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	ts.accepted = func() {
		if first.CompareAndSwap(false, true) {
			close(upgraded)
			<-released
		}
	}
	release = sync.OnceFunc(func() { close(released) })
	t.Cleanup(release)
	return func() { <-upgraded }, release
}

// TestLateAcceptedHelloDoesNotRefuseTheLiveOne: as above, but the hello of
// the connection the client gave up on is admitted first, while the hello
// of its live connection waits for its session's seq read. The live one,
// which the client opened later, takes the session over. Before, it was
// refused with session_replaced, which stops a client for good.
func TestLateAcceptedHelloDoesNotRefuseTheLiveOne(t *testing.T) {
	ts, fs := newFaultServer(t, Options{MaxConnsPerDoc: 2})
	key, v := forgottenSession(t, ts, "late")
	held, release := stallFirstAccept(t, ts)
	abandoned := dialTest(t, ts.url+"late")
	held()
	abandoned.send(ClientMsg{Type: TypeHello, Key: key, Version: &v})
	releaseSeq := fs.seqStall.hold(t)
	live := dialTest(t, ts.url+"late")
	live.send(ClientMsg{Type: TypeHello, Key: key, Version: &v})
	eventually(t, "the live hello's seq read", func() bool { return fs.seqStall.held.Load() == 1 })
	release()
	abandoned.expect(TypeWelcome)
	releaseSeq()
	var w Welcome
	if m := live.next(); msgType(m) != TypeWelcome {
		t.Fatalf("the live hello got %s", m)
	} else if err := json.Unmarshal(m, &w); err != nil {
		t.Fatal(err)
	}
	if code := abandoned.closed(); code != CloseReplaced {
		t.Fatalf("the abandoned connection closed with %d, want %d", code, CloseReplaced)
	}
	live.sendRaw(opJSON(2, w.Version, `["z"]`))
	if ack := nextAck(t, live); ack.Version != w.Version+1 {
		t.Fatalf("ack at %d, want %d", ack.Version, w.Version+1)
	}
}
