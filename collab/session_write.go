package collab

import (
	"errors"

	"github.com/coder/websocket"
)

// The write side of a session: its bounded queue (outQueue) is filled by
// send and, on the room goroutine, sendHeld; at the end of the room's turn
// flushHeld writes the turn's batch itself through the Wire when it can;
// otherwise writeLoop, one goroutine while the queue is not empty, writes
// batches under the watchdog.

// send queues b without blocking; a full queue cuts the session.
func (s *session) send(b []byte) {
	if !s.out.push(outMsg{data: b}) {
		s.kick(errSlowConsumer)
	}
}

// sendHeld is send for the room goroutine (see outQueue.pushHeld) below
// limit: false when the queue held limit entries. The writer it needs starts
// with the room's releaseWriters.
func (s *session) sendHeld(r *room, b []byte, limit int) bool {
	ok, held := s.out.pushHeld(outMsg{data: b}, limit)
	if held {
		r.held = append(r.held, s)
	}
	return ok
}

// startWriter starts the writer; the queue calls it (with its lock held)
// when something is pushed and no writer runs.
func (s *session) startWriter() {
	s.wg.Add(1)
	go s.writer()
}

// writeLoop writes queued messages, a batch per wake-up, until the queue is
// empty or the session is cut.
func (s *session) writeLoop() {
	defer s.wg.Done()
	var batch []outMsg
	for {
		if batch = s.out.take(batch); batch == nil || !s.writeBatch(batch) {
			return
		}
	}
}

// writeBatch writes msgs in order; false when the session ended (the
// connection is closed). With a Wire the frames up to a close entry leave in
// writes of up to maxWriteBytes, each under its own watchdog period.
func (s *session) writeBatch(msgs []outMsg) bool {
	if s.wire == nil {
		return s.writeEach(msgs, s.write)
	}
	buf := getFrameBuf()
	defer putFrameBuf(buf)
	for len(msgs) > 0 {
		var n int
		*buf, n = appendFrames((*buf)[:0], msgs)
		if n == 0 { // A close entry: it comes after everything queued before it.
			s.kick(msgs[0].close)
			return false
		}
		if !s.writeFrames(*buf) {
			return false
		}
		msgs = msgs[n:]
	}
	return true
}

// writeFrames writes b (with the Wire's pending rest) within WriteTimeout;
// false when the session ended or the write failed (the connection is then
// closed).
func (s *session) writeFrames(b []byte) bool {
	s.watchdog.Reset(s.hub.opts.WriteTimeout)
	err := s.wire.writeFrames(b, s.kicked)
	if !s.watchdog.Stop() && err == nil {
		err = errWriteTimeout
	}
	if errors.Is(err, errSessionEnded) {
		return false
	}
	if err != nil {
		s.kick(nil)
		_ = s.conn.CloseNow()
		return false
	}
	return true
}

// flushHeld starts the writer that the room claimed in its turn (pushHeld),
// unless the room can write the batch itself: with a Wire and no close
// queued, the batch goes straight to the socket (Wire.tryWrite, which never
// waits); only what the socket does not take is left to a writer.
func (s *session) flushHeld() {
	if s.wire == nil {
		s.out.release()
		return
	}
	s.out.releaseWith(s.tryFrames)
}

// tryFrames writes msgs' frames without waiting and returns what is left
// to write: nothing when the socket took it all; a flush entry when it took
// part (the Wire holds the rest, which the writer sends). It runs on the
// room goroutine with the queue locked.
func (s *session) tryFrames(msgs []outMsg) []outMsg {
	buf := getFrameBuf()
	b, n := appendFrames((*buf)[:0], msgs)
	*buf = b
	if n < len(msgs) { // A close, or more than one write: the writer keeps the order.
		putFrameBuf(buf)
		return msgs
	}
	taken, rest, err := s.wire.tryWrite(b, s.kicked)
	switch {
	case err != nil || !taken: // The writer writes them (or finds out the session ended).
		putFrameBuf(buf)
		return msgs
	case !rest:
		putFrameBuf(buf)
		return nil
	}
	// buf is not recycled: the Wire holds its rest until the writer sends it.
	clear(msgs[1:])
	msgs[0] = outMsg{flush: true}
	return msgs[:1]
}

// writeEach writes msgs in order with write; false when the session ended.
func (s *session) writeEach(msgs []outMsg, write func([]byte) error) bool {
	for _, m := range msgs {
		select {
		case <-s.kicked:
			return false
		default:
		}
		if m.close != nil {
			s.kick(m.close)
			return false
		}
		if err := write(m.data); err != nil {
			s.kick(nil)
			_ = s.conn.CloseNow()
			return false
		}
	}
	return true
}

// write sends one message within WriteTimeout; past it the watchdog closes
// the connection, so an expired write means the connection is gone. The
// library sets up no timeout of its own for a context that cannot end (a
// context.AfterFunc and a timer per write otherwise); the end of the
// session's context still aborts a write (serve closes the connection then).
func (s *session) write(b []byte) error {
	s.watchdog.Reset(s.hub.opts.WriteTimeout)
	err := s.conn.Write(s.wctx, websocket.MessageText, b)
	if !s.watchdog.Stop() && err == nil {
		err = errWriteTimeout
	}
	return err
}

// errWriteTimeout: the watchdog closed the connection during a write.
var errWriteTimeout = errors.New("collab: write timed out")
