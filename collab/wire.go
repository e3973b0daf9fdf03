package collab

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// Accept is websocket.Accept for a Hub: the connection keeps small buffers
// (wsBufferSize) for its whole life, and the returned Wire, passed as
// Peer.Wire, lets the session write its data frames itself and dates the
// connection from before its 101 (Wire.arrived). The Wire is nil when the
// upgrade failed before taking the connection.
func Accept(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions) (*websocket.Conn, *Wire, error) {
	arrived := time.Now()
	h := &hijacker{ResponseWriter: w}
	conn, err := websocket.Accept(h, r, opts)
	if h.wire != nil {
		h.wire.arrived = arrived
	}
	return conn, h.wire, err
}

// wsBufferSize is the size of the read and of the write buffer that a
// WebSocket keeps for its whole life (coder/websocket uses the hijack's),
// instead of net/http's 4 KB each: 6 KB less per idle editor. A message
// larger than it costs one more read(2); data frames do not use the write
// buffer (see Wire).
const wsBufferSize = 1024

// hijacker makes Hijack return wsBufferSize buffers, the writer over a Wire
// (wire, set by Hijack).
type hijacker struct {
	http.ResponseWriter
	wire *Wire
}

func (h *hijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// Hijack hijacks the underlying writer, flushes what its writer holds and
// keeps the bytes its reader already buffered in front of the connection.
func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	br := bufio.NewReaderSize(conn, wsBufferSize)
	if n := brw.Reader.Buffered(); n > 0 {
		// Accept replaces the reader's source by conn after taking what is
		// buffered, so the early bytes must sit in br's buffer (Peek).
		b, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(b)), conn), max(n, wsBufferSize))
		if _, err := br.Peek(n); err != nil {
			_ = conn.Close()
			return nil, nil, err
		}
	}
	h.wire = newWire(conn)
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(h.wire, wsBufferSize)), nil
}

// Wire is the byte stream under a WebSocket, shared by two writers: coder/
// websocket, which flushes its control frames (pings, pongs, close) into it,
// and the session, which writes its data frames straight to it (appendFrame)
// without going through the library's per-message writer. Every write holds
// mu, so frames never interleave and leave in the order written.
//
// The room writes what a turn queued for a session with tryWrite, which
// never waits: on a socket with room to spare a broadcast costs one write(2)
// on the room goroutine and no writer goroutine. What the socket does not
// take of it stays pending in the Wire, and the next write of any writer
// sends it first, so no frame is ever cut by another; the session's writer
// is started to send it (see session.tryFrames).
type Wire struct {
	conn    net.Conn
	raw     syscall.RawConn // nil when conn has no descriptor of its own (TLS, pipes): tryWrite never writes.
	mu      sync.Mutex      // Held across each write.
	pending []byte          // Guarded by mu: the rest of what tryWrite began.

	// tryWrite's call to raw.Write, made once (a closure per call would
	// allocate), and its argument and results; guarded by mu.
	writeFD func(fd uintptr) bool
	tryBuf  []byte
	tryN    int
	tryErr  error

	// arrived is when Accept began, before the 101 went out. A client
	// sends its hello, and may give up on the connection and open another,
	// only after the 101, so this orders one client's connections
	// (session.arrival). Static.
	arrived time.Time
}

func newWire(conn net.Conn) *Wire {
	w := &Wire{conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
			w.writeFD = w.writeOnce
		}
	}
	return w
}

// Write writes p, waiting as long as the connection needs; coder/
// websocket's buffered writer flushes into it.
func (w *Wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.flushPending(); err != nil {
		return 0, err
	}
	return w.conn.Write(p)
}

// flushPending writes what tryWrite left, waiting as long as the connection
// needs; mu is held.
func (w *Wire) flushPending() error {
	if len(w.pending) == 0 {
		return nil
	}
	_, err := w.conn.Write(w.pending)
	w.pending = nil
	return err
}

// errSessionEnded: a session's frames were not written because it was cut
// (its close frame may be on the way).
var errSessionEnded = errors.New("collab: session ended")

// writeFrames writes what tryWrite left pending, then b, waiting as long as
// the connection needs, unless ended is closed: the close frame that
// follows a cut must be the last (it sends the pending rest first).
func (w *Wire) writeFrames(b []byte, ended <-chan struct{}) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if isClosed(ended) {
		return errSessionEnded
	}
	if err := w.flushPending(); err != nil || len(b) == 0 {
		return err
	}
	_, err := w.conn.Write(b)
	return err
}

// tryWrite takes b, whole frames, unless that would mean waiting for the
// socket or for another writer: then taken is false and nothing was
// written. It writes what the socket takes at once and keeps the rest
// pending (rest is true): the caller must then see that a write follows
// (writeFrames) to send it. An error means the connection failed (nothing
// taken).
func (w *Wire) tryWrite(b []byte, ended <-chan struct{}) (taken, rest bool, err error) {
	if w.raw == nil || !w.mu.TryLock() {
		return false, false, nil
	}
	defer w.mu.Unlock()
	if isClosed(ended) {
		return false, false, errSessionEnded
	}
	if len(w.pending) > 0 { // The socket did not take the last rest yet.
		return false, false, nil
	}
	w.tryBuf, w.tryN, w.tryErr = b, 0, nil
	err = w.raw.Write(w.writeFD)
	if err == nil {
		err = w.tryErr
	}
	n := w.tryN
	w.tryBuf, w.tryErr = nil, nil
	switch {
	case err != nil:
		return false, false, err
	case n == 0: // The socket is full: the caller keeps b.
		return false, false, nil
	case n < len(b):
		w.pending = b[n:]
		return true, true, nil
	}
	return true, false, nil
}

// writeOnce is one write(2) of tryBuf, for raw.Write: it never asks to wait
// for the socket.
func (w *Wire) writeOnce(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), w.tryBuf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
		case err != nil:
			w.tryErr = err
		default:
			w.tryN = n
		}
		return true
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// appendFrame appends p as one final text frame, unmasked as a server's
// frames are (RFC 6455, section 5.2).
func appendFrame(dst, p []byte) []byte {
	const finText = 0x81
	switch n := len(p); {
	case n < 126:
		dst = append(dst, finText, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, finText, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, finText, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, p...)
}

// frameBufs recycles the buffers that batches of frames are built in.
var frameBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxKeptFrameBuf is the largest buffer returned to frameBufs.
const maxKeptFrameBuf = 64 << 10

// maxWriteBytes bounds what one write gathers of a batch: a queue that grew
// (a slow reader, a burst of large ops) is written in pieces, each under its
// own watchdog period, rather than first copied whole into one buffer. That
// copy doubled the queue's memory and, being no write, ran under no
// deadline: 64 MiB took seconds under load before the first byte left.
const maxWriteBytes = 256 << 10

// appendFrames appends the frames of msgs up to the first close entry, or
// until dst holds maxWriteBytes (a frame is never cut, so a larger message
// is taken alone), and returns how many messages it took.
func appendFrames(dst []byte, msgs []outMsg) ([]byte, int) {
	for i, m := range msgs {
		switch {
		case m.close != nil, len(dst) >= maxWriteBytes:
			return dst, i
		case m.flush: // Nothing to frame: the write sends the Wire's pending rest.
		default:
			dst = appendFrame(dst, m.data)
		}
	}
	return dst, len(msgs)
}

func getFrameBuf() *[]byte { return frameBufs.Get().(*[]byte) }

func putFrameBuf(b *[]byte) {
	if cap(*b) <= maxKeptFrameBuf {
		*b = (*b)[:0]
		frameBufs.Put(b)
	}
}
