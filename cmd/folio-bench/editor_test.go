package main

import (
	"testing"
	"time"
)

func TestFlightsBothOrders(t *testing.T) {
	d := &docRun{flights: map[opKey]*flight{}, editors: make([]*editor, 3)}
	t0 := time.Unix(100, 0)
	k := opKey{"s1", 1}

	// The author records first; both others arrive later.
	if early := d.sent(k, t0); early != nil {
		t.Fatalf("early = %v", early)
	}
	if got := d.arrived(k, t0.Add(time.Millisecond)); !got.Equal(t0) {
		t.Fatalf("arrived returned %v, want %v", got, t0)
	}
	d.arrived(k, t0.Add(2*time.Millisecond))
	if len(d.flights) != 0 {
		t.Fatalf("flight kept after every editor received it: %v", d.flights)
	}

	// An arrival races ahead of the author's record.
	k2 := opKey{"s1", 2}
	if got := d.arrived(k2, t0); !got.IsZero() {
		t.Fatalf("arrived before send returned %v", got)
	}
	if early := d.sent(k2, t0.Add(time.Millisecond)); len(early) != 1 {
		t.Fatalf("early = %v, want one arrival", early)
	}
	d.arrived(k2, t0.Add(2*time.Millisecond))
	if len(d.flights) != 0 {
		t.Fatalf("flights left: %v", d.flights)
	}
}

func TestWindowContains(t *testing.T) {
	var w window
	now := time.Now()
	if w.contains(now) {
		t.Fatal("an unstarted window contains nothing")
	}
	w.start.Store(now.UnixNano())
	if !w.contains(now.Add(time.Second)) || w.contains(now.Add(-time.Nanosecond)) {
		t.Fatal("open window bounds wrong")
	}
	w.end.Store(now.Add(time.Second).UnixNano())
	if w.contains(now.Add(time.Second)) || !w.contains(now.Add(time.Second-1)) {
		t.Fatal("closed window bounds wrong")
	}
}

func TestLaterSkipsAheadWhenBehind(t *testing.T) {
	rng := newTypist(1, 10).rng
	now := time.Now()
	if n := later(now.Add(-time.Hour), now, 10, rng); n.Before(now) {
		t.Fatalf("next %v is in the past: a late loop must not burst", n)
	}
	n := later(now, now, 10, rng)
	if d := n.Sub(now); d < 80*time.Millisecond || d > 120*time.Millisecond {
		t.Fatalf("period %v, want 100 ms ± 20 %%", d)
	}
}

// TestMirrorFollowsEditsDuringAck: two edits made after the client handled
// ack 2 but before OnAck(2) ran: the client sent the first as seq 3 at once
// and buffered the second, which it sends as seq 4 on ack 3. The mirror
// follows without a mismatch.
func TestMirrorFollowsEditsDuringAck(t *testing.T) {
	d := &docRun{flights: map[opKey]*flight{}}
	e := &editor{doc: d, win: &window{}, session: "s"}
	d.editors = []*editor{e, {}}
	t0 := time.Unix(100, 0)
	e.submitted(t0) // Seq 1 in flight.
	e.acked(1, t0, false)
	e.submitted(t0) // Seq 2 in flight; the client handles its ack, then:
	e.submitted(t0) // sent at once as seq 3 (the mirror thinks it buffered),
	e.submitted(t0) // buffered by the client.
	e.acked(2, t0, true)
	if !e.inflight || e.inflightSeq != 3 {
		t.Fatalf("after ack 2: inflight %v seq %d, want seq 3", e.inflight, e.inflightSeq)
	}
	e.acked(3, t0, true) // The client sent its buffer as seq 4.
	if !e.inflight || e.inflightSeq != 4 {
		t.Fatalf("after ack 3: inflight %v seq %d, want seq 4", e.inflight, e.inflightSeq)
	}
	e.acked(4, t0, false)
	if e.inflight || e.stats.mismatches != 0 {
		t.Fatalf("inflight %v, %d mismatches; want none", e.inflight, e.stats.mismatches)
	}
}

// TestMirrorResyncsAfterReconnect replays what a crash of the server did to
// the mirror: edits typed while offline were resolved by the client in a way
// the mirror could not follow (it thought one was still buffered), and every
// later ack was measured from the ack before it: 200 ms at 5 edits/s. After
// a reconnect the first ack now resynchronizes the mirror instead.
func TestMirrorResyncsAfterReconnect(t *testing.T) {
	d := &docRun{flights: map[opKey]*flight{}}
	w := &window{}
	w.start.Store(1) // Everything from 1970 on is measured.
	e := &editor{doc: d, win: w, session: "s", online: true}
	d.editors = []*editor{e, {}}
	t0 := time.Unix(100, 0)
	e.submitted(t0) // Seq 1 in flight when the server dies.
	e.submitted(t0) // Typed while offline.
	e.lost = true   // OnStatus(StatusOnline) after the reconnect.
	e.acked(1, t0.Add(2*time.Second), false)
	if e.inflight || e.buffered || e.lastSeq != 1 || e.stats.ack.summary().Count != 0 {
		t.Fatalf("after the first ack: inflight %v buffered %v lastSeq %d, %d samples",
			e.inflight, e.buffered, e.lastSeq, e.stats.ack.summary().Count)
	}
	t1 := t0.Add(3 * time.Second)
	e.submitted(t1) // Sent at once as seq 2.
	e.acked(2, t1.Add(time.Millisecond), false)
	if s := e.stats.ack.summary(); s.Count != 1 || s.Max != 1 || e.stats.mismatches != 0 {
		t.Fatalf("ack of seq 2: %+v, %d mismatches; want one 1 ms sample", s, e.stats.mismatches)
	}
}
