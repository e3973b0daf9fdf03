package collab

import (
	"context"
	"errors"
	"time"

	"github.com/foliodocs/folio/storage"
)

// Bus carries committed ops between the servers ("nodes") that serve the
// same documents from one shared Store. It is the seam for a multi-node mode
// built on an existing pub/sub engine; a nil Bus means a single node.
//
// Store.Append is the sequencer: it commits a version only once, so every
// node sees the same records at the same versions, and the Bus only needs to
// be fast, not reliable or ordered. A lost or reordered message shows up as a
// gap and is repaired from Store.Ops when the next one arrives, or within
// Options.BusPoll, when each room compares its head with the store's. A Bus
// that also implements PresenceBus carries presence too.
type Bus interface {
	// Publish announces recs (consecutive versions) that were just durably
	// committed to doc. It runs on the room's commit path, before the local
	// acks, so it should hand the message off rather than wait for delivery.
	// An error is logged (at most once per 10 s); the other nodes catch up
	// later.
	Publish(ctx context.Context, doc string, recs []storage.OpRecord) error
	// Subscribe calls deliver with the records published for doc by any node,
	// this one included (a room ignores versions it already has), until
	// cancel returns; deliver is not called after that. deliver never blocks
	// and may be called from any goroutine.
	Subscribe(doc string, deliver func(recs []storage.OpRecord)) (cancel func())
}

// remoteQueue is how many delivered batches wait for the room goroutine;
// past it the room is "behind" and reads what it missed from the store.
const remoteQueue = 256

// maxCommitTries bounds how often an op is rebased and committed again after
// other nodes won the version race; then it fails with conflict.
const maxCommitTries = 8

var errConflict = errorf(CodeConflict, "concurrent change on another server, retry")
var errBehind = errorf(CodeUnavailable, "server is catching up with another server, retry")

// subscribeBus starts following the room's document on the bus, before the
// room loads it, so nothing committed elsewhere after the load is missed.
// The callback only hands records to the room's goroutine.
func (r *room) subscribeBus() {
	bus := r.hub.opts.Bus
	if bus == nil {
		return
	}
	r.remote = make(chan []storage.OpRecord, remoteQueue)
	r.wake = make(chan struct{}, 1)
	r.poll = time.NewTimer(r.hub.opts.BusPoll)
	r.subscribePresence()
	r.unsubscribe = bus.Subscribe(r.id, func(recs []storage.OpRecord) {
		select {
		case r.remote <- recs:
		default: // Behind: read what was missed from the store.
			select {
			case r.wake <- struct{}{}:
			default:
			}
		}
	})
}

// unsubscribeBus runs when the room's goroutine ends (unload, Close,
// failed load).
func (r *room) unsubscribeBus() {
	if r.unsubscribe != nil {
		r.unsubscribe()
		r.poll.Stop()
	}
	if r.unsubscribePres != nil {
		r.unsubscribePres()
	}
}

// publishCommit runs on the commit goroutine after a successful Append,
// before the room hears of the result, so a room's publications follow
// version order.
func (h *Hub) publishCommit(id string, recs []storage.OpRecord) {
	if err := h.opts.Bus.Publish(h.ctx, id, recs); err != nil {
		h.busFailed("publish commit", id, err)
	}
}

// busFailed logs a publication the bus refused, at most once per
// unavailLogEvery (see Hub.busLog).
func (h *Hub) busFailed(op, id string, err error) {
	h.busLog.Do(func() {
		h.log.Error().Err(err).Str(logDoc, id).Msg(op + "; other nodes catch up by polling (at most one such line per 10s)")
	})
}

// onRemote runs on the room goroutine with no commit in flight. A record at
// head+1 is applied like a local commit; one after a gap makes the room read
// what it missed from the store; a known version is ignored.
func (r *room) onRemote(recs []storage.OpRecord) {
	for _, rec := range recs {
		switch {
		case rec.Version <= r.head:
		case rec.Version == r.head+1:
			if !r.applyRemote(rec) {
				return
			}
		default:
			r.catchUp()
			if rec.Version > r.head { // The store could not be read.
				return
			}
		}
	}
}

// drainRemote handles what the bus has delivered so far. The loop calls it
// between commits, so a busy room, always committing, still applies other
// nodes' records as they come instead of only after losing a race.
func (r *room) drainRemote() {
	for range len(r.remote) {
		r.onRemote(<-r.remote)
	}
	select {
	case <-r.wake:
		r.catchUp()
	default:
	}
}

// catchUp applies the records other nodes committed after the room's head.
// It runs on the room goroutine with no commit in flight.
func (r *room) catchUp() {
	ctx := r.hub.ctx
	meta, err := r.hub.store.Meta(ctx, r.id)
	// Deleted and created again elsewhere: the new document's versions start
	// past this one's last (Meta.Base), and its ops cannot apply here.
	recreated := err == nil && meta.Base != r.base
	switch {
	case (recreated || errors.Is(err, storage.ErrNotFound)) && r.stopErr == nil:
		r.recreated = recreated
		r.deletedElsewhere()
		return
	case recreated:
		return
	case err != nil:
		r.hub.fail("catch up", r.id, err)
		return
	}
	for r.head < meta.Version {
		to := min(meta.Version, r.head+uint64(r.hub.opts.OpWindow))
		recs, err := r.hub.store.Ops(ctx, r.id, r.head, to)
		if err != nil {
			r.hub.fail("catch up", r.id, err)
			return
		}
		if len(recs) == 0 || recs[0].Version != r.head+1 {
			r.log.Error().Uint64("head", r.head).Msg("catch up: storage returned a wrong op range")
			return
		}
		for _, rec := range recs {
			if !r.applyRemote(rec) {
				return
			}
		}
	}
}

