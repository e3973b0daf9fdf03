package collab

import (
	"context"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// submission is an op on its way into a room, from a session or from Submit.
type submission struct {
	base    uint64
	op      ot.Op
	session string // "" when the caller wants no exactly-once check
	seq     uint64
	author  string
	from    *session          // The WebSocket session that sent it; nil for Submit.
	reply   chan submitResult // Submit's answer; nil for WebSocket ops.
	start   time.Time
	single  bool // The session carries only this op (Submission.Single).
	strict  bool // Must apply at exactly its base (ReplaceText with ifVersion).
	pending bool // base is the room's pending head, not a version a client saw (ReplaceText).
}

type submitResult struct {
	version uint64
	err     *Error
}

// pendingOp is a rebased op with its version, waiting to be durable.
type pendingOp struct {
	rec     storage.OpRecord
	ws      bool   // Came from a WebSocket session: ack the session holding rec.Session.
	remote  bool   // Committed by another node (Bus): nobody here to answer.
	strict  bool   // Fails rather than moving behind another node's commit.
	tries   int    // Commits lost to another node's commit (Bus).
	base    uint64 // The head when it was submitted.
	atHead  ot.Op  // The op transformed up to base (before the pending ops); nil if based on pending text.
	replies []chan submitResult
	start   time.Time
}

type commitResult struct {
	err  error
	took time.Duration
	snap *storage.Snapshot
}

// submit runs on the room goroutine.
//  1. Refuse while draining.
//  2. Duplicate? A (session, seq) already committed is acknowledged again with
//     its original version, never re-applied; one still pending is answered
//     when its commit ends.
//  3. Check it fits the text at its base version, then rebase it over
//     everything committed or queued after that base (side Left).
//  4. Check the size limit.
//  5. Queue it with the next version for the next durable commit; nobody sees
//     it before that commit returns (finishCommit does the rest).
func (r *room) submit(sub *submission) {
	if r.stopErr != nil {
		r.reject(sub, r.stopErr)
		return
	}
	if r.remote != nil && !sub.pending && sub.base > r.head {
		if e := r.reachVersion(&sub.base); e != nil {
			r.reject(sub, opRefusal(e))
			return
		}
		if sub.base > r.head {
			r.reject(sub, errorf(CodeVersionAhead, "base version is ahead of the document"))
			return
		}
	}
	if sub.session != "" && r.dedupe(sub) {
		return
	}
	op, atHead, e := r.rebase(sub.base, sub.op)
	if e != nil {
		r.reject(sub, e)
		return
	}
	if r.pendLen+lenDelta(op) > r.hub.opts.MaxDocLen {
		r.reject(sub, errorf(CodeDocTooLarge, "document size limit reached"))
		return
	}
	p := &pendingOp{
		rec: storage.OpRecord{Version: r.pendingHead() + 1, Op: op, Session: sub.session,
			Seq: sub.seq, Author: sub.author, Time: r.hub.opts.Now()},
		ws:     sub.from != nil,
		strict: sub.strict,
		base:   r.head,
		atHead: atHead,
		start:  sub.start,
	}
	if sub.reply != nil {
		p.replies = append(p.replies, sub.reply)
	}
	r.queued = append(r.queued, p)
	r.pendLen += lenDelta(op)
	if sub.from != nil {
		if s := sub.from; !s.ackedAt.IsZero() {
			s.quick = time.Since(s.ackedAt) < gatherDelay
		}
		if r.gather.holding() {
			r.gather.arrived(sub.session)
		}
	}
}

func (r *room) pendingHead() uint64 {
	return r.head + uint64(len(r.inflight)+len(r.queued))
}

// dedupe answers a (session, seq) seen before and reports whether it did.
func (r *room) dedupe(sub *submission) bool {
	if sub.single {
		return r.dedupeSingle(sub)
	}
	var newest uint64
	for _, list := range [][]*pendingOp{r.inflight, r.queued} {
		for _, p := range list {
			if p.rec.Session != sub.session {
				continue
			}
			newest = p.rec.Seq
			if p.rec.Seq == sub.seq {
				if sub.reply != nil {
					p.replies = append(p.replies, sub.reply)
				}
				return true
			}
		}
	}
	last, e := r.lastSeq(sub.session)
	if e != nil {
		r.reject(sub, e)
		return true
	}
	switch {
	case sub.seq == last.seq:
		r.ackAgain(sub, last.version)
		return true
	case sub.seq > last.seq && sub.seq > newest:
		return false
	}
	for _, rec := range r.window {
		if rec.Session == sub.session && rec.Seq == sub.seq {
			r.ackAgain(sub, rec.Version)
			return true
		}
	}
	r.reject(sub, errSeqNotIncrease)
	return true
}

// dedupeSingle is dedupe for a session of one op (Submission.Single): the
// session's op, committed or on its way, answers sub when their seqs match,
// and refuses it otherwise (the key was reused for another request).
func (r *room) dedupeSingle(sub *submission) bool {
	for _, list := range [][]*pendingOp{r.inflight, r.queued} {
		for _, p := range list {
			switch {
			case p.rec.Session != sub.session:
			case p.rec.Seq != sub.seq:
				r.reject(sub, errKeyReused)
				return true
			default:
				if sub.reply != nil {
					p.replies = append(p.replies, sub.reply)
				}
				return true
			}
		}
	}
	last, e := r.lastSeq(sub.session)
	switch {
	case e != nil:
		r.reject(sub, e)
	case last.seq == 0:
		return false
	case last.seq == sub.seq || last.seq == legacySingleSeq:
		r.ackAgain(sub, last.version)
	default:
		r.reject(sub, errKeyReused)
	}
	return true
}

// legacySingleSeq is the seq under which REST ops with an Idempotency-Key
// were stored before requests were fingerprinted: such a key's retry is
// answered with its version, as it was then.
const legacySingleSeq = 1

// windowSlack: the op window is trimmed back to OpWindow ops once it holds
// OpWindow/windowSlack more, so a busy room keeps at most 1.25 × OpWindow
// ops in memory and copies the window once per OpWindow/4 ops.
const windowSlack = 4

// seqCacheFactor bounds r.seqs, a cache of what storage holds (SessionSeq),
// at this many times MaxConnsPerDoc entries. Without a bound a room that
// stays open would keep one entry for every session that ever wrote to it,
// such as one per Idempotency-Key of REST writes.
const seqCacheFactor = 4

// boundSeqs forgets the cached seqs of the sessions not attached to the room
// once the cache is over its bound; they are read from storage again when
// needed (dedupe checks the ops in flight and queued first, and storage has
// every committed one). At most MaxConnsPerDoc entries survive a sweep, so
// sweeps are rare.
func (r *room) boundSeqs() {
	if len(r.seqs) <= seqCacheFactor*r.hub.opts.MaxConnsPerDoc {
		return
	}
	for id := range r.seqs {
		if r.byID[id] == nil {
			delete(r.seqs, id)
		}
	}
}

// lastSeq is the last committed seq of a session, from memory or, when the
// caller could not have it read first (needSeq), storage.
func (r *room) lastSeq(session string) (seqRec, *Error) {
	if rec, ok := r.seqs[session]; ok {
		return rec, nil
	}
	seq, version, err := r.hub.store.SessionSeq(r.hub.ctx, r.id, session)
	if err != nil {
		return seqRec{}, r.hub.fail("session seq", r.id, err)
	}
	rec := seqRec{seq: seq, version: version}
	r.seqs[session] = rec
	return rec, nil
}

// ackAgain answers a resent op with the version it was committed at. With
// a Bus that version may be one another node committed and this room has
// not applied yet: the room catches up first, so that a client hears of
// every version before the ack of its op (else it sees a gap); while a
// commit is in flight it cannot, and the op is refused as retryable (see
// reachVersion for a room that catching up ended).
func (r *room) ackAgain(sub *submission, version uint64) {
	if r.remote != nil && version > r.head {
		if e := r.reachVersion(&version); e != nil {
			r.reject(sub, opRefusal(e))
			return
		}
		if version > r.head { // Catching up fell short: the store could not be read.
			r.reject(sub, errConflict)
			return
		}
	}
	if sub.reply != nil {
		sub.reply <- submitResult{version: version}
	}
	if sub.from != nil {
		sub.from.send(encode(Ack{Type: TypeAck, Seq: sub.seq, Version: version}))
	}
}

func (r *room) reject(sub *submission, e *Error) {
	r.hub.opts.Metrics.opRejected(e.Code)
	if sub.reply != nil {
		sub.reply <- submitResult{err: e}
	}
	if sub.from != nil {
		sub.from.sendError(e, sub.seq)
	}
}

// rebase checks op against the text at base and transforms it over every
// op after base,
// committed or pending. It also returns op transformed over the committed
// ops only (nil when base is after the head): a Bus room moves a queued op
// behind another node's commit by rebasing that form again.
func (r *room) rebase(base uint64, op ot.Op) (rebased, atHead ot.Op, e *Error) {
	if base > r.pendingHead() {
		return nil, nil, errorf(CodeVersionAhead, "base version is ahead of the document")
	}
	committed, e := r.opsAfter(base)
	if e != nil {
		return nil, nil, e
	}
	var pending []*pendingOp
	for _, list := range [][]*pendingOp{r.inflight, r.queued} {
		for _, p := range list {
			if p.rec.Version > base {
				pending = append(pending, p)
			}
		}
	}
	baseLen := r.pendLen
	for _, rec := range committed {
		baseLen -= lenDelta(rec.Op)
	}
	for _, p := range pending {
		baseLen -= lenDelta(p.rec.Op)
	}
	if op.BaseLen() > baseLen {
		return nil, nil, errorf(CodeInvalidOp, "op does not fit the document at its base version")
	}
	if ot.Validate(op) != nil {
		op = ot.Normalize(op) // A decoded op is in normal form already: no copy.
	}
	if base > r.head && hasDelText(op) {
		if e := r.checkPendingDelText(base, op); e != nil {
			return nil, nil, e
		}
	}
	for _, rec := range committed {
		op = ot.Transform(op, rec.Op, ot.Left)
	}
	if base <= r.head {
		atHead = op
		// Deleted text is checked where it still stands, at the head, in
		// the room's own document: O(components × log n) plus that text.
		// Text that ops after base deleted is no longer named by op (the
		// transform dropped it) and is not compared; checking it would
		// need the text at base, a storage read and a copy of the document
		// for every concurrent delete the browser editor sends.
		if hasDelText(op) && r.doc.Check(op) != nil {
			return nil, nil, errDelTextMismatch
		}
	}
	for _, p := range pending {
		op = ot.Transform(op, p.rec.Op, ot.Left)
	}
	if op.BaseLen() > r.pendLen {
		r.log.Error().Msg("rebased op does not fit")
		return nil, nil, errInternal
	}
	return op, atHead, nil
}

// checkPendingDelText checks the {"d":"text"} deletes of op, based on a
// version still being committed (ReplaceText's pending base), against the
// text there. Rare, and O(document length).
func (r *room) checkPendingDelText(base uint64, op ot.Op) *Error {
	var before []*pendingOp
	for _, p := range r.allPending() {
		if p.rec.Version <= base {
			before = append(before, p)
		}
	}
	text, ok := r.textAfter(before)
	if !ok {
		return errInternal
	}
	if _, err := ot.Apply(text, op); err != nil {
		return errDelTextMismatch
	}
	return nil
}

var errDelTextMismatch = errorf(CodeInvalidOp, "deleted text does not match the document")

// opsAfter returns the committed ops after version v, from the window or
// storage, read here (a joining client reads them itself: catchUpOps). The
// read is bounded as a catch-up is (catchUpBudget): an op based before
// older ops that outweigh the text is version_too_old, and its client
// resyncs from the text, rather than the room reading (and holding every
// participant for) gigabytes of old ops. The window's ops are in memory
// and cheap to transform over, whatever their size: they are not counted.
func (r *room) opsAfter(v uint64) ([]storage.OpRecord, *Error) {
	var need readNeed
	ops, e := r.catchUpOps(v, noBudget, nil, &need)
	if e != nil || need.to == 0 {
		return ops.flat(), e
	}
	budget := r.catchUpBudget()
	older, size, e := r.hub.readOpsWithin(r.hub.ctx, r.id, need.from, need.to, budget)
	switch {
	case e != nil:
		return nil, e
	case size > budget:
		return nil, errCatchUpTooLarge
	}
	return append(older, r.window...), nil
}

func (r *room) allPending() []*pendingOp {
	return append(append([]*pendingOp(nil), r.inflight...), r.queued...)
}

// textAfter is the committed text with ops applied: one copy of the
// document and one Apply of the ops composed, O(document length) once
// however many ops there are (the batch of a commit that carries a
// snapshot may hold hundreds; applying each to a copy of the text cost a
// million-code-point document 55 ms for 16 ops). ok is false, and logged,
// when they do not apply, which no caller may build on (a snapshot of it
// would be loaded as the document).
func (r *room) textAfter(ops []*pendingOp) (text string, ok bool) {
	all := make([]ot.Op, len(ops))
	for i, p := range ops {
		all[i] = p.rec.Op
	}
	op, err := composeAll(all)
	if err == nil {
		text, err = ot.Apply(r.doc.String(), op)
	}
	if err != nil {
		r.log.Error().Err(err).Msg("pending op does not apply")
		return "", false
	}
	return text, true
}

// composeAll composes ops in order, overwriting the slice: in pairs, round
// after round, so that each op's components are composed about log₂(k)
// times rather than once for every op after it.
func composeAll(ops []ot.Op) (ot.Op, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	for len(ops) > 1 {
		next := ops[:0]
		for i := 0; i < len(ops); i += 2 {
			if i+1 == len(ops) {
				next = append(next, ops[i])
				break
			}
			c, err := ot.Compose(ops[i], ops[i+1])
			if err != nil {
				return nil, err
			}
			next = append(next, c)
		}
		ops = next
	}
	return ops[0], nil
}

// startCommit hands the queued ops to a commit goroutine unless one is running.
func (r *room) startCommit() {
	if len(r.inflight) > 0 || len(r.queued) == 0 || r.gather.holding() {
		return
	}
	r.inflight, r.queued = r.queued, nil
	recs := make([]storage.OpRecord, len(r.inflight))
	for i, p := range r.inflight {
		recs[i] = p.rec
	}
	length := r.lenAfter(r.inflight)
	var snap *storage.Snapshot
	if last := recs[len(recs)-1].Version; last-r.snapVersion >= uint64(r.hub.opts.SnapshotEvery) {
		if text, ok := r.textAfter(r.inflight); ok { // Else no snapshot: the next commit tries again.
			snap = &storage.Snapshot{Version: last, Text: text}
		}
	}
	h, id, res := r.hub, r.id, r.commitRes
	h.roomWG.Add(1) // The commit goroutine counts as part of the room.
	go func() {
		defer h.roomWG.Done()
		start := time.Now()
		// In-flight commits finish even during shutdown: no cancellation.
		err := h.store.Append(context.Background(), id, recs, length, snap)
		took := time.Since(start)
		if err == nil && h.opts.Bus != nil {
			h.publishCommit(id, recs)
		}
		res <- commitResult{err: err, took: took, snap: snap}
	}()
}

// finishCommit runs on the room goroutine when a commit ends.
// On success each op is applied in version order: cursors move, the author is
// acknowledged, everyone else gets the same encoded bytes. On failure nothing
// changed: the batch and everything queued after it (rebased over it) fail.
func (r *room) finishCommit(res commitResult) {
	batch := r.inflight
	r.inflight = nil
	r.hub.opts.Metrics.commitTook(res.took)
	if res.err != nil {
		if r.retryConflict(batch, res.err) || r.commitFoundGone(batch, res.err) {
			return
		}
		e := r.hub.fail("commit", r.id, res.err)
		for _, p := range append(batch, r.queued...) {
			p.fail(r, e)
		}
		r.queued = nil
		r.pendLen = r.doc.Len()
		return
	}
	if res.snap != nil {
		r.snapVersion = res.snap.Version
	}
	for i, p := range batch {
		if !r.apply(p) {
			for _, q := range append(batch[i+1:], r.queued...) {
				q.fail(r, errInternal)
			}
			r.queued = nil
			return
		}
	}
	r.flushWithOps()
	if r.stopErr == nil && len(r.queued) > 0 {
		r.gather.start(r.ackedAuthors(batch), r.queued)
	}
}

// ackedAuthors lists the sessions still here that batch acknowledged and
// that type ahead (quick): their next op is likely to follow the ack at once.
func (r *room) ackedAuthors(batch []*pendingOp) []string {
	var ids []string
	for _, p := range batch {
		if s := r.byID[p.rec.Session]; p.ws && s != nil && s.quick && !slices.Contains(ids, p.rec.Session) {
			ids = append(ids, p.rec.Session)
		}
	}
	return ids
}

func (r *room) apply(p *pendingOp) bool {
	rec := p.rec
	if err := r.doc.Apply(rec.Op); err != nil {
		r.log.Error().Err(err).Uint64("version", rec.Version).Msg("committed op does not apply")
		r.stopErr = errInternal
		return false
	}
	r.head = rec.Version
	// The large-text caches are for the head only: a stale one would pin an
	// old copy of the text for as long as the room lives.
	r.textCache.b, r.snapCache = nil, Event{}
	r.window = append(r.window, rec)
	if len(r.window) >= r.hub.opts.OpWindow+r.hub.opts.OpWindow/windowSlack {
		r.trimWindow()
	}
	if rec.Session != "" {
		r.seqs[rec.Session] = seqRec{seq: rec.Seq, version: rec.Version}
		r.boundSeqs()
	}
	r.moveCursors(rec.Op)
	msg := OpMsg{Type: TypeOp, Version: rec.Version, Op: rec.Op, Session: rec.Session, Seq: rec.Seq}
	b := encodeOpMsg(msg)
	var author *session
	if p.ws {
		author = r.byID[rec.Session]
	}
	if author != nil { // First: the author waits for it to send its next op.
		author.ackedAt = time.Now()
		if !author.sendHeld(r, encodeAck(rec.Seq, rec.Version), author.out.max) {
			author.kick(errSlowConsumer)
		}
	}
	for s := range r.sessions {
		if s != author && !s.sendHeld(r, b, s.out.max) {
			s.kick(errSlowConsumer)
		}
	}
	if len(r.subs) > 0 {
		ev := msg // Escapes to the subscribers; msg stays on the stack.
		// b without its type is the op's payload for every subscriber.
		data := append([]byte{'{'}, b[len(`{"type":"op",`):]...)
		r.publish(Event{Kind: EventOp, Version: rec.Version, Op: &ev, JSON: data})
	}
	for _, c := range p.replies {
		c <- submitResult{version: rec.Version}
	}
	if !p.remote {
		r.hub.opts.Metrics.opApplied(time.Since(p.start))
	}
	return true
}

// fail reports a failed pending op to whoever waits for it.
func (p *pendingOp) fail(r *room, e *Error) {
	r.hub.opts.Metrics.opRejected(e.Code)
	for _, c := range p.replies {
		c <- submitResult{err: e}
	}
	if s := r.byID[p.rec.Session]; s != nil && p.ws {
		s.sendError(e, p.rec.Seq)
	}
}

// lenDelta is how much op changes a text's length, in code points.
func lenDelta(op ot.Op) int {
	n := 0
	for _, c := range op {
		n += utf8.RuneCountInString(c.Insert) - c.Delete
	}
	return n
}

func hasDelText(op ot.Op) bool {
	for _, c := range op {
		if c.DelText != "" {
			return true
		}
	}
	return false
}

func runeCount(s string) int { return utf8.RuneCountInString(s) }
