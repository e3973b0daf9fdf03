package web

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/coder/websocket"

	"github.com/foliodocs/folio/collab"
)

// handleWS upgrades an editor's connection and hands it to the hub, which
// owns it from then on (reader, writer, close codes). Access is decided by
// the hub on hello through Peer.Authorize, because the token travels in the
// hello message, not in the URL.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.Draining() {
		s.writeError(w, r, errDraining())
		return
	}
	if !s.limits.upgrades.admit(w, r) {
		return
	}
	sb := &smallBuffers{ResponseWriter: w}
	conn, err := websocket.Accept(sb, r, &websocket.AcceptOptions{
		Subprotocols:   []string{collab.Subprotocol},
		OriginPatterns: s.opts.AllowedOrigins,
	})
	if err != nil {
		// Accept has answered (403 for a foreign origin, 400/426 otherwise).
		s.log.Debug().Err(err).Str(keyDoc, id).Str(keyRemote, r.RemoteAddr).Msg("websocket upgrade refused")
		return
	}
	if conn.Subprotocol() != collab.Subprotocol {
		_ = conn.Close(websocket.StatusPolicyViolation, "subprotocol "+collab.Subprotocol+" required")
		return
	}
	// The hub serves the connection in its own goroutine: returning here
	// releases the request, its headers and this handler's stack.
	s.hub.StartConn(conn, id, collab.Peer{Addr: r.RemoteAddr, Authorize: s.peerAuthorize(id), Corker: sb.cork})
}

// peerAuthorize adapts Options.Authorize to the hub's per-connection hook;
// nil keeps the hub's open access. Sessions know only view and edit: an
// admin grant edits.
func (s *Server) peerAuthorize(docID string) func(token string) (collab.Grant, error) {
	if s.opts.Authorize == nil {
		return nil
	}
	return func(token string) (collab.Grant, error) {
		g, err := s.opts.Authorize(docID, token)
		if err == nil && g.Role == roleAdmin {
			g.Role = collab.RoleEdit
		}
		return g, err
	}
}

// wsBufferSize is the size of the read and of the write buffer that a
// WebSocket keeps for its whole life (coder/websocket uses the hijack's),
// instead of net/http's 4 KB each: 6 KB less per idle editor. A message
// larger than it costs one more read(2) or write(2).
const wsBufferSize = 1024

// smallBuffers makes Hijack return wsBufferSize buffers, the writer over a
// corkWriter (cork, set by Hijack).
type smallBuffers struct {
	http.ResponseWriter
	cork *corkWriter
}

func (w *smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hijacks the underlying writer, flushes what its writer holds and
// keeps the bytes its reader already buffered in front of the connection.
func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
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
	w.cork = &corkWriter{conn: conn}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(w.cork, wsBufferSize)), nil
}

// corkWriter is what a WebSocket's buffered writer flushes into. coder/
// websocket flushes every message, one write(2) each; between Cork and
// Uncork (the session's writer draining a batch) corkWriter gathers them
// instead, and Uncork sends the batch in one write. Frames written by other
// goroutines meanwhile (pings, pongs, close) join the batch in order.
type corkWriter struct {
	conn net.Conn

	mu     sync.Mutex // Held across conn.Write, so bytes leave in the order written.
	corked bool
	buf    *[]byte // Gathered bytes while corked; from corkBufs.
}

// corkBufs recycles the batch buffers, so an idle connection holds none.
var corkBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxKeptCorkBuf is the largest buffer returned to corkBufs; one grown by a
// large message is dropped.
const maxKeptCorkBuf = 64 << 10

func (w *corkWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.corked {
		return w.conn.Write(p)
	}
	if w.buf == nil {
		w.buf = corkBufs.Get().(*[]byte)
	}
	*w.buf = append(*w.buf, p...)
	return len(p), nil
}

// Cork starts gathering writes.
func (w *corkWriter) Cork() {
	w.mu.Lock()
	w.corked = true
	w.mu.Unlock()
}

// Uncork writes what was gathered, in one write, and stops gathering.
func (w *corkWriter) Uncork() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.corked = false
	if w.buf == nil {
		return nil
	}
	_, err := w.conn.Write(*w.buf)
	if cap(*w.buf) <= maxKeptCorkBuf {
		*w.buf = (*w.buf)[:0]
		corkBufs.Put(w.buf)
	}
	w.buf = nil
	return err
}
