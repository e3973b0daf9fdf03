package collab

import "testing"

func TestOutQueueBoundAndOrder(t *testing.T) {
	starts := 0
	q := newOutQueue(3, 1<<20, func() { starts++ })
	for i := 0; i < 3; i++ {
		if !q.push(outMsg{data: []byte{byte('a' + i)}}) {
			t.Fatalf("push %d refused below the bound", i)
		}
	}
	if q.push(outMsg{data: []byte("d")}) {
		t.Fatal("push past the bound accepted")
	}
	if starts != 1 {
		t.Fatalf("writer started %d times for one non-empty queue, want 1", starts)
	}
	got := q.take(nil)
	if len(got) != 3 || string(got[0].data) != "a" || string(got[2].data) != "c" || q.len() != 0 {
		t.Fatalf("took %v, %d left", got, q.len())
	}
	if !q.push(outMsg{data: []byte("e")}) {
		t.Fatal("push refused after take")
	}
	if starts != 1 {
		t.Fatalf("writer started again while one runs (%d starts)", starts)
	}
	got = q.take(got)
	if len(got) != 1 || string(got[0].data) != "e" {
		t.Fatalf("took %v", got)
	}
	if more := q.take(got); more != nil {
		t.Fatalf("took %v from an empty queue", more)
	}
	q.push(outMsg{data: []byte("f")})
	if starts != 2 {
		t.Fatalf("no new writer after the last one ended (%d starts)", starts)
	}
	q.stop()
	q.take(nil)
	q.push(outMsg{data: []byte("g")})
	if starts != 2 {
		t.Fatal("writer started after stop")
	}
}

func TestOutQueueDropsLargeBatchBuffers(t *testing.T) {
	q := newOutQueue(1000, 1<<20, func() {})
	for i := 0; i < 2*keepBatch; i++ {
		q.push(outMsg{})
	}
	big := q.take(nil)
	q.push(outMsg{})
	q.take(big)
	q.mu.Lock()
	defer q.mu.Unlock()
	if cap(q.items) != 0 {
		t.Fatalf("a %d-entry buffer kept after a burst", cap(q.items))
	}
}

// TestOutQueueHeldStart: pushHeld claims the writer without starting it, so
// later pushes of the turn join the same batch; release starts it once, and
// not after stop.
func TestOutQueueHeldStart(t *testing.T) {
	starts := 0
	q := newOutQueue(4, 1<<20, func() { starts++ })
	if ok, held := q.pushHeld(outMsg{data: []byte("a")}, 4); !ok || !held {
		t.Fatalf("first held push: ok %v, held %v", ok, held)
	}
	if ok, held := q.pushHeld(outMsg{data: []byte("b")}, 4); !ok || held {
		t.Fatalf("second held push: ok %v, held %v (the writer is already claimed)", ok, held)
	}
	if !q.push(outMsg{data: []byte("c")}) || starts != 0 {
		t.Fatalf("a plain push started a claimed writer (%d starts)", starts)
	}
	if ok, _ := q.pushHeld(outMsg{data: []byte("d")}, 3); ok {
		t.Fatal("held push past its limit accepted")
	}
	q.release()
	if starts != 1 {
		t.Fatalf("release started %d writers, want 1", starts)
	}
	if got := q.take(nil); len(got) != 3 || string(got[0].data) != "a" || string(got[2].data) != "c" {
		t.Fatalf("took %d messages, want a, b, c in one batch", len(got))
	}
	q.take(nil) // Empty: the writer ends.
	_, held := q.pushHeld(outMsg{data: []byte("e")}, 4)
	q.stop()
	q.release()
	if !held || starts != 1 {
		t.Fatalf("held %v, %d starts: release after stop must not start a writer", held, starts)
	}
}

// TestOutQueueByteBound: past maxBytes pushes are refused however few
// entries are queued, and a batch the writer took counts until its next take
// (it is still waiting for the peer), as does what releaseWith leaves.
func TestOutQueueByteBound(t *testing.T) {
	q := newOutQueue(100, 10, func() {})
	msg := func(n int) outMsg { return outMsg{data: make([]byte, n)} }
	if !q.push(msg(4)) || !q.push(msg(4)) || !q.push(msg(4)) {
		t.Fatal("push refused below the byte bound")
	}
	if q.push(msg(1)) {
		t.Fatal("push accepted with 12 of 10 bytes queued")
	}
	batch := q.take(nil)
	if q.push(msg(1)) {
		t.Fatal("push accepted while the writer holds 12 bytes unwritten")
	}
	batch = q.take(batch) // Written: nothing queued, the writer ends.
	if batch != nil || !q.push(msg(20)) {
		t.Fatal("a message larger than the bound refused by an empty queue")
	}
	if ok, _ := q.pushHeld(msg(1), 100); ok {
		t.Fatal("held push accepted past the byte bound")
	}
	q.take(q.take(nil)) // Written, then empty: the writer ends.
	if ok, held := q.pushHeld(msg(8), 100); !ok || !held {
		t.Fatalf("held push: ok %v, held %v", ok, held)
	}
	// The socket took part of it: the Wire holds the rest for the writer.
	q.releaseWith(func(msgs []outMsg) []outMsg { return []outMsg{{flush: true}} })
	if !q.push(msg(2)) || q.push(msg(1)) {
		t.Fatal("what the Wire holds pending is not counted")
	}
	q.take(q.take(nil))
	if ok, held := q.pushHeld(msg(8), 100); !ok || !held {
		t.Fatalf("held push after the writer ended: ok %v, held %v", ok, held)
	}
	q.releaseWith(func([]outMsg) []outMsg { return nil }) // The socket took it all.
	if !q.push(msg(9)) {
		t.Fatal("bytes the socket took still counted")
	}
}
