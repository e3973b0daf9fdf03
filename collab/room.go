package collab

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// errRoomGone means the room ended before taking a request; the caller opens
// the document again (or reports loadErr).
var errRoomGone = errors.New("collab: room ended")

// room is one open document. Its goroutine (run) owns everything below inbox.
type room struct {
	hub       *Hub              // Static.
	id        string            // Static.
	log       zerolog.Logger    // Static.
	forDelete bool              // Static: the room only deletes the document and ends.
	inbox     chan func()       // Any goroutine may send (see do).
	done      chan struct{}     // Closed when run has returned.
	loadErr   error             // Set before done closes: callers must not retry.
	deleteErr error             // Set before done closes in delete mode.
	commitRes chan commitResult // The room's commit goroutine reports here (buffered 1).

	// With a Bus (else nil): the bus callback sends to remote without
	// blocking; when it is full the room is behind and it signals wake.
	remote      chan []storage.OpRecord
	wake        chan struct{} // Buffered 1.
	unsubscribe func()        // Cancels the subscription (unsubscribeBus).
	poll        *time.Timer   // Owned by run: the next look at the store's head.

	// With a PresenceBus (else nil): the subscription callback sends to
	// remotePres without blocking; elsewhere is owned by run.
	presBus         PresenceBus
	remotePres      chan PresenceNews
	unsubscribePres func()
	elsewhere       map[string]*elsewherePeer // Peers connected to other nodes, by session id.

	// Owned by run.
	doc           *ot.Document       // Text at head (committed ops only).
	head          uint64             // Committed version.
	base          uint64             // The document's Meta.Base when loaded; another in the store means it was deleted and created again.
	snapVersion   uint64             // Version of the newest stored snapshot.
	window        []storage.OpRecord // The last OpWindow committed ops, in order.
	inflight      []*pendingOp       // Being committed by the commit goroutine.
	queued        []*pendingOp       // Waiting for the next commit.
	pendLen       int                // Length after inflight and queued ops.
	seqs          map[string]seqRec  // Last committed (seq, version) per session id seen; a bounded cache (boundSeqs).
	sessions      map[*session]struct{}
	byID          map[string]*session // The current connection of each session id.
	subs          map[*Subscription]struct{}
	stopErr       *Error       // Set when draining: shutdown (unavailable) or deleted.
	stopReplies   []chan error // Delete callers waiting for the end.
	goneElsewhere bool         // Another node deleted the document (deletedElsewhere).
	recreated     bool         // With goneElsewhere: the store holds a new document of this id.
	idle          *time.Timer  // Armed while nobody is attached.
	presTimer     *time.Timer  // Armed while some presence waits for coalescing.
	held          []*session   // Writers claimed in this turn (sendHeld), started by releaseWriters.
	gather        gather       // Holds the next commit briefly for just-acknowledged authors.
	presLeaves    []string     // Sessions that left since the last flush and must be announced.
	// The text at head, when large, as a JSON string (headTextJSON) and as a
	// snapshot event (snapshotEvent); apply drops both when the head moves.
	textCache struct{ b []byte }
	snapCache Event
}

type seqRec struct{ seq, version uint64 }

func newRoom(h *Hub, id string, forDelete bool) *room {
	return &room{
		hub:       h,
		id:        id,
		log:       h.log.With().Str(logDoc, id).Logger(),
		forDelete: forDelete,
		inbox:     make(chan func()),
		done:      make(chan struct{}),
		commitRes: make(chan commitResult, 1),
		seqs:      make(map[string]seqRec),
		sessions:  make(map[*session]struct{}),
		byID:      make(map[string]*session),
		subs:      make(map[*Subscription]struct{}),
	}
}

// do runs fn on the room goroutine and returns after it ran, or errRoomGone
// when the room ended without taking it.
func (r *room) do(ctx context.Context, fn func()) error {
	ran := make(chan struct{})
	select {
	case r.inbox <- func() { defer close(ran); fn() }:
		<-ran
		return nil
	case <-r.done:
		return errRoomGone
	case <-ctx.Done():
		return ctx.Err()
	}
}

