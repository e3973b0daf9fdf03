package collab

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/foliodocs/folio/storage"
)

// busTurnNodes is two nodes on one bbolt file and bus, each serving
// WebSockets, with a poll too slow to matter and no presence on the bus:
// nothing but what a test does gives a room a turn. Node a commits through
// a gatedStore. "d" holds "".
func busTurnNodes(t *testing.T) (gate *gatedStore, a, b *testServer) {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "f.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	gate = &gatedStore{DB: db}
	opts := Options{Bus: OpsOnlyBus{&MemBus{}}, BusPoll: time.Hour}
	a = newTestServerStore(t, gate, db, opts) // Cleaned up last: it closes db.
	b = newTestServerStore(t, db, nil, opts)
	if _, err := db.Create(context.Background(), "d", ""); err != nil {
		t.Fatal(err)
	}
	return gate, a, b
}

// joinQuiet connects a client to "d" on ts and waits until its room has
// announced it (no presence timer pending), so that the room takes no turn
// of its own after that.
func joinQuiet(t *testing.T, ts *testServer) *testClient {
	t.Helper()
	c := dialTest(t, ts.url+"d")
	c.hello(ClientMsg{})
	eventually(t, "presence flushed", func() bool {
		quiet := false
		inRoom(t, ts.hub, "d", func(r *room) { quiet = r.presTimer == nil })
		return quiet
	})
	return c
}

// TestBusRemoteOpInCommitTurn: node b commits while node a's room has a
// commit in flight, so a applies b's op in the turn its own commit ends.
// a's client gets that op in that turn, after its ack, not at the room's
// next turn (here never: nothing else happens in the room).
func TestBusRemoteOpInCommitTurn(t *testing.T) {
	gate, a, b := busTurnNodes(t)
	ctx := context.Background()
	c := joinQuiet(t, a)
	gate.armStored()
	c.sendRaw(opJSON(1, 0, `["a"]`))
	<-gate.entered // Version 1 is stored; a's commit is still in flight.
	if v, err := b.hub.Submit(ctx, "d", Submission{Base: 1, Op: insertAt(1, "b")}); err != nil || v != 2 {
		t.Fatalf("b: %d, %v", v, err)
	}
	close(gate.release)
	var ack Ack
	c.expectInto(TypeAck, &ack)
	if ack.Seq != 1 || ack.Version != 1 {
		t.Fatalf("ack %+v, want seq 1 at version 1", ack)
	}
	var op OpMsg
	c.expectInto(TypeOp, &op)
	if op.Version != 2 || !reflect.DeepEqual(op.Op, insertAt(1, "b")) {
		t.Fatalf("op %+v, want b's op at version 2", op)
	}
}

// TestBusGoneElsewhereInBusyTurn: a delivery that shows the document was
// deleted and created again elsewhere reaches node a's room while it is
// busy; the room ends in the turn it reads it, closing its sessions with
// deleted, not at its next turn (here never).
func TestBusGoneElsewhereInBusyTurn(t *testing.T) {
	_, a, b := busTurnNodes(t)
	ctx := context.Background()
	if _, err := b.hub.Submit(ctx, "d", Submission{Base: 0, Op: insertAt(0, "x")}); err != nil {
		t.Fatal(err)
	}
	c := joinQuiet(t, a)
	r := a.hub.lookupRoom("d")
	busy, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- r.do(ctx, func() { close(busy); <-release }) }()
	<-busy
	if err := b.hub.Delete(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	meta, err := b.hub.Create(ctx, "d", "new")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.hub.Submit(ctx, "d", Submission{Base: meta.Version, Op: insertAt(0, "N")}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code := c.closed(); code != CloseDeleted {
		t.Fatalf("closed with %d, want %d", code, CloseDeleted)
	}
	for len(c.msgs) > 0 {
		if m := <-c.msgs; msgType(m) == TypeOp {
			t.Fatalf("the old document's client got %s", m)
		}
	}
}
