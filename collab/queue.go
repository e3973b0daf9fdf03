package collab

import "sync"

// outQueue is a session's bounded send queue. It is a slice that grows on
// demand, so an idle session holds no queue memory, and the writer takes
// everything queued at once (one wake-up per batch, not per message).
// Any goroutine may push; only the writer takes.
type outQueue struct {
	ready   chan struct{} // Buffered 1: signalled when the queue becomes non-empty.
	drained chan struct{} // Buffered 1: signalled when the writer takes a batch.

	mu    sync.Mutex
	items []outMsg // Guarded by mu.
	max   int      // Static: the most entries queued at once (Options.SendQueue).
}

// keepBatch is the largest batch buffer the writer keeps for reuse; a larger
// one (after a burst) is dropped so that a quiet session shrinks again.
const keepBatch = 32

func newOutQueue(max int) *outQueue {
	return &outQueue{ready: make(chan struct{}, 1), drained: make(chan struct{}, 1), max: max}
}

// push appends m; false when the queue is full.
func (q *outQueue) push(m outMsg) bool { return q.pushBelow(m, q.max) }

// pushBelow appends m unless limit or more entries are queued.
func (q *outQueue) pushBelow(m outMsg, limit int) bool {
	q.mu.Lock()
	n := len(q.items)
	if n >= limit {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, m)
	q.mu.Unlock()
	if n == 0 {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return true
}

// half is where the queue counts as half full (at least 1): presence is not
// queued and the reader waits from there on.
func (q *outQueue) half() int { return max(1, q.max/2) }

// len is the number of entries queued (not yet taken by the writer).
func (q *outQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// recycleBatch empties a written batch for reuse by take; a large one is
// dropped, so that an idle session does not keep a burst's buffer or bytes.
func recycleBatch(buf []outMsg) []outMsg {
	clear(buf)
	if cap(buf) > keepBatch {
		return nil
	}
	return buf[:0]
}

// take returns everything queued and leaves buf (empty, see recycleBatch) in
// its place, so the writer's two buffers alternate without allocating.
func (q *outQueue) take(buf []outMsg) []outMsg {
	buf = recycleBatch(buf)
	q.mu.Lock()
	items := q.items
	q.items = buf[:0]
	q.mu.Unlock()
	select {
	case q.drained <- struct{}{}:
	default:
	}
	return items
}
