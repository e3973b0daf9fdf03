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
}

// Submit runs sub through the same pipeline as WebSocket ops and returns the
// version it produced once it is durable.
func (h *Hub) Submit(ctx context.Context, id string, sub Submission) (uint64, error) {
	if sub.Session != "" && (!ValidID(sub.Session) || sub.Seq == 0) {
		return 0, errorf(CodeInvalidMessage, "session needs a valid id and a seq > 0")
	}
	s := &submission{base: sub.Base, op: sub.Op, session: sub.Session, seq: sub.Seq,
		author: sub.Author, reply: make(chan submitResult, 1), start: time.Now()}
	err := h.withRoom(ctx, id, func(r *room) { r.submit(s) })
	return h.await(ctx, err, s.reply)
}

// ReplaceText makes the document's text equal text through one op computed
// on the room goroutine against the latest text (ot.Diff), so concurrent
// edits and cursors are transformed as usual. With ifVersion, the change is
// refused with precondition_failed unless the head is *ifVersion.
func (h *Hub) ReplaceText(ctx context.Context, id, text string, ifVersion *uint64, author string) (uint64, error) {
	if runeCount(text) > h.opts.MaxDocLen {
		return 0, errorf(CodeDocTooLarge, "text exceeds the document size limit")
	}
	reply := make(chan submitResult, 1)
	err := h.withRoom(ctx, id, func(r *room) { r.replaceText(text, ifVersion, author, reply) })
	return h.await(ctx, err, reply)
}

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

func (r *room) replaceText(text string, ifVersion *uint64, author string, reply chan submitResult) {
	head := r.pendingHead()
	if ifVersion != nil && *ifVersion != head {
		reply <- submitResult{err: errorf(CodePreconditionFailed, "document changed since that version")}
		return
	}
	pending := r.allPending()
	op := ot.Diff(r.textAfter(pending), text)
	if op.IsNoop() {
		if len(pending) == 0 {
			reply <- submitResult{version: head}
		} else { // Answer when the text we compared against is durable.
			last := pending[len(pending)-1]
			last.replies = append(last.replies, reply)
		}
		return
	}
	r.submit(&submission{base: head, op: op, author: author, reply: reply, start: time.Now(),
		strict: ifVersion != nil, pending: true})
}
