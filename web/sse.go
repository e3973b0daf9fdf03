package web

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
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

// sseReconnect is the event of a stream that ends, or is refused, for a
// reason that passes with time (collab.Retryable): the server is shutting
// down, storage is unavailable, a limit was reached. Its data is the code
// and message, as end's, and retryMs, the delay the retry: field before it
// sets: EventSource reconnects by itself then, with its Last-Event-ID. Not
// end, which tells a page to stop (or to fetch a new token), nor error,
// which EventSource fires itself.
const sseReconnect = "reconnect"

// sseRetry is the reconnect delay suggested to EventSource clients, and the
// least one after a refusal that names none; such a refusal as a 503 says
// Retry-After sseRetry (retryAfter).
const sseRetry = 2 * time.Second

// sseBatch bounds the events a stream writes (and flushes) at once.
const sseBatch = 64

// sseBatchBytes bounds the payload bytes (collab.Event.JSON) of the events
// a stream takes at once: a batch ends with the event that reaches it, so
// an event larger than it goes alone. A stream whose client stopped reading
// holds two batches outside its subscription's bounded queue (the one being
// written, copied whole into the writer's buffer, and the next); without
// it, each could hold sseBatch large ops.
const sseBatchBytes = 256 << 10

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
	// A stream is held open like a WebSocket.
	if err := s.limits.upgrades.check(r); err != nil {
		s.refuseStream(w, r, err)
		return
	}
	id, grant, err := s.docRequest(r, needRead)
	if err != nil {
		s.refuseStream(w, r, err)
		return
	}
	since, err := resumeVersion(r)
	if err != nil {
		s.refuseStream(w, r, err)
		return
	}
	if s.Draining() {
		s.refuseStream(w, r, errDraining())
		return
	}
	meta, err := s.store.Meta(r.Context(), id)
	if err != nil {
		s.refuseStream(w, r, err)
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
	if err := s.conns.acquire(); err != nil {
		s.refuseStream(w, r, err)
		return
	}
	defer s.conns.release() // After sub.Close: a free slot means a closed subscription.
	ctx, cancel := s.streamContext(r)
	defer cancel()
	sub, err := s.subscribe(ctx, id, since)
	if err != nil {
		s.refuseStream(w, r, err)
		return
	}
	defer sub.Close()
	s.metrics.sseClients.Inc()
	defer s.metrics.sseClients.Dec()
	s.stream(ctx, w, sub, grant.Expires)
}

// refuseStream answers an event-stream request refused with err. EventSource
// gives up for good on any answer but 200 text/event-stream, so a refusal
// that passes with time (collab.Retryable: shutting down, storage
// unavailable, a rate or connection limit) of a request that accepts
// text/event-stream, as EventSource's always do, is a 200 stream holding
// only a retry: field and a reconnect event, then its end: the browser
// reconnects by itself after the delay, with its Last-Event-ID. Other
// refusals (forbidden, not_found, invalid_*), and every refusal of a client
// that did not ask for an event stream (curl, integrations), keep their
// HTTP status.
func (s *Server) refuseStream(w http.ResponseWriter, r *http.Request, err error) {
	if !collab.Retryable(err) || !accepts(r, "text/event-stream") {
		s.writeError(w, r, err)
		return
	}
	s.logFailure(r, err)
	setStreamHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(s.appendReconnect(nil, err))
}

// accepts reports whether r's Accept names mediaType (not a wildcard:
// curl's and fetch's */* keep JSON errors and HTTP statuses).
func accepts(r *http.Request, mediaType string) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			t, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(t), mediaType) {
				return true
			}
		}
	}
	return false
}

type reconnectData struct {
	Code    collab.Code `json:"code"`
	Message string      `json:"message"`
	RetryMs int64       `json:"retryMs"`
}

// appendReconnect appends the end of a stream that ends, or is refused, for
// err, a reason that passes: a retry: field with reconnectDelay(err), then a
// reconnect event saying why. It counts the event in folio_sse_reconnects_total.
func (s *Server) appendReconnect(buf []byte, err error) []byte {
	e := collab.AsError(err)
	ms := reconnectDelay(err).Milliseconds()
	b, _ := json.Marshal(reconnectData{e.Code, e.Message, ms}) // Always encodes.
	s.metrics.sseReconnects.WithLabelValues(string(e.Code)).Inc()
	buf = fmt.Appendf(buf, "retry: %d\n\nevent: %s\ndata: ", ms, sseReconnect)
	return append(append(buf, b...), "\n\n"...)
}

// reconnectDelay is how long EventSource should wait before it reconnects
// after a stream refused or ended for err: the Retry-After err would carry
// as an HTTP error, or sseRetry, stretched by a random factor in [1, 2) so
// that a crowd refused together (viewers reconnecting after a restart, an
// office behind one address over its rate) does not come back together.
func reconnectDelay(err error) time.Duration {
	d := sseRetry
	if after, ok := retryAfter(err); ok {
		d = time.Duration(retrySeconds(after)) * time.Second
	}
	return d + rand.N(d)
}

// stream copies the subscription's events to w until the client leaves, the
// server drains, the subscription ends, a write fails or the token expires
// (expires, zero for never: an end event token_expired, then the end).
// One pump goroutine blocks in sub.Next; this goroutine owns every write and
// the heartbeat, and waits for the pump before returning.
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, sub *collab.Subscription, expires time.Time) {
	ctx, cancel := context.WithCancel(ctx)
	events := make(chan []collab.Event)
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
				return // Why: sub.Err, or ctx's end.
			}
			// What piled up while the last batch was written goes in one
			// write, up to sseBatchBytes of it. The writer is done with
			// bufs[i]: clear it, or an idle stream would keep its last
			// events (a snapshot's text) alive.
			clear(bufs[i])
			batch := readyBatch(sub, append(bufs[i][:0], ev))
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
				s.sseWrite(w, rc, s.streamEnd(ctx, sub.Err()))
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
			s.sseWrite(w, rc, s.streamEnd(ctx, sub.Err()))
			return
		}
	}
}

// readyBatch appends to batch, which holds the event just taken, the events
// that are ready, up to sseBatch events or sseBatchBytes bytes of payloads.
func readyBatch(sub *collab.Subscription, batch []collab.Event) []collab.Event {
	size := 0
	for _, ev := range batch {
		size += len(ev.JSON)
	}
	for len(batch) < sseBatch && size < sseBatchBytes {
		n := len(batch)
		if batch = sub.Ready(batch, n+1); len(batch) == n {
			break
		}
		size += len(batch[n].JSON)
	}
	return batch
}

// streamEnd is what a stream writes last when its subscription ended with
// ended (nil: it has not, its context ended): end for a deleted document,
// even while the server drains (its viewers' reconnect would be refused,
// then answered not_found, and EventSource would give up without being told
// why); a reconnect event, with a spread delay, when the server drains (a
// crowd of viewers would otherwise all come back sseRetry later) or the end
// passes with time (a slow consumer, the hub closing); nothing when the
// client left.
func (s *Server) streamEnd(ctx context.Context, ended error) []byte {
	switch {
	case collab.AsError(ended) != nil && collab.AsError(ended).Code == collab.CodeDeleted:
		return []byte(sseDeleted)
	case s.Draining():
		return s.appendReconnect(nil, errDraining())
	case ctx.Err() != nil:
		return nil
	case collab.Retryable(ended):
		return s.appendReconnect(nil, ended)
	}
	return nil
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