// reachVersion runs when a client names a version v after the room's head
// (hello, Subscribe, an op's base): with a Bus it may have seen v on another
// node, so the room catches up first. While a commit is in flight it cannot,
// and answers errBehind (retry): serving from a stale head would give the
// client a text older than its own, and its in-flight op an ack it would
// misread. A version the store does not have either is left to the caller
// (as on a single node).
//
// When catching up ends the room, the room must not admit the caller with
// its old text, and the answer depends on what the store holds now:
//   - nothing (deleted elsewhere): the room's stopErr, deleted, as for a
//     caller that comes a moment later; a retry would only find not_found.
//   - a new document of this id (deleted and created again elsewhere):
//     errBehind. v is past the old document's head, so most likely a
//     version of the new one, seen on another node; a retry reaches a room
//     that loads the new document and serves it.
//
// Any other end (a record that does not apply) answers the room's stopErr.
// An op hears errBehind as conflict (see opRefusal), its retryable code.
func (r *room) reachVersion(v *uint64) *Error {
	if v == nil || r.remote == nil || *v <= r.head {
		return nil
	}
	if len(r.inflight) > 0 {
		return errBehind
	}
	r.catchUp()
	switch {
	case r.stopErr == nil:
		return nil
	case r.recreated:
		return errBehind
	}
	return r.stopErr
}

// opRefusal is how an op hears reachVersion's refusal e: errBehind (retry)
// as conflict, like a commit lost to another node, so that clients resend
// it as they do then; anything else as it is.
func opRefusal(e *Error) *Error {
	if e == errBehind {
		return errConflict
	}
	return e
}

// applyRemote applies rec, committed by another node at head+1, like a
// local commit (text, window, cursors, broadcast), then moves the queued ops
// behind it. false when the room cannot go on (the record does not apply).
func (r *room) applyRemote(rec storage.OpRecord) bool {
	if !r.apply(&pendingOp{rec: rec, remote: true}) {
		r.failQueued()
		return false
	}
	r.requeue(rec)
	return true
}

// requeue rebuilds the queue after rec was committed ahead of it: each op is
// rebased again from its form at the head it was submitted at (atHead) over
// the committed ops since, rec included, and the ops requeued before it.
// That is the order in which its author's client transforms it, so both
// agree even where inserts tie. An op that is rec itself (one resend reached
// two nodes) is answered with rec's version; an older op of rec's session,
// a strict op, or one based on pending text fails instead.
func (r *room) requeue(rec storage.OpRecord) {
	old := r.queued
	r.queued, r.pendLen = nil, r.doc.Len()
	for _, p := range old {
		same := rec.Session != "" && p.rec.Session == rec.Session
		switch {
		case same && p.rec.Seq == rec.Seq:
			p.answer(r, rec.Version)
			continue
		case same && p.rec.Seq < rec.Seq || p.atHead == nil:
			p.fail(r, errConflict)
			continue
		case p.strict:
			p.fail(r, errorf(CodePreconditionFailed, "document changed since that version"))
			continue
		}
		op, _, e := r.rebase(p.base, p.atHead)
		if e != nil {
			p.fail(r, e)
			continue
		}
		p.rec.Op, p.rec.Version = op, r.pendingHead()+1
		r.queued = append(r.queued, p)
		r.pendLen += lenDelta(op)
	}
}

// answer acknowledges an op that another node committed at version.
func (p *pendingOp) answer(r *room, version uint64) {
	for _, c := range p.replies {
		c <- submitResult{version: version}
	}
	if s := r.byID[p.rec.Session]; s != nil && p.ws {
		s.send(encode(Ack{Type: TypeAck, Seq: p.rec.Seq, Version: version}))
	}
}

// failQueued fails every queued op with conflict (precondition_failed for a
// strict one). Clients resend with the same seq; the exactly-once check then
// finds whether another node committed it.
func (r *room) failQueued() {
	for _, p := range r.queued {
		e := errConflict
		if p.strict {
			e = errorf(CodePreconditionFailed, "document changed since that version")
		}
		p.fail(r, e)
	}
	r.queued = nil
	r.pendLen = r.doc.Len()
}

// commitFoundGone handles a batch whose commit found no document (nothing
// of it was stored) and reports whether it did. With a Bus that is another
// node's delete, which this room has not seen yet: it ends like
// deletedElsewhere at once, rather than refusing every op with not_found
// until its next look at the store.
func (r *room) commitFoundGone(batch []*pendingOp, err error) bool {
	if r.remote == nil || !errors.Is(err, storage.ErrNotFound) {
		return false
	}
	r.queued = append(batch, r.queued...)
	r.deletedElsewhere()
	return true
}

// retryConflict handles a batch that lost the version race to another node
// (nothing of it was stored) and reports whether it did. The room catches
// up, which rebases the batch and the queued ops over the winners, and the
// loop commits them again. When an op of the batch lost maxCommitTries
// times, or the store's head did not move (not a race: do not spin), the
// batch and the queue fail with conflict instead.
func (r *room) retryConflict(batch []*pendingOp, err error) bool {
	if r.remote == nil || !errors.Is(err, storage.ErrVersionConflict) {
		return false
	}
	exhausted := false
	for _, p := range batch {
		p.tries++
		exhausted = exhausted || p.tries >= maxCommitTries
	}
	r.queued = append(batch, r.queued...)
	head := r.head
	r.catchUp()
	if exhausted || r.head == head {
		r.failQueued()
	}
	return true
}
