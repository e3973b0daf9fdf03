package collab

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foliodocs/folio/storage"
)

// TestBusPresenceAheadKept: a live node keeps speaking of its peer, at its
// own head, which this room cannot reach while its own commit is in flight
// (a busy document: other nodes' ops wait for that commit). The news cannot
// be placed yet, but it says the peer is there: it is not dropped as if its
// node had died. The room's clock is the test's: it moves only between two
// pieces of news, so a slow machine cannot expire the peer either way.
func TestBusPresenceAheadKept(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "f.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	bus := &MemBus{}
	gate := &gatedStore{DB: db}
	const poll = 20 * time.Millisecond
	var clock atomic.Int64 // Nanoseconds since start.
	start := time.Now()
	now := func() time.Time { return start.Add(time.Duration(clock.Load())) }
	ts := newTestServerStore(t, gate, db, Options{Bus: bus, BusPoll: poll, Now: now})
	ctx := context.Background()
	if _, err := db.Create(ctx, "d", "ab"); err != nil {
		t.Fatal(err)
	}
	bob := dialTest(t, ts.url+"d")
	bob.hello(ClientMsg{})
	say := func(news PresenceNews) {
		if err := bus.PublishPresence(ctx, "d", news); err != nil {
			t.Fatal(err)
		}
	}
	peer := func(v uint64) PresenceNews {
		return PresenceNews{Node: "x", All: true, Peers: []Presence{{Session: "p", Name: "P", Version: v}}}
	}
	say(peer(0))
	presenceOf(bob, "p")

	gate.arm()
	bob.sendRaw(opJSON(1, 0, `["!"]`))
	<-gate.entered // Bob's commit is in flight ...
	rec := storage.OpRecord{Version: 1, Op: insertAt(0, "x"), Session: "other", Seq: 1}
	if err := db.Append(ctx, "d", []storage.OpRecord{rec}, 3, nil); err != nil {
		t.Fatal(err) // ... while node x commits version 1 and speaks of p there.
	}
	for range 4 * presenceExpiry * 2 { // Four times the expiry, in half polls.
		clock.Add(int64(poll / 2))
		say(peer(1))
		time.Sleep(poll / 2) // Not for order: the room's expiry checks run on real polls meanwhile.
	}
	close(gate.release)
	say(PresenceNews{Node: "y", Peers: []Presence{{Session: "marker", Name: "M"}}})
	for {
		b := bob.next()
		var m Leave
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m.Type == TypeLeave && m.Session == "p" {
			t.Fatalf("p dropped while its node kept speaking of it: %s", b)
		}
		if m.Session == "marker" {
			break
		}
	}
}
