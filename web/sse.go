package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/foliodocs/folio/collab"
)

// SSE event names on /api/v1/docs/{id}/events.
const (
	sseSnapshot = "snapshot"
	sseOp       = "op"
	ssePresence = "presence"
	sseLeave    = "leave"
)

// sseTokenExpired ends a stream whose token expired: an end event with the
// code (docs/protocol.md), so the page can fetch a new token; the browser's
// reconnect with the old one is refused (403). Not "error", which
// EventSource also fires for network errors.
const sseTokenExpired = "event: end\ndata: {\"code\":\"token_expired\",\"message\":\"token expired\"}\n\n"

// sseDeleted ends a stream whose document was deleted: EventSource would
// otherwise reconnect, and a document created again under the id restarts
// its versions, so the viewer should start over rather than resume.
const sseDeleted = "event: end\ndata: {\"code\":\"deleted\",\"message\":\"the document was deleted\"}\n\n"

// sseRetry is the reconnect delay suggested to EventSource clients.
const sseRetry = 2 * time.Second

// sseBatch bounds the events a stream writes (and flushes) at once.
const sseBatch = 64

type snapshotData struct {
	Version uint64 `json:"version"`
	Text    string `json:"text"`
}

// resumeVersion reads the version an EventSource resumes from: the
// Last-Event-ID header a browser sends on reconnect, or ?since= for a first
// connection. An unparsable Last-Event-ID (it is not ours) is ignored and the
// stream starts with a snapshot; an invalid ?since= is a 400.
func resumeVersion(r *http.Request) (*uint64, error) {
	if h := r.Header.Get("Last-Event-ID"); h != "" {
		if v, ok := parseUint(h); ok {
			return &v, nil
		}
		return nil, nil
	}
	return queryUint(r, "since")
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if !s.limits.upgrades.admit(w, r) { // A stream is held open like a WebSocket.
		return
	}
	id, grant, err := s.docRequest(r, needRead)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	since, err := resumeVersion(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.Draining() {
		s.writeError(w, r, errDraining())
		return
	}
	meta, err := s.store.Meta(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if since != nil && *since > meta.Version {
		since = nil // A version we never issued: start over from a snapshot.
	}
	if r.Method == http.MethodHead {
		// The stream's headers without the stream (GET routes take HEAD
		// too): its writes would be discarded, so it would hold a
		// subscription, and its keep-alive connection, until the client
		// closes the connection.
		setStreamHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return
	}
	ctx, cancel := s.streamContext(r)
	defer cancel()
	sub, err := s.subscribe(ctx, id, since)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sub.Close()
	s.metrics.sseClients.Inc()
	defer s.metrics.sseClients.Dec()
	s.stream(ctx, w, sub, grant.Expires)
}

// stream copies the subscription's events to w until the client leaves, the
// server drains, the subscription ends, a write fails or the token expires
// (expires, zero for never: an end event token_expired, then the end).
// One pump goroutine blocks in sub.Next; this goroutine owns every write and
// the heartbeat, and waits for the pump before returning.
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, sub *collab.Subscription, expires time.Time) {
	ctx, cancel := context.WithCancel(ctx)
	events := make(chan []collab.Event)
	var ended error // Why the pump stopped; read after events closes.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(events)
		// Two buffers in turn: the writer is done with one before the
		// pump can hand it over again (events is unbuffered).
		var bufs [2][]collab.Event
		for i := 0; ; i ^= 1 {
			ev, err := sub.Next(ctx)
			if err != nil {
				ended = err
				return
			}
			// What piled up while the last batch was written goes in one
			// write. The writer is done with bufs[i]: clear it, or an idle
			// stream would keep its last events (a snapshot's text) alive.
			clear(bufs[i])
			batch := sub.Ready(append(bufs[i][:0], ev), sseBatch)
			bufs[i] = batch
			select {
			case events <- batch:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer wg.Wait()
	defer cancel()

	rc := http.NewResponseController(w)
	// The connection may serve further requests: leave no deadline behind.
	defer rc.SetWriteDeadline(time.Time{})
	setStreamHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	if !s.sseWrite(w, rc, fmt.Appendf(nil, "retry: %d\n\n", sseRetry.Milliseconds())) {
		return
	}
	heartbeat := time.NewTicker(s.opts.Heartbeat)
	defer heartbeat.Stop()
	var buf []byte // The batch being written; reused.
	var expired <-chan time.Time
	if !expires.IsZero() {
		t := time.NewTimer(time.Until(expires))
		defer t.Stop()
		expired = t.C
	}
	for {
		select {
		case <-expired:
			s.sseWrite(w, rc, []byte(sseTokenExpired))
			return
		case batch, ok := <-events:
			if !ok {
				if e := collab.AsError(ended); e != nil && e.Code == collab.CodeDeleted {
					s.sseWrite(w, rc, []byte(sseDeleted))
				}
				return
			}
			buf = buf[:0]
			for _, ev := range batch {
				buf = appendEvent(buf, ev)
			}
			if !s.sseWrite(w, rc, buf) {
				return
			}
			if cap(buf) > 64<<10 { // A snapshot: do not keep its buffer.
				buf = nil
			}
		case <-heartbeat.C:
			if !s.sseWrite(w, rc, []byte(": heartbeat\n\n")) {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// setStreamHeaders sets the headers of an event stream: no cache, no
// transformation (a compressing proxy buffers what it compresses) and no
// proxy buffering (nginx honours X-Accel-Buffering), so each event reaches
// the viewer when it is flushed.
func setStreamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
}

// sseWrite writes and flushes one chunk under its own deadline; false means
// the client is gone.
func (s *Server) sseWrite(w http.ResponseWriter, rc *http.ResponseController, chunk []byte) bool {
	if len(chunk) == 0 {
		return true
	}
	_ = rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	if _, err := w.Write(chunk); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// appendEvent appends one event in text/event-stream form. JSON never
// contains a raw newline, so each data payload is a single line. Snapshots
// and ops carry id: = their version, which EventSource sends back as
// Last-Event-ID on reconnect.
func appendEvent(buf []byte, ev collab.Event) []byte {
	var name string
	var data any
	withID := false
	switch ev.Kind {
	case collab.EventSnapshot:
		name, data, withID = sseSnapshot, snapshotData{ev.Version, ev.Text}, true
	case collab.EventOp:
		if ev.Op == nil {
			return buf
		}
		op := *ev.Op
		op.Type = ""
		name, data, withID = sseOp, op, true
	case collab.EventPresence:
		if ev.Presence == nil {
			return buf
		}
		p := *ev.Presence
		p.Type = ""
		name, data = ssePresence, p
	case collab.EventLeave:
		if ev.Leave == nil {
			return buf
		}
		name, data = sseLeave, struct {
			Session string `json:"session"`
		}{ev.Leave.Session}
	default:
		return buf
	}
	b := ev.JSON // Encoded once for every subscriber.
	if b == nil {
		var err error
		if b, err = json.Marshal(data); err != nil {
			return buf
		}
	}
	buf = append(append(append(buf, "event: "...), name...), '\n')
	if withID {
		buf = append(strconv.AppendUint(append(buf, "id: "...), ev.Version, 10), '\n')
	}
	return append(append(append(buf, "data: "...), b...), "\n\n"...)
}
