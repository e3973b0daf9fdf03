package collab

import (
	"context"
	"math"

	"github.com/foliodocs/folio/storage"
)

// readNeed is a room's answer to a joining or resuming client (a hello, a
// Subscribe) that needs what only storage has: the ops after its version
// that are older than the room's op window, (a hello, a REST
// submission) its session's last seq, or (a legacy hello) its session's
// last op, older than the window (resumeHolder). The client's goroutine
// reads them (Hub.readFor) and asks the room again with what it read
// (joinRead): the room, which serves every participant of the document,
// never waits for those reads (up to CatchUpLimit ops decoded, or the
// catch-up's byte budget: see catchUpBudget; a session's seq, for which
// storage first checkpoints a document with journaled ops, one being
// edited). A hello's catch-up is encoded for its welcome the same way, by
// its goroutine (welcomeOps).
type readNeed struct {
	base uint64 // The room's document (room.base).
	head uint64 // The room's head when it asked.
	// Read the ops from+1..to (to 0: none), unless their size passes
	// maxBytes (storage.DB.OpsWithin): the catch-up's budget less what the
	// window gives it.
	from, to uint64
	maxBytes int
	session  string // Read this session's last seq ("": none).
	holder   uint64 // Read the op of this version (0: none).
	// Encode, for a welcome's catch-up after version encFrom, the ops
	// encode (those after encAt), as the room holds them.
	encFrom, encAt uint64
	encode         opSpan
}

func (n *readNeed) any() bool {
	return n.to != 0 || n.session != "" || n.holder != 0 || n.encode.len() > 0
}

// joinRead is what a joining client read from storage for its room. The
// room takes it only for the document it was read for (base): an id
// deleted and created again starts past the old document's versions, and
// the old ops or seqs mean nothing there.
type joinRead struct {
	base uint64
	// The committed ops from+1..from+len(ops), and their size (opsSize), or
	// why they could not be read, or that they passed the read's bound
	// (opsOver; ops nil).
	from    uint64
	ops     []storage.OpRecord
	opsSize int
	opsErr  *Error
	opsOver bool
	// The session's last seq in storage, read after the room's head was
	// seqHead (hasSeq: read).
	session string
	hasSeq  bool
	seqHead uint64
	seq     seqRec
	// The op of version holderAt (0: none read), nil when storage has none.
	holderAt uint64
	holder   *storage.OpRecord
	// The catch-up after version encFrom for a welcome, encoded
	// (appendCatchUp) up to version encTo (enc nil: none).
	encFrom, encTo uint64
	enc            []byte
	// reads counts the caller's reads; final (the joinReads-th) says the
	// room reads what is still missing itself instead of asking again.
	reads int
	final bool
}

// joinReads bounds a caller's reads for a room. Each asks for what the
// room lacked when asked; a document edited faster than storage answers
// moves the room's window past what was read meanwhile, and the room would
// ask again forever. After joinReads reads the room reads what is still
// missing itself, on its own goroutine (as lastSeq does): the ops
// committed during the last read, and the session's seq, little reading.
const joinReads = 4

// isFinal reports whether rd is the caller's last read (see joinReads).
func (rd *joinRead) isFinal() bool { return rd != nil && rd.final }

