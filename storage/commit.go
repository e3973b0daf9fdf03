package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeReq is one caller's write, applied by the committer inside a shared
// transaction, or, for an Append without a snapshot (app), journaled.
type writeReq struct {
	ctx   context.Context
	apply func(tx *bolt.Tx) error // A write other than Append; returns a rejection if it wrote nothing.
	app   *journaled              // An Append: through the journal unless it has a snapshot.
	done  chan error              // Buffered(1); the committer sends exactly once.
	err   error                   // Owned by the committer.
}

// write runs r in tx, an Append with UpdatedAt at.
func (r *writeReq) write(tx *bolt.Tx, at time.Time) error {
	if r.app != nil {
		return r.app.apply(tx, at)
	}
	return r.apply(tx)
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
// (or failed).
func (db *DB) write(ctx context.Context, apply func(*bolt.Tx) error) error {
	return db.submit(ctx, &writeReq{ctx: ctx, apply: apply, done: make(chan error, 1)})
}

// submit hands r to the committer and waits for its outcome. Once submitted
// it waits regardless of ctx, because the result decides whether the write
// is committed.
func (db *DB) submit(ctx context.Context, r *writeReq) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := db.usable(); err != nil {
		return err
	}
	if db.readOnly {
		return fmt.Errorf("storage: %s: %w", db.path, ErrReadOnly)
	}
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
// is waiting (up to MaxBatch) and, when busy and the recent arrivals
// promise more, what arrives within CommitDelay (linger), and commits them: through the journal when every
// request of the batch can go there, else in one bbolt transaction that
// first checkpoints the journal. It checkpoints on its own
// CheckpointEvery after the first record the journal holds alone, at once
// when checkpointRecords Appends or checkpointBytes wait, and on Close.
func (db *DB) run() {
	defer db.wg.Done()
	batch := make([]*writeReq, 0, db.opts.MaxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	ck := time.NewTimer(time.Hour)
	ck.Stop()
	armed := false
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
			db.arrivals.add(batch, start)
			if err := db.failure(); err != nil {
				for _, r := range batch {
					r.done <- err
				}
			} else if db.journalable(batch) {
				db.journalBatch(batch)
			} else {
				db.commit(batch)
			}
			if time.Since(start) >= SlowTransaction {
				db.slowBatches.Add(1)
			}
			clear(batch)
			switch {
			case db.ckTo == db.applied:
				if armed {
					ck.Stop()
					armed = false
				}
			case db.jr.off >= checkpointBytes || len(db.pend) >= checkpointRecords:
				db.checkpoint()
			case !armed:
				ck.Reset(db.opts.CheckpointEvery)
				armed = true
			}
		case <-ck.C:
			armed = false
			db.checkpoint()
			if db.ckTo != db.applied { // It failed: try again later.
				ck.Reset(db.opts.CheckpointEvery)
				armed = true
			}
		case <-db.stop:
			db.checkpoint()
			return
		}
	}
}

// lingerEnough is the batch size at which the committer stops waiting for
// more: a commit's fixed cost is then shared enough, and writers that wait
// for their commit before writing again (all of them in the batch already)
// would only be held for the rest of CommitDelay.
const lingerEnough = 32

// lingerExpect is how many more requests a linger must expect to gather
// within CommitDelay, at the recent arrival rate, to be worth its wait:
// below it the wait would mostly delay the requests it holds.
const lingerExpect = 2

// arrivalPeriod is how often the committer re-estimates its arrivals.
const arrivalPeriod = 100 * time.Millisecond

// arrivals is what the committer knows of its recent writers, to tell
// whether a linger would gather enough to be worth its wait: the rate of
// requests in the last complete arrivalPeriod, and how many documents
// Appended in it. Owned by the committer.
type arrivals struct {
	since  time.Time           // Start of the current period.
	n      int                 // Requests taken since then.
	docs   map[string]struct{} // Documents that Appended since then.
	perSec float64             // Requests per second in the last complete period; +Inf before the first.
	active int                 // Documents that Appended in it; MaxInt before the first.
	held   map[string]struct{} // Scratch: the documents of the batch a linger holds.
}

