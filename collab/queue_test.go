package collab

import "testing"

func TestOutQueueBoundAndOrder(t *testing.T) {
	starts := 0
	q := newOutQueue(3, func() { starts++ })
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
	q := newOutQueue(1000, func() {})
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
	q := newOutQueue(4, func() { starts++ })
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