// readFor reads what need asks for, on the caller's goroutine, keeping
// from rd (a previous read, may be nil) the ops that are still of use: when
// the room's window moved on meanwhile, only the ops in between are read.
// An error is a failed read of the session's seq (a failed read of ops is
// left to the room, which answers it as it would its own).
func (h *Hub) readFor(ctx context.Context, id string, need *readNeed, rd *joinRead) (*joinRead, *Error) {
	reads := 1
	if rd != nil {
		reads += rd.reads
	}
	if rd == nil || rd.base != need.base {
		rd = &joinRead{base: need.base}
	}
	rd.reads, rd.final = reads, reads >= joinReads
	if need.to != 0 {
		if rd.from != need.from || rd.opsErr != nil || rd.opsOver || rd.from+uint64(len(rd.ops)) > need.to {
			rd.from, rd.ops, rd.opsSize, rd.opsErr, rd.opsOver = need.from, nil, 0, nil, false
		}
		left := need.maxBytes - rd.opsSize
		switch ops, size, e := h.readOpsWithin(ctx, id, rd.from+uint64(len(rd.ops)), need.to, left); {
		case e != nil:
			rd.opsErr = e
		case size > left:
			rd.ops, rd.opsSize, rd.opsOver = nil, 0, true
		default:
			rd.ops, rd.opsSize = append(rd.ops, ops...), rd.opsSize+size
		}
	}
	if need.session != "" {
		seq, version, err := h.store.SessionSeq(ctx, id, need.session)
		if err != nil {
			return nil, h.fail("session seq", id, err)
		}
		rd.session, rd.hasSeq, rd.seqHead, rd.seq = need.session, true, need.head, seqRec{seq: seq, version: version}
	}
	if need.holder != 0 {
		rec, e := h.readOp(ctx, id, need.holder)
		if e != nil {
			return nil, e
		}
		rd.holderAt, rd.holder = need.holder, rec
	}
	if ops := need.encode; ops.len() > 0 {
		if rd.enc == nil || rd.encFrom != need.encFrom || rd.encTo != need.encAt {
			rd.encFrom, rd.encTo, rd.enc = need.encFrom, need.encFrom, nil
		}
		// Else the room asked for more of an encoding rd no longer holds
		// (not reached): it asks again, from encFrom.
		if rd.encTo == need.encAt {
			rd.enc, rd.encTo = appendCatchUp(rd.enc, ops), ops.last()
		}
	}
	return rd, nil
}

// opSpan is committed ops in version order, in two parts that nobody
// changes once handed over: ops read from storage (by the caller, or by
// the room after the caller's final read), then a slice of a room's window
// (the room appends past its end or moves to a new array, and never writes
// a record it has). A room hands a span to another goroutine without
// copying either part.
type opSpan struct {
	stored, recent []storage.OpRecord
}

func (s opSpan) len() int { return len(s.stored) + len(s.recent) }

// last is the version of the span's last op (0: empty).
func (s opSpan) last() uint64 {
	for _, part := range [...][]storage.OpRecord{s.recent, s.stored} {
		if n := len(part); n > 0 {
			return part[n-1].Version
		}
	}
	return 0
}

// after is the span's ops after version v.
func (s opSpan) after(v uint64) opSpan {
	return opSpan{stored: recsAfter(s.stored, v), recent: recsAfter(s.recent, v)}
}

// recsAfter is the consecutive records recs after version v.
func recsAfter(recs []storage.OpRecord, v uint64) []storage.OpRecord {
	if len(recs) == 0 || v < recs[0].Version {
		return recs
	}
	if i := v - recs[0].Version + 1; i < uint64(len(recs)) {
		return recs[i:]
	}
	return nil
}

// flat is the span as one slice: recent itself when nothing was stored,
// else a new array.
func (s opSpan) flat() []storage.OpRecord {
	if len(s.stored) == 0 {
		return s.recent
	}
	return append(s.stored[:len(s.stored):len(s.stored)], s.recent...)
}

// readOpsWithin reads the committed ops from+1..to of document id, bounded
// by size (storage.DB.OpsWithin): the ops and their total size, or a size
// over maxBytes (then the ops are not all of them) when they pass it.
func (h *Hub) readOpsWithin(ctx context.Context, id string, from, to uint64, maxBytes int) ([]storage.OpRecord, int, *Error) {
	if maxBytes < 0 {
		return nil, 0, nil // Over already.
	}
	ops, size, err := h.store.OpsWithin(ctx, id, from, to, maxBytes)
	if err != nil {
		return nil, 0, h.fail("read ops", id, err)
	}
	if size <= maxBytes && uint64(len(ops)) != to-from {
		h.log.Error().Str(logDoc, id).Int("got", len(ops)).Msg("storage returned a short op range")
		return nil, 0, errInternal
	}
	return ops, size, nil
}

