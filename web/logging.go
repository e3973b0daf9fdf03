package web

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/storage"
)

// Log keys. Request lines never carry the query string (it may hold a token)
// nor any document text.
const (
	keyMethod   = "method"
	keyPath     = "path"
	keyRoute    = "route"
	keyStatus   = "status"
	keyBytes    = "bytes"
	keyDuration = "duration_ms" // float milliseconds, whatever zerolog.DurationFieldUnit says
	keyRemote   = "remote"
	keyDoc      = "doc"
	keyHost     = "host"
)

// statusWriter records the status and size of a response. It passes Flush and
// Hijack through (SSE and the WebSocket upgrade need them) and unwraps for
// http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("web: response writer cannot be hijacked")
	}
	w.hijacked = true
	w.status = http.StatusSwitchingProtocols
	return h.Hijack()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs one line per request and counts it in the metrics. A
// WebSocket's line is written at the upgrade (status 101): the hub serves the
// connection from then on and logs its end ("connection closed", with the
// close code).
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		d := time.Since(start)
		// Streams and long-polls last as long as the client wants: keep them
		// out of the latency histogram.
		streaming := sw.hijacked || strings.HasSuffix(r.Pattern, "/events") ||
			(strings.HasSuffix(r.Pattern, "/ops") && r.Method == http.MethodGet)
		s.metrics.observe(r.Pattern, sw.status, d, streaming)
		ev := s.requestEvent(r)
		if id := r.PathValue("id"); storage.ValidID(id) {
			ev = ev.Str(keyDoc, id)
		}
		ev.
			Str(keyMethod, r.Method).
			Str(keyPath, loggedPath(r.URL.Path)).
			Str(keyRoute, r.Pattern).
			Int(keyStatus, sw.status).
			Int64(keyBytes, sw.bytes).
			Float64(keyDuration, float64(d)/float64(time.Millisecond)).
			Str(keyRemote, r.RemoteAddr).
			Msg("http request")
	})
}

// loggedPath is p as request lines carry it: whole when it is not longer
// than maxPathBytes, else (a path boundPath refused) its first 256 bytes
// and "…", so that no log line grows with what a client sends.
func loggedPath(p string) string {
	if len(p) <= maxPathBytes {
		return p
	}
	n := 256
	for n > 0 && !utf8.RuneStart(p[n]) {
		n--
	}
	return p[:n] + "…"
}

// requestEvent picks the level of a request line: debug for probes and
// scrapes, info for everything else, whatever the status. A failure's cause
// is logged once, at warn or error, where it is handled (writeError, the
// hub, the readiness check); the request line adds the status and timing
// without a second warning.
func (s *Server) requestEvent(r *http.Request) *zerolog.Event {
	switch r.URL.Path {
	case "/healthz", "/readyz", "/metrics":
		return s.log.Debug()
	default:
		return s.log.Info()
	}
}
