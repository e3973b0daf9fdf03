package collab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// faultStore wraps a real store to count loads and fail chosen commits.
type faultStore struct {
	*storage.DB
	loads    atomic.Int32
	failNext atomic.Int32 // Appends to fail.
	appendMu sync.Mutex   // Held by a test to stall commits.
	textAts  atomic.Int32 // Reads of old texts so far.
	// Held by a test: a read of ops or of a session's seq waits once it has
	// read, so what it returns may be out of date by then.
	opsStall, seqStall stall
	// Called after every read of ops or of a session's seq, with its ctx.
	onRead atomic.Pointer[func(ctx context.Context)]
}

// stall holds the first call that passes it after hold, until released.
type stall struct {
	armed   atomic.Bool
	held    atomic.Int32 // Calls held so far.
	release chan struct{}
}

func (s *stall) pass() {
	if s.armed.CompareAndSwap(true, false) {
		s.held.Add(1)
		<-s.release
	}
}

// hold arms s; the returned func (idempotent, also run at the test's end)
// releases the call held.
func (s *stall) hold(t *testing.T) (release func()) {
	s.release = make(chan struct{})
	s.armed.Store(true)
	release = sync.OnceFunc(func() { close(s.release) })
	t.Cleanup(release)
	return release
}

func (f *faultStore) Ops(ctx context.Context, id string, from, to uint64) ([]storage.OpRecord, error) {
	ops, err := f.DB.Ops(ctx, id, from, to)
	f.opsStall.pass()
	f.read(ctx)
	return ops, err
}

func (f *faultStore) OpsWithin(ctx context.Context, id string, from, to uint64, maxBytes int) ([]storage.OpRecord, int, error) {
	ops, size, err := f.DB.OpsWithin(ctx, id, from, to, maxBytes)
	f.opsStall.pass()
	f.read(ctx)
	return ops, size, err
}

func (f *faultStore) SessionSeq(ctx context.Context, id, session string) (uint64, uint64, error) {
	seq, version, err := f.DB.SessionSeq(ctx, id, session)
	f.seqStall.pass()
	f.read(ctx)
	return seq, version, err
}

func (f *faultStore) read(ctx context.Context) {
	if fn := f.onRead.Load(); fn != nil {
		(*fn)(ctx)
	}
}

func (f *faultStore) TextAt(ctx context.Context, id string, v uint64) (string, error) {
	f.textAts.Add(1)
	return f.DB.TextAt(ctx, id, v)
}

func (f *faultStore) Load(ctx context.Context, id string) (storage.Loaded, error) {
	f.loads.Add(1)
	return f.DB.Load(ctx, id)
}

func (f *faultStore) Append(ctx context.Context, id string, recs []storage.OpRecord, n int, snap *storage.Snapshot) error {
	f.appendMu.Lock()
	f.appendMu.Unlock()
	if f.failNext.Load() > 0 {
		f.failNext.Add(-1)
		return errors.New("injected: disk full")
	}
	return f.DB.Append(ctx, id, recs, n, snap)
}

