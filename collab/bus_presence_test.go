package collab

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// presenceNodes is two test servers ("nodes") on one bbolt file, joined by
// bus.
func presenceNodes(t *testing.T, bus Bus, poll time.Duration) (a, b *testServer) {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "f.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Bus: bus, BusPoll: poll}
	return newTestServerStore(t, db, db, opts), newTestServerStore(t, db, nil, opts)
}

// presenceOf waits for c's next presence message about session.
func presenceOf(c *testClient, session string) Presence {
	c.t.Helper()
	for {
		var p Presence
		c.expectInto(TypePresence, &p)
		if p.Session == session {
			return p
		}
	}
}

// leaveOf waits for c's leave message about session, skipping presence.
func leaveOf(c *testClient, session string) {
	c.t.Helper()
	for {
		b := c.next()
		var m Leave
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Fatal(err)
		}
		switch {
		case m.Type == TypeLeave && m.Session == session:
			return
		case m.Type != TypePresence && m.Type != TypeLeave:
			c.t.Fatalf("want the leave of %s, got %s", session, b)
		}
	}
}

func peerOf(w Welcome, session string) *Presence {
	for i := range w.Peers {
		if w.Peers[i].Session == session {
			return &w.Peers[i]
		}
	}
	return nil
}

// TestBusPresence: with a PresenceBus, editors on two nodes see each other's
// presence and cursors (moved through later ops, also in a welcome), and
// each other's leave.
func TestBusPresence(t *testing.T) {
	na, nb := presenceNodes(t, &MemBus{}, time.Hour)
	ann := dialTest(t, na.url+"d")
	wa := ann.hello(ClientMsg{User: &User{Name: "Ann"}})
	ann.sendRaw(opJSON(1, 0, `["hello world"]`))
	ann.expect(TypeAck)
	bob := dialTest(t, nb.url+"d")
	wb := bob.hello(ClientMsg{User: &User{Name: "Bob"}, Version: u64(0)})
	if p := presenceOf(ann, wb.Session); p.Name != "Bob" {
		t.Fatalf("Ann sees Bob as %+v", p)
	}

	ann.sendRaw(`{"type":"presence","version":1,"cursor":{"anchor":6,"head":11}}`)
	if p := presenceOf(bob, wa.Session); p.Name != "Ann" || p.Cursor == nil || *p.Cursor != (ot.Selection{Anchor: 6, Head: 11}) || p.Version != 1 {
		t.Fatalf("Bob sees Ann as %+v", p)
	}
	// Bob inserts at the start: node b moves Ann's stored cursor.
	bob.sendRaw(opJSON(1, 1, `["¡"]`))
	bob.expect(TypeAck)
	cy := dialTest(t, nb.url+"d")
	wc := cy.hello(ClientMsg{})
	if p := peerOf(wc, wa.Session); p == nil || p.Cursor == nil || *p.Cursor != (ot.Selection{Anchor: 7, Head: 12}) || p.Version != 2 {
		t.Fatalf("welcome on node b lists Ann as %+v (peers %+v)", p, wc.Peers)
	}
	if peerOf(wc, wb.Session) == nil {
		t.Fatalf("welcome on node b misses Bob: %+v", wc.Peers)
	}

	ann.close()
	leaveOf(bob, wa.Session)
	leaveOf(cy, wa.Session)
}

// TestBusPresenceNodeGone: the peers of a node that stops speaking are
// dropped after presenceExpiry polls, and a full state forgets the peers it
// does not list.
func TestBusPresenceNodeGone(t *testing.T) {
	bus := &MemBus{}
	_, nb := presenceNodes(t, bus, 50*time.Millisecond)
	bob := dialTest(t, nb.url+"d")
	bob.hello(ClientMsg{})
	say := func(news PresenceNews) {
		if err := bus.PublishPresence(context.Background(), "d", news); err != nil {
			t.Fatal(err)
		}
	}
	ghost := Presence{Session: "g1", Name: "Ghost", Color: "#123456"}
	start := time.Now() // Before the news: the room sees it later, never earlier.
	say(PresenceNews{Node: "dead", Peers: []Presence{ghost}})
	if p := presenceOf(bob, "g1"); p.Name != "Ghost" {
		t.Fatalf("%+v", p)
	}
	leaveOf(bob, "g1") // Nobody repeats it.
	if waited := time.Since(start); waited < 2*50*time.Millisecond {
		t.Fatalf("ghost dropped after %v, before it could expire", waited)
	}

	say(PresenceNews{Node: "other", Peers: []Presence{{Session: "o1", Name: "One"}, {Session: "o2", Name: "Two"}}})
	presenceOf(bob, "o1")
	presenceOf(bob, "o2")
	say(PresenceNews{Node: "other", All: true, Peers: []Presence{{Session: "o2", Name: "Two"}}})
	leaveOf(bob, "o1")
	say(PresenceNews{Node: "other", Left: []string{"o2"}})
	leaveOf(bob, "o2")
}

