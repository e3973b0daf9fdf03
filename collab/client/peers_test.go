package client

import (
	"reflect"
	"testing"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
)

// TestPeerSet: entries are found after removals that move others, cursors
// move through ops committed after they were reported and no others, and
// what put is given is copied, not kept.
func TestPeerSet(t *testing.T) {
	var ps peerSet
	sel := &ot.Selection{Anchor: 2, Head: 4}
	ps.put(collab.Presence{Session: "a", Name: "A", Cursor: sel, Version: 5})
	ps.put(collab.Presence{Session: "b", Name: "B", Version: 5})
	ps.put(collab.Presence{Session: "c", Name: "C", Cursor: &ot.Selection{Anchor: 1, Head: 1}, Version: 7})
	ps.moveThrough(ot.Op{{Insert: "xy"}}, 6) // Before a and b's cursors, after c's was reported.
	if *sel != (ot.Selection{Anchor: 2, Head: 4}) {
		t.Fatalf("the caller's cursor moved: %+v", *sel)
	}
	if !ps.remove("a") || ps.remove("a") || ps.has("a") || ps.len() != 2 {
		t.Fatalf("remove a: %+v", ps)
	}
	ps.put(collab.Presence{Session: "b", Name: "B2", Version: 6}) // Replaces b in place.
	got := map[string]collab.Presence{}
	for i := range ps.list {
		p := ps.list[i].presence()
		got[p.Session] = p
	}
	want := map[string]collab.Presence{
		"b": {Session: "b", Name: "B2", Version: 6},
		"c": {Session: "c", Name: "C", Cursor: &ot.Selection{Anchor: 1, Head: 1}, Version: 7},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	ps.moveThrough(ot.Op{{Insert: "z"}}, 8)
	if p := ps.list[ps.idx["c"]].presence(); *p.Cursor != (ot.Selection{Anchor: 2, Head: 2}) || p.Version != 8 {
		t.Fatalf("c after op 8: %+v %+v", p, *p.Cursor)
	}
	if !ps.remove("c") || !ps.remove("b") || ps.len() != 0 || len(ps.idx) != 0 {
		t.Fatalf("not empty: %+v", ps)
	}
}
