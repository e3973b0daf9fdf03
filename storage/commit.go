package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeReq is one caller's write, applied by the committer inside a shared
// transaction.
type writeReq struct {
	ctx   context.Context
	apply func(tx *bolt.Tx) error // Returns a rejection if it wrote nothing.
	done  chan error              // Buffered(1); the committer sends exactly once.
	err   error                   // Owned by the committer.
}

// rejection marks an error found by validation before a request wrote
// anything: the request fails, the rest of its batch commits.
type rejection struct{ err error }

func (r rejection) Error() string { return r.err.Error() }
func (r rejection) Unwrap() error { return r.err }

func reject(err error) error { return rejection{err} }

// errRetry aborts a batch transaction after a request failed part-way through
// its writes; the batch is retried without it.
var errRetry = errors.New("storage: retry batch")

// write submits apply to the committer and waits until its batch is durable
// (or failed). Once submitted it waits regardless of ctx, because the result
// decides whether the write is committed.
func (db *DB) write(ctx context.Context, apply func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &writeReq{ctx: ctx, apply: apply, done: make(chan error, 1)}
	select {
	case db.reqs <- r:
	case <-db.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-r.done
}

// run is the committer goroutine: it takes one request, adds whatever else
// is waiting (up to MaxBatch) and, when busy, what arrives within
// CommitDelay (linger), and commits them in one transaction.
func (db *DB) run() {
	defer db.wg.Done()
	batch := make([]*writeReq, 0, db.opts.MaxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	busy := false // The previous transaction carried more than one request.
	for {
		select {
		case r := <-db.reqs:
			batch = db.collect(append(batch[:0], r))
			if (busy || len(batch) > 1) && db.opts.CommitDelay > 0 {
				batch = db.linger(batch, linger)
			}
			busy = len(batch) > 1
			// Counted before the replies, so a caller sees its own write.
			db.batches.Add(1)
			db.batched.Add(int64(len(batch)))
			start := time.Now()
			db.commit(batch)
			if time.Since(start) >= SlowTransaction {
				db.slowBatches.Add(1)
			}
			clear(batch)
		case <-db.stop:
			return
		}
	}
}

// linger adds the requests that arrive within CommitDelay (or until the
// batch is full, or Close) to batch.
func (db *DB) linger(batch []*writeReq, t *time.Timer) []*writeReq {
	t.Reset(db.opts.CommitDelay)
	defer t.Stop()
	for len(batch) < db.opts.MaxBatch {
		select {
		case r := <-db.reqs:
			batch = append(batch, r)
		case <-t.C:
			return batch
		case <-db.stop:
			return batch
		}
	}
	return batch
}

// collect adds the requests already waiting to batch without blocking.
// It does not yield to let more arrive: in a busy process a yield sends the
// committer to the back of the global run queue, behind every runnable
// session goroutine (milliseconds); linger parks on a timer instead.
func (db *DB) collect(batch []*writeReq) []*writeReq {
	for len(batch) < db.opts.MaxBatch {
		select {
		case r := <-db.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// commit applies batch in one read-write transaction and replies to every
// request:
//  1. Requests whose context is done are answered with its error, unwritten.
//  2. Each request validates then writes; a rejected one is answered with its
//     error and the others go on.
//  3. A request that fails after writing aborts the transaction; it is
//     answered with its error and the batch is retried without it.
//  4. The log's front is trimmed in the same transaction.
//  5. A failed commit (or trim, or commitHook) fails every remaining request.
func (db *DB) commit(batch []*writeReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	for len(live) > 0 {
		failed, err := db.tryBatch(live)
		if failed >= 0 {
			live[failed].done <- live[failed].err
			live = append(live[:failed], live[failed+1:]...)
			continue
		}
		for _, r := range live {
			var rej rejection
			switch {
			case errors.As(r.err, &rej):
				r.done <- rej.err
			case err != nil:
				r.done <- fmt.Errorf("storage: commit: %w", err)
			default:
				r.done <- nil
			}
		}
		return
	}
}

// tryBatch runs live's requests in one transaction and commits it. It
// returns the index of a request that failed after writing (the transaction
// is rolled back), or -1 and the commit's error.
func (db *DB) tryBatch(live []*writeReq) (failed int, err error) {
	failed = -1
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		for i, r := range live {
			r.err = r.apply(tx)
			if r.err != nil && !errors.As(r.err, new(rejection)) {
				failed = i
				return errRetry
			}
		}
		if err := trimLog(tx, db.maxLogLag); err != nil {
			return err
		}
		if db.commitHook != nil {
			return db.commitHook()
		}
		return nil
	})
	return failed, err
}
