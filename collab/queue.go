package collab

import "sync"

// outQueue is a session's bounded send queue. It is a slice that grows on
// demand, so an idle session holds no queue memory, and the writer takes
// everything queued at once (one wake-up per batch, not per message).
// Any goroutine may push; only the holder of the writer's claim takes: the
// writer goroutine, or the room in releaseWith for a claim of its turn. The
// writer goroutine runs only while there is something to write: push starts
// it (start) when none runs, and it ends when take finds the queue empty, so
// an idle session has no writer goroutine.
//
// The queue is bounded by entries (max) and by bytes (maxBytes): bytes
// counts the data of the entries queued and of the batch the writer took
// and has not finished writing (held), which includes what the Wire keeps
// pending of the room's tryWrite, so it is all that waits for the peer. A
// push is refused once bytes reached maxBytes, so one message of any size
// is taken by a queue below the bound.
type outQueue struct {
	drained  chan struct{} // Buffered 1: signalled when the writer takes a batch.
	start    func()        // Static: starts the writer; called with mu held.
	max      int           // Static: the most entries queued at once (Options.SendQueue).
	maxBytes int           // Static: bytes from which pushes are refused (Options.SendQueueBytes).

	mu      sync.Mutex
	items   []outMsg // Guarded by mu.
	spare   []outMsg // Guarded by mu: the last writer's emptied batch, for the next.
	bytes   int      // Guarded by mu: data bytes queued or held.
	held    int      // Guarded by mu: data bytes of the batch the writer took last, until its next take.
	running bool     // Guarded by mu: a writer runs (or ended on a failed write).
	stopped bool     // Guarded by mu: no writer starts any more (the session ended).
}

// keepBatch is the largest batch buffer the writer keeps for reuse; a larger
// one (after a burst) is dropped so that a quiet session shrinks again.
const keepBatch = 32

func newOutQueue(max, maxBytes int, start func()) *outQueue {
	return &outQueue{drained: make(chan struct{}, 1), start: start, max: max, maxBytes: maxBytes}
}

// push appends m; false when the queue is full.
func (q *outQueue) push(m outMsg) bool { return q.pushBelow(m, q.max) }

// pushBelow appends m unless limit or more entries are queued, or the
// bytes bound is reached.
func (q *outQueue) pushBelow(m outMsg, limit int) bool {
	q.mu.Lock()
	if len(q.items) >= limit || q.bytes >= q.maxBytes {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, m)
	q.bytes += len(m.data)
	if !q.running && !q.stopped {
		q.running = true
		q.start()
	}
	q.mu.Unlock()
	return true
}

// pushHeld is pushBelow for the room goroutine: a writer that the push
// needs is claimed but not started; held reports it, and at the end of its
// turn the room writes the batch itself (releaseWith) or starts the writer
// (release), so that all it queued for the session in the turn (ops, the
// ack, presence) is one batch and one write.
func (q *outQueue) pushHeld(m outMsg, limit int) (ok, held bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= limit || q.bytes >= q.maxBytes {
		return false, false
	}
	q.items = append(q.items, m)
	q.bytes += len(m.data)
	if !q.running && !q.stopped {
		q.running = true
		return true, true
	}
	return true, false
}

// release starts the writer that pushHeld claimed, unless the queue stopped.
func (q *outQueue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.stopped {
		q.start()
	}
}

// releaseWith is release for a batch that write may send at once: it gets
// everything queued (with the lock held, so nothing joins meanwhile) and
// returns what is left of it, in its place. When nothing is left no writer
// starts and the claim ends. What is left keeps its bytes counted until the
// writer has written it (a flush entry stands for the Wire's pending rest).
func (q *outQueue) releaseWith(write func([]outMsg) []outMsg) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return
	}
	rest := write(q.items)
	if len(rest) > 0 {
		q.items = rest
		q.start()
		return
	}
	q.items = recycleBatch(q.items)
	q.bytes = 0 // No writer held a batch: the claim's turn queued it all.
	q.running = false
	select {
	case q.drained <- struct{}{}:
	default:
	}
}

// stop keeps any further writer from starting; the caller then waits for
// the one that may be running.
func (q *outQueue) stop() {
	q.mu.Lock()
	q.stopped = true
	q.mu.Unlock()
}

// whileRunning calls f with mu held unless the queue is stopped; false when
// stopped. It lets a timer start a goroutine that the session's stop waits for.
func (q *outQueue) whileRunning(f func()) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return false
	}
	f()
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
// its place, so the writer's two buffers alternate without allocating. The
// writer calls it when it has written the batch it took before, whose bytes
// stop counting then; those it returns count until its next take. When
// nothing is queued it returns nil and the writer must end: the next push
// starts a new one, which takes the buffer kept in spare.
func (q *outQueue) take(buf []outMsg) []outMsg {
	buf = recycleBatch(buf)
	q.mu.Lock()
	if buf == nil {
		buf, q.spare = q.spare, nil
	}
	q.bytes -= q.held
	q.held = q.bytes
	items := q.items
	if len(items) == 0 {
		q.running = false
		q.spare = buf
		q.mu.Unlock()
		return nil
	}
	q.items = buf[:0]
	q.mu.Unlock()
	select {
	case q.drained <- struct{}{}:
	default:
	}
	return items
}