// post hands fn to the room goroutine and returns without waiting for it
// to run (the room takes requests in the order handed over); errRoomGone
// when the room ended without taking it. A reader posts its ops and
// presence: waiting for each to run would park and wake it once more per
// message.
func (r *room) post(ctx context.Context, fn func()) error {
	select {
	case r.inbox <- fn:
		return nil
	case <-r.done:
		return errRoomGone
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *room) run() {
	defer r.hub.roomWG.Done()
	defer close(r.done)
	defer r.hub.removeRoom(r) // Before done closes, so retries find a new room.
	if r.forDelete {
		r.deleteErr = r.deleteStored()
		return
	}
	r.subscribeBus()
	defer r.unsubscribeBus()
	if err := r.load(); err != nil {
		r.loadErr = err
		return
	}
	r.hub.opts.Metrics.docOpened()
	defer r.hub.opts.Metrics.docClosed()
	r.loop()
}

func (r *room) loop() {
	closing := r.hub.closing
	for {
		// Other nodes' commits wait while one of ours is in flight: its
		// versions are taken until it ends.
		remote, wake := r.remote, r.wake
		if len(r.inflight) > 0 {
			remote, wake = nil, nil
		}
		select {
		case fn := <-r.inbox:
			fn()
		case res := <-r.commitRes:
			r.finishCommit(res)
		case recs := <-remote:
			r.onRemote(recs)
		case n := <-r.remotePres:
			r.onPresenceNews(n)
		case <-wake:
			r.catchUp()
		case <-timerC(r.poll):
			if len(r.inflight) == 0 {
				r.catchUp()
			}
			r.publishAllPresence()
			r.expireElsewhere()
			r.poll.Reset(r.hub.opts.BusPoll)
		case <-r.gather.timerC():
			r.gather.stop()
		case <-timerC(r.presTimer):
			r.presTimer = nil
			r.flushPresence()
		case <-timerC(r.idle):
			r.idle = nil
			if r.isIdle() {
				r.unload()
				return
			}
		case <-closing:
			closing = nil
			if r.stopErr == nil {
				r.stopErr = ErrShuttingDown
			}
		}
		// Other nodes' commits first: this turn's writers then carry them
		// (else they wait for the room's next turn, which in a quiet room
		// is the next poll), a delete found elsewhere ends the room in this
		// turn, and the inbox's ops rebase over them. Nothing from here to
		// startCommit starts a commit, so their versions stay free.
		if r.remote != nil && len(r.inflight) == 0 {
			r.drainRemote()
		}
		if r.stopErr != nil {
			r.gather.stop()
		}
		r.drainInbox()
		r.releaseWriters()
		if r.stopErr != nil && len(r.inflight) == 0 && len(r.queued) == 0 {
			r.shutdown()
			return
		}
		r.startCommit()
		r.armIdle()
	}
}

// drainInboxMax bounds drainInbox, so that timers and commits are not
// starved by a flood.
const drainInboxMax = 64

// drainInbox runs the requests already waiting in the inbox (ops and
// presence that arrived while the room was busy) before the turn ends: the
// next commit takes their ops along, and the writers start once for all.
func (r *room) drainInbox() {
	for range drainInboxMax {
		select {
		case fn := <-r.inbox:
			fn()
		default:
			return
		}
	}
}

// directWrites is how many sessions a turn's end writes to itself (see
// session.flushHeld); the writers of any more run meanwhile, on other
// cores, so that a broadcast to a crowd does not hold the room for
// thousands of sequential writes.
const directWrites = 64

// releaseWriters sends what this turn queued for each session as one
// batch: written at once when the socket takes it, else by its writer.
// Sessions are served in the order the turn first queued for them (an
// op's author first: its ack is queued before the broadcast).
func (r *room) releaseWriters() {
	for i, s := range r.held {
		if i < directWrites {
			s.flushHeld()
		} else {
			s.out.release()
		}
	}
	clear(r.held)
	r.held = r.held[:0]
}

func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

// load reads the snapshot and the ops after it.
func (r *room) load() error {
	ctx := r.hub.ctx
	ld, err := r.hub.store.Load(ctx, r.id)
	if err != nil {
		return r.hub.fail("load", r.id, err)
	}
	doc := ot.NewDocument(ld.Snapshot.Text)
	for _, rec := range ld.Ops {
		if err := doc.Apply(rec.Op); err != nil {
			r.log.Error().Err(err).Uint64("version", rec.Version).Msg("replay stored op")
			return errInternal
		}
	}
	r.doc = doc
	r.head = ld.Meta.Version
	r.base = ld.Meta.Base
	r.snapVersion = ld.Snapshot.Version
	r.pendLen = doc.Len()
	r.window = append(r.window[:0], ld.Ops...)
	r.trimWindow()
	return nil
}

func (r *room) trimWindow() {
	if n := len(r.window) - r.hub.opts.OpWindow; n > 0 {
		// A new array (catch-up readers may hold slices of the old one), with
		// room for the ops until the next trim so that appends never regrow it.
		w := make([]storage.OpRecord, len(r.window)-n, r.hub.opts.OpWindow+r.hub.opts.OpWindow/windowSlack)
		copy(w, r.window[n:])
		r.window = w
	}
}

func (r *room) isIdle() bool {
	return len(r.sessions) == 0 && len(r.subs) == 0 && len(r.inflight) == 0 &&
		len(r.queued) == 0 && r.stopErr == nil
}

// armIdle starts the idle timer when nobody is attached and stops it otherwise.
func (r *room) armIdle() {
	if !r.isIdle() {
		if r.idle != nil {
			r.idle.Stop()
			r.idle = nil
		}
		return
	}
	if r.idle == nil {
		r.idle = time.NewTimer(r.hub.opts.IdleUnload)
	}
}

// unload writes a final snapshot; run then unregisters the room. Joiners
// blocked on the inbox see done and open the document again.
func (r *room) unload() {
	r.publishAllPresence() // Nobody here any more.
	r.writeSnapshot()
	r.stopTimers()
	r.log.Debug().Msg("unloaded")
}

func (r *room) stopTimers() {
	if r.idle != nil {
		r.idle.Stop()
	}
	r.gather.stop()
	if r.presTimer != nil {
		r.presTimer.Stop()
	}
}

func (r *room) writeSnapshot() {
	if r.head == r.snapVersion {
		return
	}
	snap := storage.Snapshot{Version: r.head, Text: r.doc.String()}
	if err := r.hub.store.PutSnapshot(context.Background(), r.id, snap); err != nil {
		r.log.Error().Err(err).Msg("final snapshot")
		return
	}
	r.snapVersion = r.head
}

// startDelete drains the room like a shutdown, then deletes the document.
func (r *room) startDelete(reply chan error) {
	r.stopReplies = append(r.stopReplies, reply)
	r.drainDeleted()
}

// deletedElsewhere drains the room like startDelete for a document that
// another node deleted (the store no longer has it); there is nothing left
// to delete.
func (r *room) deletedElsewhere() {
	r.log.Info().Msg("document deleted on another node")
	r.goneElsewhere = true
	r.drainDeleted()
}

// drainDeleted fails the queued ops; the room ends once the commit in
// flight did, closing every session with deleted.
func (r *room) drainDeleted() {
	r.stopErr = errDeleted
	for _, p := range r.queued {
		p.fail(r, errDeleted)
	}
	r.queued = nil
	r.pendLen = r.lenAfter(r.inflight)
}

// shutdown runs when draining is over: every session is closed after its
// queued messages, subscriptions end, then the snapshot or the deletion.
func (r *room) shutdown() {
	for s := range r.sessions {
		s.closeAfterQueued(r.stopErr)
	}
	for sub := range r.subs {
		sub.end(r.stopErr)
	}
	r.sessions, r.byID, r.subs = nil, nil, nil
	r.publishAllPresence() // Nobody here any more.
	r.stopTimers()
	switch {
	case r.stopErr.Code != CodeDeleted:
		r.writeSnapshot()
		return
	case r.goneElsewhere:
		// Deletes that came while it ended: the store may hold a new
		// document of that id by now, so each caller retries with a room
		// of its own, which deletes what the store has.
		for _, c := range r.stopReplies {
			c <- errRoomGone
		}
		return
	}
	err := r.deleteStored()
	for _, c := range r.stopReplies {
		c <- err
	}
}

func (r *room) deleteStored() error {
	if err := r.hub.store.Delete(context.Background(), r.id); err != nil {
		return r.hub.fail("delete", r.id, err)
	}
	return nil
}

// lenAfter is the document length after the committed text and ops.
func (r *room) lenAfter(ops []*pendingOp) int {
	n := r.doc.Len()
	for _, p := range ops {
		n += lenDelta(p.rec.Op)
	}
	return n
}
