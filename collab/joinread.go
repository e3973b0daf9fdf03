package collab

import (
	"context"

	"github.com/foliodocs/folio/storage"
)

// readNeed is a room's answer to a joining or resuming client (a hello, a
// Subscribe) that needs what only storage has: the ops after its version
// that are older than the room's op window. The client's goroutine reads
// them (Hub.readFor) and asks the room again with what it read (joinRead):
// the room, which serves every participant of the document, never waits
// for that read (up to CatchUpLimit ops decoded).
type readNeed struct {
	base uint64 // The room's document (room.base).
	from uint64 // Read the ops from+1..to (to 0: none).
	to   uint64
}

func (n *readNeed) any() bool { return n.to != 0 }

// joinRead is what a joining client read from storage for its room. The
// room takes it only for the document it was read for (base): an id
// deleted and created again starts past the old document's versions, and
// the old ops or seqs mean nothing there.
type joinRead struct {
	base uint64
	// The committed ops from+1..from+len(ops), or why they could not be read.
	from   uint64
	ops    []storage.OpRecord
	opsErr *Error
}

// readFor reads what need asks for, on the caller's goroutine, keeping
// from rd (a previous read, may be nil) the ops that are still of use: when
// the room's window moved on meanwhile, only the ops in between are read.
// A failed read is left to the room, which answers it as it would its own.
func (h *Hub) readFor(ctx context.Context, id string, need *readNeed, rd *joinRead) *joinRead {
	if rd == nil || rd.base != need.base {
		rd = &joinRead{base: need.base}
	}
	if need.to != 0 {
		if rd.from != need.from || rd.opsErr != nil || rd.from+uint64(len(rd.ops)) > need.to {
			rd.from, rd.ops, rd.opsErr = need.from, nil, nil
		}
		from := rd.from + uint64(len(rd.ops))
		ops, err := h.store.Ops(ctx, id, from, need.to)
		switch {
		case err != nil:
			rd.opsErr = h.fail("read ops", id, err)
		case uint64(len(ops)) != need.to-from:
			h.log.Error().Str(logDoc, id).Int("got", len(ops)).Msg("storage returned a short op range")
			rd.opsErr = errInternal
		default:
			rd.ops = append(rd.ops, ops...)
		}
	}
	return rd
}

// catchUpOps is opsAfter for a catch-up (a hello or a Subscribe at version
// v): the ops older than the window come from rd. When rd does not reach
// the window (nil, read for another document or version, or the window
// moved on since), need asks the caller to read them, and it returns nil.
func (r *room) catchUpOps(v uint64, rd *joinRead, need *readNeed) ([]storage.OpRecord, *Error) {
	if v >= r.head {
		return nil, nil
	}
	if r.head-v > uint64(r.hub.opts.CatchUpLimit) {
		return nil, errorf(CodeVersionTooOld, "version too old, reload the document")
	}
	start := r.head - uint64(len(r.window))
	if v >= start {
		return r.window[v-start:], nil
	}
	if rd == nil || rd.base != r.base || rd.from != v || rd.opsErr == nil && rd.from+uint64(len(rd.ops)) < start {
		need.from, need.to = v, start
		return nil, nil
	}
	if rd.opsErr != nil {
		return nil, rd.opsErr
	}
	n := start - v
	return append(rd.ops[:n:n], r.window...), nil
}
