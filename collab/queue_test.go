package collab

import "testing"

func TestOutQueueBoundAndOrder(t *testing.T) {
	q := newOutQueue(3)
	for i := 0; i < 3; i++ {
		if !q.push(outMsg{data: []byte{byte('a' + i)}}) {
			t.Fatalf("push %d refused below the bound", i)
		}
	}
	if q.push(outMsg{data: []byte("d")}) {
		t.Fatal("push past the bound accepted")
	}
	select {
	case <-q.ready:
	default:
		t.Fatal("no wake-up for a non-empty queue")
	}
	got := q.take(nil)
	if len(got) != 3 || string(got[0].data) != "a" || string(got[2].data) != "c" || q.len() != 0 {
		t.Fatalf("took %v, %d left", got, q.len())
	}
	if !q.push(outMsg{data: []byte("e")}) {
		t.Fatal("push refused after take")
	}
	<-q.ready
	got = q.take(got)
	if len(got) != 1 || string(got[0].data) != "e" {
		t.Fatalf("took %v", got)
	}
}

func TestOutQueueDropsLargeBatchBuffers(t *testing.T) {
	q := newOutQueue(1000)
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