func newArrivals(now time.Time) arrivals {
	return arrivals{since: now, docs: map[string]struct{}{}, perSec: math.Inf(1), active: math.MaxInt,
		held: map[string]struct{}{}}
}

// add counts a batch taken at now; a period that ended re-estimates over
// its whole length, so a quiet stretch counts as slow.
func (a *arrivals) add(batch []*writeReq, now time.Time) {
	a.n += len(batch)
	for _, r := range batch {
		if r.app != nil {
			a.docs[r.app.id] = struct{}{}
		}
	}
	if el := now.Sub(a.since); el >= arrivalPeriod {
		a.perSec = float64(a.n) / el.Seconds()
		a.active = len(a.docs)
		clear(a.docs)
		a.n, a.since = 0, now
	}
}

// expect is how many requests arrive within d at the estimated rate.
func (a *arrivals) expect(d time.Duration) float64 { return a.perSec * d.Seconds() }

// hold notes the document of r, a request of the batch a linger holds, and
// reports whether every recently active document is in it: each waits for
// its commit before it writes again, so none of them can add to the batch.
func (a *arrivals) hold(r *writeReq) (allIn bool) {
	if r.app != nil {
		a.held[r.app.id] = struct{}{}
	}
	return len(a.held) >= a.active
}

// linger adds the requests that arrive within CommitDelay to batch until it
// holds lingerEnough (or MaxBatch, or Close), when the recent arrivals
// promise that the wait pays: at least lingerExpect requests within it,
// from documents the batch does not hold yet. Busy with a few writers the
// batch soon holds them all and nobody waits; with hundreds the wait pays.
func (db *DB) linger(batch []*writeReq, t *time.Timer) []*writeReq {
	want := min(lingerEnough, db.opts.MaxBatch)
	a := &db.arrivals
	if len(batch) >= want || a.expect(db.opts.CommitDelay) < lingerExpect {
		return batch
	}
	defer clear(a.held)
	allIn := false
	for _, r := range batch {
		allIn = a.hold(r)
	}
	if allIn {
		return batch
	}
	t.Reset(db.opts.CommitDelay)
	defer t.Stop()
	for len(batch) < want {
		select {
		case r := <-db.reqs:
			batch = append(batch, r)
			if a.hold(r) {
				return batch
			}
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

// tryBatch runs live's requests in one transaction, after the journal's
// records (a checkpoint), and commits it. It returns the index of a request
// that failed after writing (the transaction is rolled back), or -1 and the
// commit's error.
func (db *DB) tryBatch(live []*writeReq) (failed int, err error) {
	failed = -1
	start := time.Now()
	txid := 0
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		txid = tx.ID()
		if err := db.applyJournal(tx); err != nil {
			return err
		}
		for i, r := range live {
			r.err = r.write(tx, db.now())
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
	if failed < 0 && err == nil {
		db.checkpointed(time.Since(start))
	}
	if failed < 0 && err != nil && db.landed(txid) {
		err = db.fail(err)
	}
	return failed, err
}

// landed reports whether bbolt now reads the state of transaction txid,
// whose commit failed: the failure came after its meta page reached the
// file (bbolt reads its meta pages from the file's mapping), when the
// fdatasync after that write failed. bbolt then rolls back its own
// bookkeeping but not the page. An error before the meta page (growing
// the file, writing a data page, the fdatasync of the data pages: a full
// disk, say) leaves bbolt where it was, with the transaction's pages
// unreferenced and free again.
func (db *DB) landed(txid int) bool {
	tx, err := db.bolt.Begin(false)
	if err != nil {
		return true // Unknown: assume the worst.
	}
	defer tx.Rollback()
	return tx.ID() >= txid
}

// fail makes the store fail every call from now on, after a commit that
// landed although it failed: whether it is durable is unknown (a failed
// fdatasync may have dropped the page it wrote, and a later one would not
// write it again), and the committer's view (applied, the overlay, the
// journal's records) no longer matches bbolt's. The journal keeps every
// acknowledged record; reopening the database replays what bbolt lacks
// and commits before it empties the journal (see load).
func (db *DB) fail(err error) error {
	err = fmt.Errorf("%w: %w", ErrFailed, err)
	db.failed.CompareAndSwap(nil, &err)
	return err
}

// failure is the error every call fails with once fail has run, else nil.
func (db *DB) failure() error {
	if p := db.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// usable returns ErrClosed after Close, else failure.
func (db *DB) usable() error {
	select {
	case <-db.stop:
		return ErrClosed
	default:
		return db.failure()
	}
}

// journalable reports whether every request of batch can go through the
// journal.
func (db *DB) journalable(batch []*writeReq) bool {
	if db.jrBroken {
		return false
	}
	for _, r := range batch {
		if r.app == nil || r.app.snap != nil {
			return false
		}
	}
	return true
}

// journalBatch validates each Append of batch against its document's head
// (journaled, else stored), writes the accepted ones to the journal with one
// fdatasync and answers every request; readers see them (in the overlay)
// from then on. A journal too full to grow for them checkpoints and takes
// them at its start (writeGroup). A failed write fails all of them and
// checkpoints at once, recording their LSNs as applied without applying
// them, so that a restart never replays what was reported failed.
func (db *DB) journalBatch(batch []*writeReq) {
	jr := db.jr
	jr.buf = jr.buf[:0]
	live := db.live[:0]
	heads := db.batchHeads // This batch's accepted heads, before the overlay's.
	clear(heads)
	var view *bolt.Tx
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		a := r.app
		head, ok := heads[a.id]
		if !ok {
			if ov := db.overlay[a.id]; ov != nil { // Written only by this goroutine.
				head, ok = ov.version, true
			}
		}
		if !ok {
			if view == nil {
				var err error
				if view, err = db.bolt.Begin(false); err != nil {
					r.done <- fmt.Errorf("storage: append %s: %w", a.id, err)
					continue
				}
			}
			m, err := getMeta(view, "append", a.id)
			if err != nil {
				r.done <- err
				continue
			}
			head = m.Version
		}
		if a.first != head+1 {
			r.done <- fmt.Errorf("storage: append %s@%d..%d: head is %d: %w", a.id, a.first, a.last, head, ErrVersionConflict)
			continue
		}
		a.lsn, a.at = jr.next+uint64(len(live)), db.now()
		jr.buf = appendRecord(jr.buf, a)
		heads[a.id] = a.last
		live = append(live, r)
	}
	if view != nil {
		view.Rollback()
	}
	db.live = live[:0]
	if len(live) == 0 {
		return
	}
	at, bboltFull, err := db.writeGroup()
	if err == nil && db.commitHook != nil {
		err = db.commitHook() // As if the fdatasync failed: the records are in the file.
	}
	jr.next += uint64(len(live))
	db.ckTo = jr.next - 1
	if err != nil {
		db.jrBroken = true // Until a checkpoint spends the LSNs of what failed.
		// Before the replies, so that a caller told of the failure finds
		// them spent: a checkpoint, unless writeGroup's failed just now
		// (bbolt is full too; it is not tried again at once). Without one,
		// the group is cut off from a replay; only if this fails as well
		// may a crash before the next checkpoint replay it.
		if !bboltFull {
			db.checkpoint()
		}
		if db.ckTo != db.applied {
			_ = jr.void(at)
		}
		for _, r := range live {
			r.done <- fmt.Errorf("storage: commit: journal: %w", err)
		}
		return
	}
	db.mu.Lock()
	for _, r := range live {
		a := r.app
		ov := db.overlay[a.id]
		if ov == nil {
			ov = &overlay{}
			db.overlay[a.id] = ov
		}
		ov.version, ov.length, ov.at = a.last, a.length, a.at
		ov.recs = append(ov.recs, a.recs...)
	}
	db.mu.Unlock()
	for _, r := range live {
		db.pend = append(db.pend, r.app)
		r.done <- nil
	}
}

// writeGroup writes the group's records (jr.buf) to the journal and
// returns where they start. When the file cannot grow to take them (a
// full disk) but would hold them from its start, it checkpoints first:
// bbolt may have room where the journal has none, and the journal then
// starts again at its header, so the retried write needs no growth. The
// failed growth wrote zeros past every record and nothing of the group,
// whose LSNs the checkpoint therefore leaves free. bboltFull reports that
// this checkpoint failed, so that the caller does not try another at once.
func (db *DB) writeGroup() (at int64, bboltFull bool, err error) {
	jr := db.jr
	if err := jr.grow(jr.off + int64(len(jr.buf))); err != nil {
		if int64(journalHead+len(jr.buf)) > jr.size {
			return jr.off, false, err // A checkpoint would not make room.
		}
		db.checkpoint()
		if db.ckTo != db.applied {
			return jr.off, true, err // bbolt has no room either.
		}
	}
	at = jr.off
	return at, false, jr.write()
}

// applyJournal writes the journaled records to tx and records the journal as
// applied up to ckTo.
func (db *DB) applyJournal(tx *bolt.Tx) error {
	if db.ckTo == db.applied {
		return nil
	}
	for _, j := range mergeAppends(db.pend) {
		if err := j.apply(tx, j.at); err != nil {
			return fmt.Errorf("journal records from %d (%s@%d..%d): %w", j.lsn, j.id, j.first, j.last, err)
		}
	}
	return putJournalState(tx, db.id, db.ckTo)
}

// mergeAppends returns pend with each document's consecutive Appends joined
// into one, so that a checkpoint reads and writes each document's meta and
// log once, however many Appends the journal took for it. A joined Append
// has the LSN of its first part and the length and time of its last.
func mergeAppends(pend []*journaled) []*journaled {
	out := make([]*journaled, 0, len(pend))
	last := make(map[string]int, len(pend)) // Document → its newest entry in out.
	joined := map[int]bool{}                // Entries of out built here, whose chunk is stale.
	for _, j := range pend {
		i, ok := last[j.id]
		if !ok || out[i].last+1 != j.first {
			last[j.id] = len(out)
			out = append(out, j)
			continue
		}
		m := out[i]
		if !joined[i] {
			m = &journaled{appendArgs: m.appendArgs, lsn: m.lsn}
			m.recs = slices.Clip(m.recs)
			out[i], joined[i] = m, true
		}
		m.recs = append(m.recs, j.recs...)
		m.last, m.length, m.at = j.last, j.length, j.at
	}
	for i := range joined {
		out[i].chunk = encodeChunk(out[i].recs)
	}
	return out
}

// checkpointed notes that bbolt holds every journaled record, after a
// transaction of duration d.
func (db *DB) checkpointed(d time.Duration) {
	if db.ckTo == db.applied {
		return
	}
	clear(db.pend)
	db.pend = db.pend[:0]
	db.mu.Lock()
	db.overlay = map[string]*overlay{} // Readers may still hold the old entries.
	db.base = db.ckTo
	db.mu.Unlock()
	db.applied = db.ckTo
	db.jrBroken = false
	db.jr.restart()
	db.checkpoints.Add(1)
	db.checkpointTime.Add(int64(d))
}

// checkpoint copies the journaled records into bbolt, unless it holds them.
// A failure (e.g. a full disk) leaves them in the journal for the next try.
func (db *DB) checkpoint() {
	if db.ckTo != db.applied && db.failure() == nil {
		if _, err := db.tryBatch(nil); err != nil {
			db.checkpointFailures.Add(1)
		}
	}
}

// settle makes bbolt hold every journaled op of document id (of every
// document when id is ""), so that a read of bbolt sees every acknowledged
// write: when some are only in the journal, it has the committer checkpoint.
func (db *DB) settle(ctx context.Context, id string) error {
	db.mu.Lock()
	_, pending := db.overlay[id]
	if id == "" {
		pending = len(db.overlay) > 0
	}
	db.mu.Unlock()
	if !pending {
		return nil
	}
	if db.readOnly {
		return fmt.Errorf("storage: %s: journaled ops bbolt does not hold yet, and a read-only database cannot checkpoint them: %w",
			db.path, ErrReadOnly)
	}
	return db.write(ctx, func(*bolt.Tx) error { return nil })
}