// readOp reads the committed op of version v of document id (nil: storage
// has none).
func (h *Hub) readOp(ctx context.Context, id string, v uint64) (*storage.OpRecord, *Error) {
	ops, err := h.store.Ops(ctx, id, v-1, v)
	if err != nil {
		return nil, h.fail("read ops", id, err)
	}
	if len(ops) != 1 {
		return nil, nil
	}
	return &ops[0], nil
}

// catchUpOps is opsAfter for a catch-up (a hello or a Subscribe at version
// v): the ops older than the window come from rd. When rd does not reach
// the window (nil, read for another document or version, or the window
// moved on since), need asks the caller to read them, and it returns an
// empty span. Nothing is copied: the span's parts are rd's ops and a slice
// of the window. Ops whose size passes budget (catchUpBudget; noBudget
// for a submission's rebase) are errCatchUpTooLarge, known from the
// window's ops or from a read that stopped there: the client gets the
// text, as for a version older than CatchUpLimit.
func (r *room) catchUpOps(v uint64, budget int, rd *joinRead, need *readNeed) (opSpan, *Error) {
	if v >= r.head {
		return opSpan{}, nil
	}
	if r.head-v > uint64(r.hub.opts.CatchUpLimit) {
		return opSpan{}, errorf(CodeVersionTooOld, "version too old, reload the document")
	}
	start := r.head - uint64(len(r.window))
	if budget != noBudget {
		recent := sizeUpTo(r.window[max(v, start)-start:], budget)
		if recent > budget {
			return opSpan{}, errCatchUpTooLarge
		}
		budget -= recent
	}
	if v >= start {
		return opSpan{recent: r.windowFrom(v)}, nil
	}
	if rd == nil || rd.base != r.base || rd.from != v || rd.opsErr == nil && !rd.opsOver && rd.from+uint64(len(rd.ops)) < start {
		if rd.isFinal() {
			return r.readRest(v, start, budget, rd)
		}
		need.from, need.to, need.maxBytes = v, start, budget
		return opSpan{}, nil
	}
	switch {
	case rd.opsErr != nil:
		return opSpan{}, rd.opsErr
	case rd.opsOver || rd.opsSize > budget:
		return opSpan{}, errCatchUpTooLarge
	}
	n := start - v
	return opSpan{stored: rd.ops[:n:n], recent: r.windowFrom(start)}, nil
}

// errCatchUpTooLarge is catchUpOps' answer to a catch-up over its budget:
// version_too_old, which a hello answers with the text and a Subscribe
// with a snapshot. It never reaches a client.
var errCatchUpTooLarge = errorf(CodeVersionTooOld, "the missed ops outweigh the text; reload the document")

// noBudget is catchUpOps' budget for what is not a catch-up (opsAfter).
const noBudget = math.MaxInt

// catchUpTextTimes is how many times the document's length (code points)
// a catch-up's ops may weigh before the text goes instead (catchUpBudget).
const catchUpTextTimes = 4

// catchUpBudget is how many bytes (storage.OpRecord.Size) of missed ops a
// catch-up sends; past it the client gets the text, as for a version older
// than CatchUpLimit, and nothing past the budget is read. The text is what
// the client gets instead, at most 4 bytes a code point in UTF-8: ops
// weighing several times that cost more to read, hold, encode, send and
// apply than the text, while the client rebases what it holds on the text
// by a diff. The floor (Options.CatchUpBytes, 8 MiB) keeps ordinary typing
// from ever meeting it: an op of a few keystrokes is about 100 bytes, so
// CatchUpLimit (10,000) of them are about 1 MiB, and a small document is
// not sent as its text merely for being small. An integration that PUTs a
// whole 500 KB text every minute makes ops of about 500 KB: 10,000 of them
// would be 5 GB, and the read stops at the 17th.
func (r *room) catchUpBudget() int {
	return max(r.hub.opts.CatchUpBytes, catchUpTextTimes*r.doc.Len())
}

