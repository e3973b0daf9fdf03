package collab

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/foliodocs/folio/storage"
)

// TestSubscribeCatchUpNotCopiedOnTheRoom: a Subscribe's catch-up leaves
// the room as the records it holds, the ops its subscriber read (before
// the window) and the window itself, not as a copy made on the room
// goroutine (~0.5 ms for CatchUpLimit ops, BenchmarkRoomStorageReads);
// Next still gives every op after the version once, in order.
func TestSubscribeCatchUpNotCopiedOnTheRoom(t *testing.T) {
	ts := newTestServer(t, Options{OpWindow: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := dialTest(t, ts.url+"nocopy")
	a.hello(ClientMsg{})
	for i := range uint64(20) {
		a.sendRaw(opJSON(i+1, i, `["a"]`))
		a.expect(TypeAck)
	}
	r := ts.hub.lookupRoom("nocopy")
	sub := &Subscription{ch: make(chan Event, 16), done: make(chan struct{})}
	var rd *joinRead
	var window []storage.OpRecord // The room's, when it took sub.
	for {
		var need *readNeed
		var e *Error
		if err := r.do(ctx, func() { need, e = r.subscribe(sub, u64(2), rd); window = r.window }); err != nil || e != nil {
			t.Fatal(err, e)
		}
		if need == nil {
			break
		}
		rd, _ = ts.hub.readFor(ctx, "nocopy", need, rd)
	}
	defer sub.Close()
	if rd == nil || len(sub.ops.stored) == 0 || &sub.ops.stored[0] != &rd.ops[0] {
		t.Error("the ops before the window are not the ones the subscriber read")
	}
	if len(sub.ops.recent) != len(window) || &sub.ops.recent[0] != &window[0] {
		t.Error("the window's ops were copied on the room goroutine")
	}
	var ops []OpMsg
	for _, ev := range sub.Ready(nil, 100) {
		if ev.Kind == EventOp {
			ops = append(ops, *ev.Op)
		}
	}
	checkCatchUp(t, ops, 2, 20)
	if sub.ops.stored != nil || sub.ops.recent != nil {
		t.Error("the subscription keeps its catch-up after taking it")
	}
}

// TestLegacyResumeHolderReadOffTheRoom: a legacy hello (a session id, no
// key) by a named holder is refused when the session's last op was
// written under another name; when that op is older than the window, it
// is read on the hello's goroutine, so while the read is slow the room
// goes on serving the document's editors. The check itself still holds.
func TestLegacyResumeHolderReadOffTheRoom(t *testing.T) {
	ts, fs := newFaultServer(t, Options{OpWindow: 4})
	ts.peer.Authorize = func(token string) (Grant, error) { return Grant{Role: RoleEdit, Name: token}, nil }
	const legacy = "0b7d3f0e-7d1f-4b8e-9d7e-2f0c1a9b6e11"
	if _, err := ts.hub.Create(context.Background(), "holder", ""); err != nil {
		t.Fatal(err)
	}
	ann := dialTest(t, ts.url+"holder")
	ann.hello(ClientMsg{Token: "Ann", Session: legacy})
	ann.sendRaw(opJSON(1, 0, `["A"]`))
	ann.expect(TypeAck)
	ann.close()
	b := dialTest(t, ts.url+"holder")
	b.hello(ClientMsg{Token: "Bob"})
	v := uint64(1)
	edit := func() {
		b.sendRaw(opJSON(v, v, `["b"]`))
		v = nextAck(t, b).Version
	}
	for range 8 { // Ann's op leaves the window.
		edit()
	}
	release := fs.opsStall.hold(t)
	c := dialTest(t, ts.url+"holder")
	c.send(ClientMsg{Type: TypeHello, Token: "Ann", Session: legacy})
	eventually(t, "the read of the session's last op", func() bool { return fs.opsStall.held.Load() == 1 })
	edit() // Not held behind the read.
	release()
	c.expect(TypeWelcome)
	c.close()
	r := ts.hub.lookupRoom("holder")
	eventually(t, "Ann's leave", func() bool {
		held := true
		_ = r.do(context.Background(), func() { held = r.byID[legacy] != nil })
		return !held
	})
	m := dialTest(t, ts.url+"holder")
	m.send(ClientMsg{Type: TypeHello, Token: "Mallory", Session: legacy})
	m.expectError(CodeForbidden)
}

// TestWelcomeCatchUpEncodedOffTheRoom: a hello's catch-up leaves the room
// as the records it holds and is encoded on the hello's goroutine (up to
// CatchUpLimit ops, 4–5 ms of the room's time otherwise); the room takes
// those entries as they are and encodes only the ops committed since.
// The welcome then lists every op after the version once, in order.
func TestWelcomeCatchUpEncodedOffTheRoom(t *testing.T) {
	ts := newTestServer(t, Options{OpWindow: 16, OpsPerSecond: 1e6, OpBurst: 1e6, MessagesPerSec: 1e6})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := dialTest(t, ts.url+"enc")
	a.hello(ClientMsg{})
	var head uint64
	edit := func() {
		a.sendRaw(opJSON(head+1, head, `["a"]`))
		head = nextAck(t, a).Version
	}
	for range 100 {
		edit()
	}
	// The hello's part, driven here as Hub.join drives it.
	r := ts.hub.lookupRoom("enc")
	s := fakeSession(r, "c", "C")
	s.since = u64(2)
	var rd *joinRead
	var marked []byte // The entries the hello's goroutine encoded.
	for {
		var need *readNeed
		var e *Error
		if err := r.do(ctx, func() { need, e = r.join(s, rd) }); err != nil || e != nil {
			t.Fatal(err, e)
		}
		if need == nil {
			break
		}
		encode := need.encode.len()
		if rd, e = ts.hub.readFor(ctx, "enc", need, rd); e != nil {
			t.Fatal(e)
		}
		if encode == 0 {
			continue
		}
		if marked != nil || need.encFrom != 2 || uint64(encode) != head-2 {
			t.Fatalf("asked to encode %d ops after %d (again: %v), want the %d after 2", encode, need.encFrom, marked != nil, head-2)
		}
		// Valid JSON, but not as the room writes it: the welcome must carry
		// these bytes as they are.
		rd.enc = bytes.ReplaceAll(rd.enc, []byte("},{"), []byte("}, {"))
		marked = rd.enc[1:]
		for range 3 { // Committed while the hello's goroutine encoded.
			edit()
		}
	}
	defer func() { _ = r.do(ctx, func() { r.leave(s) }) }()
	if marked == nil {
		t.Fatal("the room encoded the catch-up itself")
	}
	welcome := s.out.take(nil)[0].data
	if !bytes.Contains(welcome, marked) {
		t.Error("the welcome does not carry the entries encoded off the room")
	}
	var w Welcome
	if err := json.Unmarshal(welcome, &w); err != nil {
		t.Fatal(err)
	}
	if w.Version != head || w.Text != nil {
		t.Fatalf("welcome at %d (text %v), want %d", w.Version, w.Text != nil, head)
	}
	checkCatchUp(t, w.Ops, 2, head)
}

// TestWelcomeCatchUpWhileEditing: a client resuming from far back while
// another edits gets its welcome's catch-up and then the live ops, every
// op after its version once, in order, whichever of them were committed
// while its catch-up was read and encoded off the room.
func TestWelcomeCatchUpWhileEditing(t *testing.T) {
	ts := newTestServer(t, Options{OpWindow: 8, OpsPerSecond: 1e6, OpBurst: 1e6, MessagesPerSec: 1e6})
	a := dialTest(t, ts.url+"busy")
	a.hello(ClientMsg{})
	for i := range uint64(200) {
		a.sendRaw(opJSON(i+1, i, `["a"]`))
		a.expect(TypeAck)
	}
	const more = 100
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range uint64(more) { // Acks unread: a's reader keeps them.
			a.sendRaw(opJSON(201+i, 200+i, `["b"]`))
		}
	}()
	defer func() { <-sent }()
	c := dialTest(t, ts.url+"busy")
	w := c.hello(ClientMsg{Version: u64(5)})
	ops := w.Ops
	for uint64(len(ops)) < 200+more-5 {
		var m OpMsg
		c.expectInto(TypeOp, &m)
		ops = append(ops, m)
	}
	checkCatchUp(t, ops, 5, 200+more)
}
