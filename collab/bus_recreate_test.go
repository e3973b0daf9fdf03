package collab

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foliodocs/folio/storage"
)

// recreateNodes is two hubs on one bbolt file and bus, with a poll too
// slow to matter: only bus deliveries and clients make a room look at the
// store. Document "d" holds "old" and one op; b's room has it open at 1.
func recreateNodes(t *testing.T, bus *MemBus) (a, b *Hub) {
	t.Helper()
	n := newTwoNodes(t, bus, time.Hour)
	a, b = n.a, n.b
	ctx := context.Background()
	if _, err := a.Create(ctx, "d", "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Submit(ctx, "d", Submission{Base: 0, Op: insertAt(3, "!")}); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// recreate deletes "d" through a (which has no room for it), creates it
// again with "new" (at base 2, past the tombstone of version 1) and commits
// one op there: version 3, text "Nnew".
func recreate(t *testing.T, a *Hub) {
	t.Helper()
	ctx := context.Background()
	if err := a.Delete(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	meta, err := a.Create(ctx, "d", "new")
	if err != nil || meta.Base != 2 {
		t.Fatalf("re-created at %+v, %v", meta, err)
	}
	if v, err := a.Submit(ctx, "d", Submission{Base: 2, Op: insertAt(0, "N")}); err != nil || v != 3 {
		t.Fatalf("op on the new document: %d, %v", v, err)
	}
}

// TestBusRecreatedElsewhere: a document deleted and created again through
// another node, then edited there, reaches this node's room as a gap (the
// new versions start past the tombstone). Catching up must not try to read
// the new document's ops from the old one's head (they are gone to it:
// the room would stay at the old text, every commit failing with conflict):
// the room ends as for a delete elsewhere, and the next one serves the new
// document.
func TestBusRecreatedElsewhere(t *testing.T) {
	a, b := recreateNodes(t, &MemBus{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sub, err := b.Subscribe(ctx, "d", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if ev, err := sub.Next(ctx); err != nil || ev.Kind != EventSnapshot || ev.Text != "old!" || ev.Version != 1 {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	recreate(t, a)
	for {
		ev, err := sub.Next(ctx)
		if err == nil {
			if ev.Kind == EventOp {
				t.Fatalf("an op of the new document reached the old one's subscriber: %+v", ev)
			}
			continue
		}
		if AsError(err).Code != CodeDeleted {
			t.Fatalf("the old document's subscription ended with %v, want deleted", err)
		}
		break
	}
	eventually(t, "node b serving the new document", func() bool {
		text, v := roomState(t, b, "d")
		return text == "Nnew" && v == 3
	})
}

// TestBusRecreatedSeenElsewhere: a client names a version of the new
// document (seen through another node) to a room that still has the old
// one. It is told to retry (unavailable), not version_ahead, and is not
// served the old text; the retry finds the new document.
func TestBusRecreatedSeenElsewhere(t *testing.T) {
	var drop atomic.Bool
	a, b := recreateNodes(t, &MemBus{Drop: func(string, []storage.OpRecord) bool { return drop.Load() }})
	roomState(t, b, "d")
	drop.Store(true) // Node b hears nothing of the new document.
	recreate(t, a)
	ctx := context.Background()
	sub, err := b.Subscribe(ctx, "d", u64(3))
	if err == nil {
		sub.Close()
		t.Fatal("a room with the old document accepted a version of the new one")
	}
	if code := AsError(err).Code; code != CodeUnavailable {
		t.Fatalf("subscribe at a version of the new document: %v, want unavailable", err)
	}
	eventually(t, "a retry served by the new document", func() bool {
		sub, err := b.Subscribe(ctx, "d", u64(2))
		if err != nil {
			return false
		}
		defer sub.Close()
		ev, err := sub.Next(ctx)
		return err == nil && ev.Kind == EventOp && ev.Version == 3
	})
}

// TestBusResendAckInOrder: a client whose op another node committed (its
// ack lost with that connection) resends it to a node that has not heard
// of that commit yet. Storage knows the (session, seq), so it is not
// applied again; but the ack must not overtake the ops under it: the
// client hears of every version up to it first, in order, as the protocol
// promises (else it sees a gap and resyncs).
func TestBusResendAckInOrder(t *testing.T) {
	var drop atomic.Bool
	bus := &MemBus{Drop: func(string, []storage.OpRecord) bool { return drop.Load() }}
	db, err := storage.Open(filepath.Join(t.TempDir(), "f.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Bus: bus, BusPoll: time.Hour}
	ta := newTestServerStore(t, db, db, opts) // Cleaned up last: it closes db.
	tb := newTestServerStore(t, db, nil, opts)
	ctx := context.Background()
	if _, err := db.Create(ctx, "d", ""); err != nil {
		t.Fatal(err)
	}
	roomState(t, ta.hub, "d") // Node a's room at 0 ...
	drop.Store(true)          // ... hears nothing from now on.
	key := NewKey()
	if _, err := tb.hub.Submit(ctx, "d", Submission{Base: 0, Op: insertAt(0, "a"), Session: "other", Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if v, err := tb.hub.Submit(ctx, "d", Submission{Base: 0, Op: insertAt(0, "b"), Session: SessionID(key), Seq: 1}); err != nil || v != 2 {
		t.Fatalf("the op on node b: %d, %v", v, err)
	}

	c := dialTest(t, ta.url+"d")
	if w := c.hello(ClientMsg{Key: key, Version: u64(0)}); w.Version != 0 {
		t.Fatalf("welcome at %d", w.Version)
	}
	c.sendRaw(opJSON(1, 0, `["b"]`))
	var versions []uint64
	for {
		b := c.next()
		switch msgType(b) {
		case TypeOp:
			var m OpMsg
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			versions = append(versions, m.Version)
			continue
		case TypeAck:
			var a Ack
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatal(err)
			}
			if a.Seq != 1 || a.Version != 2 {
				t.Fatalf("ack %+v, want seq 1 at version 2", a)
			}
		case TypePresence, TypeLeave:
			continue
		default:
			t.Fatalf("unexpected %s", b)
		}
		break
	}
	if !slices.Equal(versions, []uint64{1, 2}) {
		t.Fatalf("ops %v before the ack of version 2, want [1 2]", versions)
	}
	if text, v := textOf(t, db, "d"); text != "ba" || v != 2 {
		t.Fatalf("stored %q at %d", text, v)
	}
}

// TestBusCommitFindsDeleted: a commit that finds the document gone (another
// node deleted it, and this one has not looked at the store since) ends the
// room at once as a delete elsewhere: the op is refused with deleted and
// the sessions are closed with 4004, not refused one op at a time with
// not_found until the next poll.
func TestBusCommitFindsDeleted(t *testing.T) {
	bus := &MemBus{}
	db, err := storage.Open(filepath.Join(t.TempDir(), "f.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Bus: bus, BusPoll: time.Hour}
	ta := newTestServerStore(t, db, db, opts)
	tb := newTestServerStore(t, db, nil, opts)
	ctx := context.Background()
	if _, err := db.Create(ctx, "d", ""); err != nil {
		t.Fatal(err)
	}
	c := dialTest(t, ta.url+"d")
	c.hello(ClientMsg{})
	if err := tb.hub.Delete(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	c.sendRaw(opJSON(1, 0, `["x"]`))
	c.expectError(CodeDeleted)
	if code := c.closed(); code != CloseDeleted {
		t.Fatalf("closed with %d, want %d", code, CloseDeleted)
	}
	if _, err := db.Meta(ctx, "d"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("document after the delete: %v", err)
	}
}

// TestBusDeleteWhileGoneElsewhere: a Hub.Delete that reaches a room in the
// turn it found the document deleted and created again on another node
// (drainInbox runs it after a catch-up) is not answered by that room, which
// deletes nothing itself (the store holds the new document): Delete tries
// again with a room of its own, which deletes what the store has.
func TestBusDeleteWhileGoneElsewhere(t *testing.T) {
	var drop atomic.Bool
	a, b := recreateNodes(t, &MemBus{Drop: func(string, []storage.OpRecord) bool { return drop.Load() }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	roomState(t, b, "d")
	drop.Store(true) // Node b hears nothing of the new document.
	recreate(t, a)
	deleted := make(chan error, 1)
	inRoom(t, b, "d", func(r *room) {
		go func() { deleted <- b.Delete(ctx, "d") }()
		r.catchUp()   // Finds the document gone ...
		(<-r.inbox)() // ... and the Delete comes in the same turn.
	})
	if err := <-deleted; err != nil {
		t.Fatalf("delete while the room ended as deleted elsewhere: %v", err)
	}
	if _, err := b.Subscribe(ctx, "d", nil); AsError(err).Code != CodeNotFound {
		t.Fatalf("the new document after the delete: %v, want not_found", err)
	}
}

// TestBusGoneSeenElsewhere: a client names a version node b has not heard
// of, and catching up finds the document gone. Deleted elsewhere, the
// client hears deleted, as it would a moment later: an op is not refused
// with conflict, which only makes its client resend it. Deleted and created
// again, an op is told to retry (conflict), and the retry reaches the new
// document (TestBusRecreatedSeenElsewhere: the same for a subscription).
func TestBusGoneSeenElsewhere(t *testing.T) {
	type call func(b *Hub) error
	submit := func(base uint64) call {
		return func(b *Hub) error {
			_, err := b.Submit(context.Background(), "d", Submission{Base: base, Op: insertAt(0, "y")})
			return err
		}
	}
	subscribe := func(since uint64) call {
		return func(b *Hub) error {
			sub, err := b.Subscribe(context.Background(), "d", u64(since))
			if err == nil {
				sub.Close()
			}
			return err
		}
	}
	cases := []struct {
		name      string
		recreated bool
		call      call
		want      Code
	}{
		{"op/deleted", false, submit(2), CodeDeleted},
		{"subscribe/deleted", false, subscribe(2), CodeDeleted},
		{"op/recreated", true, submit(3), CodeConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var drop atomic.Bool
			a, b := recreateNodes(t, &MemBus{Drop: func(string, []storage.OpRecord) bool { return drop.Load() }})
			ctx := context.Background()
			roomState(t, b, "d")
			drop.Store(true) // Node b hears nothing from now on.
			if tc.recreated {
				recreate(t, a)
			} else {
				if _, err := a.Submit(ctx, "d", Submission{Base: 1, Op: insertAt(0, "x")}); err != nil {
					t.Fatal(err)
				}
				if err := a.Delete(ctx, "d"); err != nil {
					t.Fatal(err)
				}
			}
			if err := tc.call(b); AsError(err).Code != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
			if !tc.recreated {
				return
			}
			eventually(t, "a retry served by the new document", func() bool { return tc.call(b) == nil })
		})
	}
}