// sizeUpTo is the total storage.OpRecord.Size of recs, counted until it
// passes max (on the room goroutine: a window of large ops is not walked
// further than needed).
func sizeUpTo(recs []storage.OpRecord, max int) int {
	n := 0
	for i := range recs {
		if n += recs[i].Size(); n > max {
			break
		}
	}
	return n
}

// windowFrom is the window's ops after version v (within the window), with
// no room to append: whoever holds it can never write into the window.
func (r *room) windowFrom(v uint64) []storage.OpRecord {
	start := r.head - uint64(len(r.window))
	return r.window[v-start : len(r.window) : len(r.window)]
}

// readRest is catchUpOps after the caller's final read (see joinReads):
// the room reads the ops v+1..start that rd lacks, within budget, and
// returns them with the window.
func (r *room) readRest(v, start uint64, budget int, rd *joinRead) (opSpan, *Error) {
	var ops []storage.OpRecord
	size := 0
	if rd.base == r.base && rd.from == v && rd.opsErr == nil && !rd.opsOver {
		ops, size = rd.ops[:len(rd.ops):len(rd.ops)], rd.opsSize
	}
	more, moreSize, e := r.hub.readOpsWithin(r.hub.ctx, r.id, v+uint64(len(ops)), start, budget-size)
	switch {
	case e != nil:
		return opSpan{}, e
	case moreSize > budget-size:
		return opSpan{}, errCatchUpTooLarge
	}
	return opSpan{stored: append(ops, more...), recent: r.windowFrom(start)}, nil
}

// welcomeOps is a welcome's catch-up: the entries a client's goroutine
// encoded (appendCatchUp), then the ops the room encodes.
type welcomeOps struct {
	enc  []byte
	rest opSpan
}

// encodeOnRoomMax is the most catch-up ops a room encodes for a welcome
// itself (at ~0.45 µs an op, 4–5 ms for CatchUpLimit ops, during which
// every other client of the document waits); past it, the hello's
// goroutine encodes them and asks again (a round trip costs the room
// about as much as encoding a few ops).
const encodeOnRoomMax = 32

// welcomeOps is the catch-up for a welcome, of ops (after version v): the
// entries rd holds, encoded by the client's goroutine for this document
// and version, taken as they are, then those committed since. When more
// than encodeOnRoomMax are left, need asks the client to encode them
// (the records, which the room never changes) and it reports false,
// unless rd was the caller's final read (see joinReads): then the room
// encodes the rest.
func (r *room) welcomeOps(v uint64, ops opSpan, rd *joinRead, need *readNeed) (welcomeOps, bool) {
	var w welcomeOps
	done := v
	if rd != nil && rd.enc != nil && rd.base == r.base && rd.encFrom == v && rd.encTo <= r.head {
		w.enc, done = rd.enc, rd.encTo
	}
	w.rest = ops.after(done)
	if w.rest.len() > encodeOnRoomMax && !rd.isFinal() {
		need.encFrom, need.encAt, need.encode = v, done, w.rest
		return welcomeOps{}, false
	}
	return w, true
}

// cacheSeq fills the seq cache for session from rd, read by the client's
// goroutine, and reports whether it could: rd is of this document, and
// every op committed since its read is in the window, where the session's
// newer ops, if any, are found.
func (r *room) cacheSeq(session string, rd *joinRead) bool {
	start := r.head - uint64(len(r.window))
	if rd == nil || !rd.hasSeq || rd.session != session || rd.base != r.base || rd.seqHead < start || rd.seqHead > r.head {
		return false
	}
	rec := rd.seq
	for _, op := range r.window[rd.seqHead-start:] {
		if op.Session == session && op.Version > rec.version {
			rec = seqRec{seq: op.Seq, version: op.Version}
		}
	}
	r.seqs[session] = rec
	return true
}
