package collab

import (
	"context"
	"time"

	"github.com/foliodocs/folio/ot"
)

// Submission is an op submitted outside a WebSocket session (REST). With a
// Session, (Session, Seq) makes it exactly-once: a retry is answered with the
// version of the first commit and not applied again.
type Submission struct {
	Base    uint64
	Op      ot.Op
	Session string
	Seq     uint64
	Author  string
	// Single: the Session carries this one op (an Idempotency-Key), and Seq
	// fingerprints the request. The Session with another Seq, committed or
	// on its way, is the key reused for a different request:
	// CodeIdempotencyMismatch, nothing applied. A Session committed with
	// Seq 1 (before fingerprints) answers every retry with its version, so
	// Seq must not be 1.
	Single bool
}

// Submit runs sub through the same pipeline as WebSocket ops and returns the
// version it produced once it is durable.
func (h *Hub) Submit(ctx context.Context, id string, sub Submission) (uint64, error) {
	if sub.Session != "" && (!ValidID(sub.Session) || sub.Seq == 0) {
		return 0, errorf(CodeInvalidMessage, "session needs a valid id and a seq > 0")
	}
	s := &submission{base: sub.Base, op: sub.Op, session: sub.Session, seq: sub.Seq, single: sub.Single,
		author: sub.Author, reply: make(chan submitResult, 1), start: time.Now()}
	var rd *joinRead // The session's last seq, read here (see readNeed).
	for {
		var need *readNeed
		err := h.withRoom(ctx, id, func(r *room) {
			if need = r.needSeq(s.session, rd); need == nil {
				r.submit(s)
			}
		})
		if err != nil || need == nil {
			return h.await(ctx, err, s.reply)
		}
		var e *Error
		if rd, e = h.readFor(ctx, id, need, rd); e != nil {
			h.opts.Metrics.opRejected(e.Code) // As the room's reject would.
			return 0, e
		}
	}
}

// needSeq asks for session's last seq from storage (nil: not needed) when
// the room does not hold it and rd cannot give it (see cacheSeq), unless
// rd was the caller's final read: then lastSeq reads it (see joinReads). A
// REST submission with an Idempotency-Key is a session of its own, which
// the room has not seen.
func (r *room) needSeq(session string, rd *joinRead) *readNeed {
	if _, ok := r.seqs[session]; session == "" || ok || r.cacheSeq(session, rd) || rd.isFinal() {
		return nil
	}
	return &readNeed{base: r.base, head: r.head, session: session}
}

// RefuseOp counts in folio_ops_rejected_total an op refused before it
// could be submitted (a REST body that does not decode, a token that may
// not edit, an address over its rate), under the code its client got, as
// the WebSocket path counts the op frames it refuses before the room.
func (h *Hub) RefuseOp(code Code) { h.opts.Metrics.opRejected(code) }

// ReplaceText makes the document's text equal text through one op, the diff
// (ot.Diff) from the text at the pending head, applied right after it: the
// text at the version it returns is text, and later edits and cursors are
// transformed as usual. With ifVersion, the change is refused with
// precondition_failed unless the head is *ifVersion.
func (h *Hub) ReplaceText(ctx context.Context, id, text string, ifVersion *uint64, author string) (uint64, error) {
	if runeCount(text) > h.opts.MaxDocLen {
		return 0, errorf(CodeDocTooLarge, "text exceeds the document size limit")
	}
	reply := make(chan submitResult, 1)
	// The diff (up to ~0.1 s for 2M code points, docs/performance.md) runs
	// here, not on the room goroutine, against the text at the pending head
	// it read; the room takes the op only if the head has not moved since.
	// Past replaceAttempts moves, the room diffs itself: it always succeeds.
	for range replaceAttempts {
		var head uint64
		var cur string
		var e *Error
		err := h.withRoom(ctx, id, func(r *room) {
			head = r.pendingHead()
			if e = r.checkIfVersion(head, ifVersion); e == nil {
				if text, ok := r.textAfter(r.allPending()); ok {
					cur = text
				} else {
					e = errInternal
				}
			}
		})
		switch {
		case err != nil:
			return 0, AsError(err)
		case e != nil:
			return 0, e
		}
		op := ot.Diff(cur, text)
		taken := false
		err = h.withRoom(ctx, id, func(r *room) {
			if taken = r.pendingHead() == head; taken {
				r.replaceAt(head, op, ifVersion != nil, author, reply)
			}
		})
		if err != nil || taken {
			return h.await(ctx, err, reply)
		}
	}
	err := h.withRoom(ctx, id, func(r *room) { r.replaceText(text, ifVersion, author, reply) })
	return h.await(ctx, err, reply)
}

// replaceAttempts is how often ReplaceText diffs outside the room before
// the room diffs itself (edits kept moving the head).
const replaceAttempts = 2

func (h *Hub) await(ctx context.Context, err error, reply chan submitResult) (uint64, error) {
	if err != nil {
		return 0, AsError(err)
	}
	select {
	case res := <-reply:
		if res.err != nil {
			return 0, res.err
		}
		return res.version, nil
	case <-ctx.Done():
		return 0, AsError(ctx.Err())
	}
}

// checkIfVersion is the If-Match precondition of ReplaceText at head.
func (r *room) checkIfVersion(head uint64, ifVersion *uint64) *Error {
	if ifVersion != nil && *ifVersion != head {
		return errorf(CodePreconditionFailed, "document changed since that version")
	}
	return nil
}

// replaceText is ReplaceText on the room goroutine, diff included.
func (r *room) replaceText(text string, ifVersion *uint64, author string, reply chan submitResult) {
	head := r.pendingHead()
	if e := r.checkIfVersion(head, ifVersion); e != nil {
		reply <- submitResult{err: e}
		return
	}
	cur, ok := r.textAfter(r.allPending())
	if !ok {
		reply <- submitResult{err: errInternal}
		return
	}
	r.replaceAt(head, ot.Diff(cur, text), ifVersion != nil, author, reply)
}

// replaceAt submits op, the diff from the text at the pending head (which
// must still be head) to the new text. Its deletes go by count: the text they
// carry (ot.Diff names it) is the room's own, so checking it would only cost
// the room a copy of the document, and carrying it would send every replaced
// character to every participant and into the log a second time.
func (r *room) replaceAt(head uint64, op ot.Op, strict bool, author string, reply chan submitResult) {
	for i := range op {
		op[i].DelText = ""
	}
	if op.IsNoop() {
		pending := r.allPending()
		if len(pending) == 0 {
			reply <- submitResult{version: head}
		} else { // Answer when the text we compared against is durable.
			last := pending[len(pending)-1]
			last.replies = append(last.replies, reply)
		}
		return
	}
	r.submit(&submission{base: head, op: op, author: author, reply: reply, start: time.Now(),
		strict: strict, pending: true})
}