func newFaultServer(t *testing.T, opts Options) (*testServer, *faultStore) {
	t.Helper()
	db, err := storage.Open(t.TempDir()+"/f.db", storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	fs := &faultStore{DB: db}
	return newTestServerStore(t, fs, db, opts), fs
}

// TestDelTextReadsNothing: {"d":"text"} deletes, which the browser editor
// sends for every delete, are checked in the room's own document, at the
// head, whatever their base: nothing is read from storage and no copy of
// the text is made. Text still in the document must match; text that an
// edit after the op's base deleted meanwhile is no longer named by the
// rebased op and is not compared.
func TestDelTextReadsNothing(t *testing.T) {
	ts, fs := newFaultServer(t, Options{})
	a := dialTest(t, ts.url+"del")
	a.hello(ClientMsg{})
	a.sendRaw(opJSON(1, 0, `["hello big world"]`))
	a.expect(TypeAck)
	a.sendRaw(opJSON(2, 1, `[6,{"d":"big "}]`)) // At the head.
	a.expect(TypeAck)
	a.sendRaw(opJSON(3, 2, `[6,{"d":"wide"}]`)) // The text there is "worl".
	a.expectError(CodeInvalidOp)
	a.sendRaw(opJSON(4, 1, `[10,{"d":"world"}]`)) // Behind the head: "world" is still there.
	a.expect(TypeAck)
	a.sendRaw(opJSON(5, 1, `[{"d":"jello"}]`)) // Behind the head: "hello" is still there.
	a.expectError(CodeInvalidOp)
	a.sendRaw(opJSON(6, 1, `[5,{"d":" XXXX"}]`)) // " " is still there; "big " was deleted by version 2.
	a.expect(TypeAck)
	if n := fs.textAts.Load(); n != 0 {
		t.Fatalf("checking deleted text read the text from storage %d times", n)
	}
	if text, _ := textOf(t, ts.db, "del"); text != "hello" {
		t.Fatalf("text %q", text)
	}
}

func TestExactlyOnceAcrossReconnect(t *testing.T) {
	ts := newTestServer(t, Options{})
	a := dialTest(t, ts.url+"once")
	w := a.hello(ClientMsg{})
	a.sendRaw(opJSON(1, 0, `["hi"]`))
	a.expect(TypeAck)
	a.close()

	// The client did not see the ack: it resumes with its session and old version.
	b := dialTest(t, ts.url+"once")
	w2 := b.hello(ClientMsg{Key: w.Key, Version: u64(0)})
	if w2.Session != w.Session || w2.Text != nil || len(w2.Ops) != 1 ||
		w2.Ops[0].Session != w.Session || w2.Ops[0].Seq != 1 || w2.Ops[0].Version != 1 {
		t.Fatalf("catch-up welcome %+v", w2)
	}
	b.sendRaw(opJSON(1, 0, `["hi"]`))
	var ack Ack
	b.expectInto(TypeAck, &ack)
	if ack.Seq != 1 || ack.Version != 1 {
		t.Fatalf("re-ack %+v", ack)
	}
	if text, v := textOf(t, ts.db, "once"); text != "hi" || v != 1 {
		t.Fatalf("applied twice: %q@%d", text, v)
	}
	// An older seq that was committed is acknowledged too; an unused one is refused.
	b.sendRaw(opJSON(5, 1, `["!"]`))
	b.expect(TypeAck)
	b.sendRaw(opJSON(1, 0, `["hi"]`))
	b.expectInto(TypeAck, &ack)
	if ack.Version != 1 {
		t.Fatalf("old seq ack %+v", ack)
	}
	b.sendRaw(opJSON(3, 0, `["hi"]`))
	b.expectError(CodeSeqNotIncreasing)
}

func TestExactlyOnceAfterRestart(t *testing.T) {
	db, err := storage.Open(t.TempDir()+"/f.db", storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := NewHub(db, Options{})
	ctx := context.Background()
	if _, err := h.Create(ctx, "rest", ""); err != nil {
		t.Fatal(err)
	}
	v, err := h.Submit(ctx, "rest", Submission{Op: ot.Op{{Insert: "x"}}, Session: "key1", Seq: 1})
	if err != nil || v != 1 {
		t.Fatalf("submit %d %v", v, err)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	h2 := NewHub(db, Options{})
	defer h2.Close(ctx)
	// Not auto-created over REST.
	if _, err := h2.Submit(ctx, "nope", Submission{Op: ot.Op{{Insert: "x"}}}); AsError(err).Code != CodeNotFound {
		t.Fatalf("submit to missing doc: %v", err)
	}
	v, err = h2.Submit(ctx, "rest", Submission{Op: ot.Op{{Insert: "x"}}, Session: "key1", Seq: 1})
	if err != nil || v != 1 {
		t.Fatalf("retry after restart: %d %v", v, err)
	}
	if text, v := textOf(t, db, "rest"); text != "x" || v != 1 {
		t.Fatalf("%q@%d", text, v)
	}
}

func TestFailedCommit(t *testing.T) {
	ts, fs := newFaultServer(t, Options{})
	a := dialTest(t, ts.url+"fail")
	a.hello(ClientMsg{})
	b := dialTest(t, ts.url+"fail")
	b.hello(ClientMsg{})
	fs.failNext.Store(1)
	a.sendRaw(opJSON(1, 0, `["lost"]`))
	if e := a.expectError(CodeInternal); e.Seq != 1 || e.Message != "internal error" {
		t.Fatalf("error %+v", e)
	}
	if text, v := textOf(t, ts.db, "fail"); text != "" || v != 0 {
		t.Fatalf("%q@%d", text, v)
	}
	a.sendRaw(opJSON(1, 0, `["kept"]`)) // The same seq again: it was never committed.
	var ack Ack
	a.expectInto(TypeAck, &ack)
	if ack.Version != 1 {
		t.Fatalf("ack %+v", ack)
	}
	var op OpMsg
	b.expectInto(TypeOp, &op) // B never saw the failed op.
	if op.Version != 1 || op.Op[0].Insert != "kept" {
		t.Fatalf("broadcast %+v", op)
	}
}

func TestBatchingWhileCommitting(t *testing.T) {
	ts, fs := newFaultServer(t, Options{})
	a := dialTest(t, ts.url+"batch")
	a.hello(ClientMsg{})
	b := dialTest(t, ts.url+"batch")
	b.hello(ClientMsg{})
	fs.appendMu.Lock() // Stall the first commit; later ops queue behind it.
	a.sendRaw(opJSON(1, 0, `["a"]`))
	eventually(t, "a in flight", func() bool { return pendingOps(ts.hub, "batch") == 1 })
	b.sendRaw(opJSON(1, 0, `["b"]`)) // Based on 0 too: rebased over a's in-flight op.
	eventually(t, "b queued", func() bool { return pendingOps(ts.hub, "batch") == 2 })
	c := dialTest(t, ts.url+"batch")
	w := c.hello(ClientMsg{}) // Sees only committed state.
	fs.appendMu.Unlock()
	if w.Version != 0 || *w.Text != "" {
		t.Fatalf("welcome saw uncommitted ops: %+v", w)
	}
	var ops []OpMsg
	for len(ops) < 2 {
		var op OpMsg
		c.expectInto(TypeOp, &op)
		ops = append(ops, op)
	}
	if ops[0].Version != 1 || ops[1].Version != 2 {
		t.Fatalf("out of order %+v", ops)
	}
	if text, _ := textOf(t, ts.db, "batch"); text != "ba" {
		t.Fatalf("text %q", text)
	}
}

func TestSingleLoadForConcurrentJoins(t *testing.T) {
	ts, fs := newFaultServer(t, Options{})
	if _, err := ts.hub.Create(context.Background(), "crowd", "hello"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		c := dialTest(t, ts.url+"crowd")
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.send(ClientMsg{Type: TypeHello})
		}()
		t.Cleanup(func() {})
		defer func() {
			var w Welcome
			c.expectInto(TypeWelcome, &w)
			if *w.Text != "hello" {
				t.Errorf("text %q", *w.Text)
			}
		}()
	}
	wg.Wait()
	eventually(t, "joins", func() bool {
		p, _ := ts.hub.Participants(context.Background(), "crowd")
		return len(p) == 10
	})
	if n := fs.loads.Load(); n != 1 {
		t.Fatalf("loaded %d times", n)
	}
}

func TestIdleUnload(t *testing.T) {
	ts, fs := newFaultServer(t, Options{IdleUnload: 20 * time.Millisecond})
	a := dialTest(t, ts.url+"idle")
	a.hello(ClientMsg{})
	a.sendRaw(opJSON(1, 0, `["abc"]`))
	a.expect(TypeAck)
	a.close()
	eventually(t, "unload", func() bool { return ts.hub.lookupRoom("idle") == nil })
	ld, err := ts.db.Load(context.Background(), "idle")
	if err != nil || ld.Snapshot.Version != 1 || ld.Snapshot.Text != "abc" {
		t.Fatalf("final snapshot %+v %v", ld, err)
	}
	// Joins racing the unload are never lost.
	for i := 0; i < 20; i++ {
		c := dialTest(t, ts.url+"idle")
		w := c.hello(ClientMsg{})
		if *w.Text != "abc" || w.Version != 1 {
			t.Fatalf("welcome %+v", w)
		}
		c.close()
		if i%2 == 0 {
			time.Sleep(time.Duration(i) * time.Millisecond) // Vary the race; not waiting for anything.
		}
	}
	if fs.loads.Load() < 2 {
		t.Fatalf("never reloaded")
	}
}

func TestShutdownFlushesAndCloses(t *testing.T) {
	ts, fs := newFaultServer(t, Options{})
	a := dialTest(t, ts.url+"down")
	a.hello(ClientMsg{})
	fs.appendMu.Lock()
	a.sendRaw(opJSON(1, 0, `["in flight"]`))
	eventually(t, "op queued", func() bool { return pendingOps(ts.hub, "down") == 1 })
	closed := make(chan error, 1)
	go func() { closed <- ts.hub.Close(context.Background()) }()
	fs.appendMu.Unlock()
	var ack Ack
	a.expectInto(TypeAck, &ack) // The commit in flight finishes and is acknowledged...
	if code := a.closed(); code != websocket.StatusGoingAway {
		t.Fatalf("close code %d", code) // ...then the session is closed with 1001.
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	ld, err := ts.db.Load(context.Background(), "down")
	if err != nil || ld.Snapshot.Version != 1 {
		t.Fatalf("no final snapshot: %+v %v", ld.Snapshot, err)
	}
	if _, err := ts.hub.Submit(context.Background(), "down", Submission{Op: ot.Op{{Insert: "x"}}}); AsError(err).Code != CodeUnavailable {
		t.Fatalf("submit after close: %v", err)
	}
	late := dialTest(t, ts.url+"down")
	if code := late.closed(); code != websocket.StatusGoingAway {
		t.Fatalf("late close code %d", code)
	}
}

func TestDeleteClosesSessions(t *testing.T) {
	ts := newTestServer(t, Options{})
	a := dialTest(t, ts.url+"gone")
	a.hello(ClientMsg{})
	sub, err := ts.hub.Subscribe(context.Background(), "gone", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := ts.hub.Delete(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	if code := a.closed(); code != CloseDeleted {
		t.Fatalf("close code %d", code)
	}
	if _, err := ts.db.Meta(context.Background(), "gone"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("still stored: %v", err)
	}
	for {
		if _, err := sub.Next(context.Background()); err != nil {
			if AsError(err).Code != CodeDeleted {
				t.Fatalf("subscription ended with %v", err)
			}
			break
		}
	}
	// Deleting a document that is not open goes straight to storage.
	if _, err := ts.hub.Create(context.Background(), "cold", ""); err != nil {
		t.Fatal(err)
	}
	if err := ts.hub.Delete(context.Background(), "cold"); err != nil {
		t.Fatal(err)
	}
	if err := ts.hub.Delete(context.Background(), "cold"); AsError(err).Code != CodeNotFound {
		t.Fatalf("second delete: %v", err)
	}
}

// pendingOps is the number of ops of an open document not yet committed.
func pendingOps(h *Hub, id string) int {
	n := -1
	if r := h.lookupRoom(id); r != nil {
		_ = r.do(context.Background(), func() { n = len(r.inflight) + len(r.queued) })
	}
	return n
}

func TestSessionTakeover(t *testing.T) {
	ts := newTestServer(t, Options{})
	a := dialTest(t, ts.url+"take")
	w := a.hello(ClientMsg{})
	a.sendRaw(opJSON(1, 0, `["x"]`))
	a.expect(TypeAck)
	// The same session connects again (the old socket is not yet seen dead),
	// claiming a version the server never had: it gets the text.
	b := dialTest(t, ts.url+"take")
	w2 := b.hello(ClientMsg{Key: w.Key, Version: u64(40)})
	if w2.Text == nil || *w2.Text != "x" || w2.Version != 1 || len(w2.Peers) != 0 {
		t.Fatalf("welcome %+v", w2)
	}
	if code := a.closed(); code != CloseReplaced {
		t.Fatalf("old connection closed with %d", code)
	}
	b.sendRaw(opJSON(2, 1, `["y"]`)) // The seq continues across connections.
	b.expect(TypeAck)
	b.sendRaw(opJSON(2, 1, `["y"]`))
	var ack Ack
	b.expectInto(TypeAck, &ack)
	if ack.Version != 2 {
		t.Fatalf("re-ack %+v", ack)
	}
}

// TestShutdownDeadlineCutsCloseHandshake: a client that never answers the
// server's close frame (it stopped reading) does not hold Close past its
// deadline for the websocket library's 5 s close handshake.
func TestShutdownDeadlineCutsCloseHandshake(t *testing.T) {
	ts := newTestServer(t, Options{})
	conn, _, err := websocket.Dial(context.Background(), ts.url+"mute", &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if err := conn.Write(context.Background(), websocket.MessageText, []byte(`{"type":"hello"}`)); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := conn.Read(context.Background()); err != nil || !strings.Contains(string(msg), `"welcome"`) {
		t.Fatalf("no welcome: %s %v", msg, err) // Joined; from now on the client reads nothing.
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := ts.hub.Close(ctx); err == nil {
		t.Fatal("Close reported every session closed in time, though the client never answered")
	}
	// The handshake alone would take 5 s; anything near it means Close waited for it.
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Close took %v with a 100 ms deadline", took)
	}
}

func TestShutdownClosesSessionsBeforeHello(t *testing.T) {
	ts := newTestServer(t, Options{HelloTimeout: time.Hour})
	c := dialTest(t, ts.url+"early")
	c.sendRaw(`{"type":"ping"}`)
	c.expect(TypePong) // The session is running.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.hub.Close(ctx); err != nil {
		t.Fatalf("close did not end the session without hello: %v", err)
	}
	if code := c.closed(); code != websocket.StatusGoingAway {
		t.Fatalf("close code %d", code)
	}
}

func TestCatchUpAndRebaseFromStorage(t *testing.T) {
	ts := newTestServer(t, Options{OpWindow: 2, CatchUpLimit: 5})
	a := dialTest(t, ts.url+"old")
	w := a.hello(ClientMsg{})
	for i := uint64(0); i < 6; i++ {
		a.sendRaw(opJSON(i+1, i, `["`+string(rune('a'+i))+`"]`))
		a.expect(TypeAck)
	}
	// Six ops, two in memory: a client at version 1 gets 2..6, older ones from storage.
	b := dialTest(t, ts.url+"old")
	wb := b.hello(ClientMsg{Version: u64(1)})
	if wb.Text != nil || len(wb.Ops) != 5 || wb.Ops[0].Version != 2 || wb.Ops[4].Version != 6 || wb.Ops[0].Session != w.Session {
		t.Fatalf("catch-up %+v", wb)
	}
	// An op based on version 1 is rebased over the five after it.
	b.sendRaw(opJSON(1, 1, `[1,"|"]`))
	var ack Ack
	b.expectInto(TypeAck, &ack)
	if text, _ := textOf(t, ts.db, "old"); text != "fedcba|" || ack.Version != 7 {
		t.Fatalf("%q ack %+v", text, ack)
	}
	// Beyond CatchUpLimit: the welcome carries the text and old bases are refused.
	c := dialTest(t, ts.url+"old")
	if wc := c.hello(ClientMsg{Version: u64(1)}); wc.Text == nil || *wc.Text != "fedcba|" {
		t.Fatalf("too old welcome %+v", wc)
	}
	c.sendRaw(opJSON(1, 1, `["z"]`))
	c.expectError(CodeVersionTooOld)
}

// TestRejoinAfterRecreate: a client of a deleted document that comes back
// with its session and version after the id was created again gets the new
// document's text, not its ops on the old text, and its op on the old base is
// refused, not rebased over ops it never saw.
func TestRejoinAfterRecreate(t *testing.T) {
	ts := newTestServer(t, Options{})
	ctx := context.Background()
	a := dialTest(t, ts.url+"again")
	w := a.hello(ClientMsg{})
	for i := uint64(0); i < 3; i++ {
		a.sendRaw(opJSON(i+1, i, `["a"]`))
		a.expect(TypeAck)
	}
	if err := ts.hub.Delete(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	if code := a.closed(); code != CloseDeleted {
		t.Fatalf("close code %d", code)
	}
	if m, err := ts.hub.Create(ctx, "again", "new"); err != nil || m.Version != 4 {
		t.Fatalf("re-create: %+v, %v; want version 4", m, err)
	}
	for _, v := range []uint64{1, 3} {
		b := dialTest(t, ts.url+"again")
		wb := b.hello(ClientMsg{Key: w.Key, Version: u64(v)})
		if wb.Text == nil || *wb.Text != "new" || wb.Version != 4 || len(wb.Ops) != 0 {
			t.Fatalf("rejoin at the deleted document's %d: %+v", v, wb)
		}
		b.sendRaw(opJSON(4, v, `["z"]`))
		b.expectError(CodeVersionTooOld)
		b.conn.CloseNow()
	}
	if text, _ := textOf(t, ts.db, "again"); text != "new" {
		t.Fatalf("text %q", text)
	}
}

// TestResumeAfterDeleteDoesNotCreate: a client of a deleted document that
// comes back (offline while it was deleted) is told it was deleted; its
// hello does not create an empty document under that id, onto which it
// would rebase its offline edits as if the rest had been erased. Such a
// client names the version it has or its session id (with its key, asking
// for the text after a desync; or, built before keys, alone).
func TestResumeAfterDeleteDoesNotCreate(t *testing.T) {
	ts := newTestServer(t, Options{})
	a := dialTest(t, ts.url+"asleep")
	w := a.hello(ClientMsg{})
	a.sendRaw(opJSON(1, 0, `["text"]`))
	a.expect(TypeAck)
	a.conn.CloseNow()
	if err := ts.hub.Delete(context.Background(), "asleep"); err != nil {
		t.Fatal(err)
	}
	for _, h := range []ClientMsg{
		{Type: TypeHello, Key: w.Key, Version: u64(1)},
		{Type: TypeHello, Key: NewKey(), Version: u64(1)},
		{Type: TypeHello, Key: w.Key, Session: w.Session},
		{Type: TypeHello, Session: "0b7d3f0e-7d1f-4b8e-9d7e-2f0c1a9b6e11"},
	} {
		b := dialTest(t, ts.url+"asleep")
		b.send(h)
		b.expectError(CodeDeleted)
		if code := b.closed(); code != CloseDeleted {
			t.Fatalf("resume %+v: close code %d, want %d", h, code, CloseDeleted)
		}
	}
	if _, err := ts.db.Meta(context.Background(), "asleep"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the deleted document after the resumes: %v, want not found", err)
	}
	// A fresh page (no session) still creates it.
	if w := dialTest(t, ts.url+"asleep").hello(ClientMsg{}); w.Text == nil || *w.Text != "" {
		t.Fatalf("fresh join: %+v", w)
	}
}

// TestConcurrentFirstJoins opens a document that does not exist yet from
// many connections at once: every one is welcomed to the same new document,
// even when a room started loading before another joiner's create committed.
func TestConcurrentFirstJoins(t *testing.T) {
	ts := newTestServer(t, Options{})
	for round := range 5 {
		id := fmt.Sprintf("fresh%d", round)
		clients := make([]*testClient, 32)
		for i := range clients {
			clients[i] = dialTest(t, ts.url+id)
		}
		for _, c := range clients {
			c.send(ClientMsg{Type: TypeHello})
		}
		for i, c := range clients {
			var w Welcome
			c.expectInto(TypeWelcome, &w)
			if w.Version != 0 || w.Text == nil || *w.Text != "" {
				t.Fatalf("round %d client %d: welcome %+v", round, i, w)
			}
		}
	}
}

// TestRoomMemoryBounded: a room that stays open keeps a bounded op window
// and a bounded cache of session seqs, however many sessions wrote to it
// (here one per Idempotency-Key, as REST writes make them), and exactly-once
// still holds for a session whose entry was forgotten: storage answers.
func TestRoomMemoryBounded(t *testing.T) {
	// The attached session gets every op at once: a queue to match.
	const conns = 20
	bound := seqCacheFactor * conns
	ts := newTestServer(t, Options{OpWindow: 40, MaxConnsPerDoc: conns, SendQueue: 4 * bound})
	ctx := context.Background()
	keep := dialTest(t, ts.url+"busy") // Keeps the room open.
	kw := keep.hello(ClientMsg{})
	keep.sendRaw(opJSON(1, 0, `["x"]`))
	keep.expect(TypeAck)
	n := 3*bound + 10
	var wg sync.WaitGroup
	versions, errs := make([]uint64, n), make([]error, n)
	for i := range n {
		wg.Go(func() {
			versions[i], errs[i] = ts.hub.Submit(ctx, "busy", Submission{Base: 1, Op: ot.Op{{Insert: "a"}},
				Session: fmt.Sprintf("idem-%032x", i), Seq: 1})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-keep.done:
		t.Fatalf("the attached session was closed: %v", keep.err)
	default:
	}
	inRoom(t, ts.hub, "busy", func(r *room) {
		if len(r.seqs) > bound {
			t.Errorf("%d cached seqs, bound %d", len(r.seqs), bound)
		}
		if _, ok := r.seqs[kw.Session]; !ok {
			t.Errorf("the attached session's seq was forgotten: attached %v, %d cached", r.byID[kw.Session] != nil, len(r.seqs))
		}
		if max := r.hub.opts.OpWindow + r.hub.opts.OpWindow/windowSlack; len(r.window) >= max || len(r.window) < r.hub.opts.OpWindow {
			t.Errorf("window of %d ops, want %d..%d", len(r.window), r.hub.opts.OpWindow, max-1)
		}
		if len(r.seqs) > n/2 {
			t.Errorf("%d of %d sessions still cached: none forgotten", len(r.seqs), n)
		}
	})
	// Every key retried: answered with its original version, nothing applied twice.
	text, head := textOf(t, ts.db, "busy")
	for i := range n {
		v, err := ts.hub.Submit(ctx, "busy", Submission{Base: 1, Op: ot.Op{{Insert: "a"}},
			Session: fmt.Sprintf("idem-%032x", i), Seq: 1})
		if err != nil || v != versions[i] {
			t.Fatalf("retry of key %d: version %d, %v; first answer %d", i, v, err, versions[i])
		}
	}
	if text2, head2 := textOf(t, ts.db, "busy"); text2 != text || head2 != head || head != uint64(n)+1 {
		t.Fatalf("after retries %d ops (was %d, want %d)", head2, head, n+1)
	}
}

// TestWelcomeTextShared: joiners of a large document at the same version get
// the text encoded once (byte for byte what encoding/json writes, escapes
// and all); an op drops the cached encoding (it would pin the old text), and
// the next joiner gets the new text.
func TestWelcomeTextShared(t *testing.T) {
	ts := newTestServer(t, Options{})
	line := "<b>\"Ünïcödé\" & 🎉</b>\t\\\n"
	text := strings.Repeat(line, cachedTextMin/len(line)+1)
	if _, err := ts.hub.Create(context.Background(), "big", text); err != nil {
		t.Fatal(err)
	}
	join := func() Welcome { return dialTest(t, ts.url+"big").hello(ClientMsg{}) }
	w1 := join()
	w2 := join()
	if w1.Text == nil || *w1.Text != text || w2.Text == nil || *w2.Text != text {
		t.Fatal("welcome text differs from the document")
	}
	inRoom(t, ts.hub, "big", func(r *room) {
		cached := r.textCache.b
		want, err := json.Marshal(text)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(cached, want) {
			t.Errorf("cache of %d bytes; want encoding/json's %d bytes", len(cached), len(want))
		}
	})
	if _, err := ts.hub.Submit(context.Background(), "big", Submission{Base: 0, Op: ot.Op{{Insert: "¡"}}}); err != nil {
		t.Fatal(err)
	}
	inRoom(t, ts.hub, "big", func(r *room) {
		if r.textCache.b != nil || r.snapCache.JSON != nil {
			t.Errorf("caches of version 0 kept at version %d", r.head)
		}
	})
	w3 := join()
	if w3.Text == nil || *w3.Text != "¡"+text || w3.Version != 1 {
		t.Fatalf("welcome after an op: version %d, text starts %q", w3.Version, (*w3.Text)[:8])
	}
}

// TestSubscriberOpPayloadEncodedOnce: a live op reaches every subscriber
// with one shared payload, the op as encoding/json writes it without its
// type (what SSE sends as data), so no subscriber encodes it again.
func TestSubscriberOpPayloadEncodedOnce(t *testing.T) {
	ts := newTestServer(t, Options{})
	ctx := context.Background()
	if _, err := ts.hub.Create(ctx, "d", ""); err != nil {
		t.Fatal(err)
	}
	var subs []*Subscription
	for range 2 {
		sub, err := ts.hub.Subscribe(ctx, "d", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if ev, err := sub.Next(ctx); err != nil || ev.Kind != EventSnapshot {
			t.Fatalf("first event %+v, %v", ev, err)
		}
		subs = append(subs, sub)
	}
	op := ot.Op{{Insert: "<é&🎉>"}}
	if _, err := ts.hub.Submit(ctx, "d", Submission{Base: 0, Op: op, Session: "idem-00000000000000000000000000000001", Seq: 4}); err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(OpMsg{Version: 1, Op: op, Session: "idem-00000000000000000000000000000001", Seq: 4})
	if err != nil {
		t.Fatal(err)
	}
	var first []byte
	for i, sub := range subs {
		ev, err := sub.Next(ctx)
		if err != nil || ev.Kind != EventOp || string(ev.JSON) != string(want) {
			t.Fatalf("subscriber %d: %+v (JSON %s), %v; want JSON %s", i, ev, ev.JSON, err, want)
		}
		if i == 0 {
			first = ev.JSON
		} else if &first[0] != &ev.JSON[0] {
			t.Error("each subscriber got its own encoding")
		}
	}
}

// TestSubscriptionReady: Ready hands over, in order and without blocking,
// the catch-up backlog and then what the room has sent, up to max.
func TestSubscriptionReady(t *testing.T) {
	ts := newTestServer(t, Options{})
	ctx := context.Background()
	if _, err := ts.hub.Create(ctx, "d", ""); err != nil {
		t.Fatal(err)
	}
	submit := func(v uint64) {
		t.Helper()
		s := Submission{Base: v, Op: ot.Op{{Insert: "x"}}, Session: "idem-00000000000000000000000000000002", Seq: v + 1}
		if _, err := ts.hub.Submit(ctx, "d", s); err != nil {
			t.Fatal(err)
		}
	}
	for v := range uint64(3) {
		submit(v)
	}
	sub, err := ts.hub.Subscribe(ctx, "d", u64(0)) // A backlog of ops 1..3.
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for v := range uint64(3) {
		submit(3 + v) // Ops 4..6 reach the subscription's queue.
	}
	var got []Event
	for deadline := time.Now().Add(10 * time.Second); len(got) < 6; {
		if time.Now().After(deadline) {
			t.Fatalf("%d events after 10 s", len(got))
		}
		got = sub.Ready(got, 6)
	}
	if more := sub.Ready(nil, 10); len(more) != 0 {
		t.Fatalf("Ready returned %d events with none sent", len(more))
	}
	for i, ev := range got {
		if ev.Kind != EventOp || ev.Version != uint64(i+1) {
			t.Fatalf("event %d: kind %v version %d, want op %d", i, ev.Kind, ev.Version, i+1)
		}
	}
	submit(6)
	submit(7)
	if ev, err := sub.Next(ctx); err != nil || ev.Version != 7 {
		t.Fatalf("Next: %+v, %v", ev, err)
	}
	var one []Event
	for len(one) == 0 {
		one = sub.Ready(one, 1)
	}
	if len(one) != 1 || one[0].Version != 8 {
		t.Fatalf("Ready with max 1: %+v", one)
	}
}

// TestSingleSessionFingerprint: a Submission.Single session (a REST
// Idempotency-Key) answers a retry with its seq by the first version and
// refuses another seq, from memory and, after a restart, from storage.
func TestSingleSessionFingerprint(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "f.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Create(ctx, "d", ""); err != nil {
		t.Fatal(err)
	}
	first := Submission{Op: ot.Op{{Insert: "a"}}, Session: "idem-k", Seq: 77, Single: true}
	other := first
	other.Seq, other.Op = 78, ot.Op{{Insert: "b"}}
	for round := range 2 {
		h := NewHub(db, Options{})
		if round == 0 {
			if v, err := h.Submit(ctx, "d", first); err != nil || v != 1 {
				t.Fatalf("first: %d %v", v, err)
			}
		}
		if v, err := h.Submit(ctx, "d", first); err != nil || v != 1 {
			t.Errorf("round %d: retry got %d %v, want version 1", round, v, err)
		}
		if _, err := h.Submit(ctx, "d", other); AsError(err).Code != CodeIdempotencyMismatch {
			t.Errorf("round %d: another request under the key: %v", round, err)
		}
		if err := h.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if text, _ := textOf(t, db, "d"); text != "a" {
		t.Fatalf("text %q", text)
	}
	// A key stored before fingerprints (seq 1) answers its retries as then.
	h := NewHub(db, Options{})
	defer h.Close(ctx)
	old := Submission{Base: 1, Op: ot.Op{{Skip: 1}, {Insert: "o"}}, Session: "idem-old", Seq: 1}
	if v, err := h.Submit(ctx, "d", old); err != nil || v != 2 {
		t.Fatalf("a request of the old build: %d %v", v, err)
	}
	retry := old
	retry.Seq, retry.Single = 1<<52+5, true
	if v, err := h.Submit(ctx, "d", retry); err != nil || v != 2 {
		t.Errorf("its retry after the upgrade: %d %v, want version 2", v, err)
	}
}

// TestSubscriberSnapshotEncodedOnce: the subscribers that start with a
// snapshot of a large text at the same version share one event: its text
// and its payload (what SSE sends as data, byte for byte what encoding/json
// writes) are built once, not once per viewer on the room's goroutine.
func TestSubscriberSnapshotEncodedOnce(t *testing.T) {
	ts := newTestServer(t, Options{})
	ctx := context.Background()
	text := strings.Repeat("<é&🎉>\u2028\"\\ ", cachedTextMin/8)
	if _, err := ts.hub.Create(ctx, "d", text); err != nil {
		t.Fatal(err)
	}
	snapshot := func() Event {
		t.Helper()
		sub, err := ts.hub.Subscribe(ctx, "d", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sub.Close)
		ev, err := sub.Next(ctx)
		if err != nil || ev.Kind != EventSnapshot {
			t.Fatalf("first event %+v, %v", ev.Kind, err)
		}
		return ev
	}
	first, second := snapshot(), snapshot()
	want, err := json.Marshal(struct {
		Version uint64 `json:"version"`
		Text    string `json:"text"`
	}{0, text})
	if err != nil {
		t.Fatal(err)
	}
	if first.Text != text || string(first.JSON) != string(want) {
		t.Fatalf("snapshot text %d bytes, payload %.80s…; want %.80s…", len(first.Text), first.JSON, want)
	}
	if len(second.JSON) == 0 || &first.JSON[0] != &second.JSON[0] {
		t.Error("each subscriber got its own encoding of the snapshot")
	}
	if _, err := ts.hub.Submit(ctx, "d", Submission{Base: 0, Op: ot.Op{{Insert: "!"}}}); err != nil {
		t.Fatal(err)
	}
	if third := snapshot(); third.Version != 1 || third.Text != "!"+text || !strings.HasPrefix(string(third.JSON), `{"version":1,"text":"!`) {
		t.Errorf("snapshot after an op: version %d, payload %.40s…", third.Version, third.JSON)
	}
}

// TestBacklogDoesNotPin: a subscription's consumed backlog events, a
// snapshot's text among them, are let go: a viewer of an idle document must
// not keep the snapshot it started with for the rest of its stream.
func TestBacklogDoesNotPin(t *testing.T) {
	orig := []Event{{Kind: EventSnapshot, Text: "big text", JSON: []byte("{}")}, {Kind: EventPresence}}
	s := &Subscription{backlog: orig, ch: make(chan Event, 1), done: make(chan struct{})}
	if ev, err := s.Next(context.Background()); err != nil || ev.Text != "big text" {
		t.Fatalf("Next: %+v, %v", ev, err)
	}
	if evs := s.Ready(nil, 4); len(evs) != 1 || evs[0].Kind != EventPresence {
		t.Fatalf("Ready: %+v", evs)
	}
	if orig[0].Text != "" || orig[0].JSON != nil || orig[1].Kind != "" || s.backlog != nil {
		t.Errorf("consumed backlog kept: %+v, backlog %v", orig, s.backlog)
	}
}

// TestSubscriptionErr: Err is nil while a subscription lives, and says why
// it ended (deleted) as soon as it has, before its consumer has taken the
// events it still holds and whatever its consumer's own context does.
func TestSubscriptionErr(t *testing.T) {
	ts := newTestServer(t, Options{})
	ctx := context.Background()
	if _, err := ts.hub.Create(ctx, "d", "abc"); err != nil {
		t.Fatal(err)
	}
	sub, err := ts.hub.Subscribe(ctx, "d", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Err(); err != nil {
		t.Fatalf("Err of a live subscription: %v", err)
	}
	if err := ts.hub.Delete(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if e := AsError(sub.Err()); e == nil || e.Code != CodeDeleted {
		t.Fatalf("Err after the delete: %v, want deleted", sub.Err())
	}
	if ev, err := sub.Next(ctx); err != nil || ev.Kind != EventSnapshot {
		t.Fatalf("the snapshot it held: %+v, %v", ev, err)
	}
}