// TestBusPresenceMoved: a session that reconnects to another node is shown
// once, as that node knows it; the first node's late leave does not remove
// it, and news about a version the room has not reached is not shown.
func TestBusPresenceMoved(t *testing.T) {
	bus := &MemBus{}
	na, nb := presenceNodes(t, bus, time.Hour)
	bob := dialTest(t, nb.url+"d")
	bob.hello(ClientMsg{})
	carl := dialTest(t, na.url+"d")
	carl.hello(ClientMsg{})
	ann := dialTest(t, na.url+"d")
	wa := ann.hello(ClientMsg{User: &User{Name: "Ann"}})
	presenceOf(bob, wa.Session)

	again := dialTest(t, nb.url+"d")
	w2 := again.hello(ClientMsg{Key: wa.Key, User: &User{Name: "Ann"}, Version: u64(0)})
	if p := peerOf(w2, wa.Session); p != nil {
		t.Fatalf("a moved session's welcome lists itself: %+v", w2.Peers)
	}
	presenceOf(bob, wa.Session) // Its presence from node b.
	ann.close()
	leaveOf(carl, wa.Session) // Node a has published the leave: node b knows better.
	if err := bus.PublishPresence(context.Background(), "d", PresenceNews{Node: "x",
		Peers: []Presence{{Session: "ahead", Cursor: &ot.Selection{}, Version: 99}}}); err != nil {
		t.Fatal(err)
	}
	// News reaches a room in order: once Bob sees a marker sent after both,
	// node b has taken them.
	if err := bus.PublishPresence(context.Background(), "d", PresenceNews{Node: "y",
		Peers: []Presence{{Session: "marker", Name: "M"}}}); err != nil {
		t.Fatal(err)
	}
	for {
		b := bob.next()
		var m Presence
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m.Session == wa.Session && m.Type == TypeLeave || m.Session == "ahead" {
			t.Fatalf("Bob was sent %s", b)
		}
		if m.Session == "marker" {
			break
		}
	}
	inRoom(t, nb.hub, "d", func(r *room) {
		if _, ok := r.byID[wa.Session]; !ok || r.elsewhere[wa.Session] != nil || r.elsewhere["ahead"] != nil {
			t.Errorf("node b: Ann here %v, elsewhere %+v", ok, r.elsewhere)
		}
	})
}

// TestBusPresenceBounded: a node that announces more peers than a cluster
// of full nodes could hold does not grow the room past the bound.
func TestBusPresenceBounded(t *testing.T) {
	bus := &MemBus{}
	db, err := storage.Open(filepath.Join(t.TempDir(), "f.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServerStore(t, db, db, Options{Bus: bus, BusPoll: time.Hour, MaxConnsPerDoc: 2})
	bob := dialTest(t, ts.url+"d")
	bob.hello(ClientMsg{})
	var flood []Presence
	for i := range 3 * elsewhereFactor * 2 {
		flood = append(flood, Presence{Session: fmt.Sprintf("p%d", i), Name: "P"})
	}
	if err := bus.PublishPresence(context.Background(), "d", PresenceNews{Node: "x", Peers: flood}); err != nil {
		t.Fatal(err)
	}
	for range elsewhereFactor * 2 {
		bob.expect(TypePresence)
	}
	inRoom(t, ts.hub, "d", func(r *room) {
		if len(r.elsewhere) != elsewhereFactor*2 {
			t.Errorf("%d peers of other nodes shown, want the bound %d", len(r.elsewhere), elsewhereFactor*2)
		}
	})
}

// TestBusWithoutPresence: a Bus that does not carry presence keeps it
// node-local.
func TestBusWithoutPresence(t *testing.T) {
	na, nb := presenceNodes(t, OpsOnlyBus{&MemBus{}}, 50*time.Millisecond)
	ann := dialTest(t, na.url+"d")
	ann.hello(ClientMsg{})
	bob := dialTest(t, nb.url+"d")
	bob.hello(ClientMsg{})
	ann.sendRaw(`{"type":"presence","version":0,"cursor":{"anchor":0,"head":0}}`)
	for _, n := range []*testServer{na, nb} {
		inRoom(t, n.hub, "d", func(r *room) {
			if r.presBus != nil || len(r.elsewhere) != 0 {
				t.Errorf("presence shared without a PresenceBus: %+v", r.elsewhere)
			}
		})
	}
}
