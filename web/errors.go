package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/storage"
)

// Error codes web produces itself; every other code comes from collab.
// Statuses are never chosen here: collab.HTTPStatus is the one mapping.
const (
	codeInvalidID      = collab.CodeInvalidID
	codeInvalidMessage = collab.CodeInvalidMessage
	codeInvalidOp      = collab.CodeInvalidOp
	codeNotFound       = collab.CodeNotFound
	codeVersionAhead   = collab.CodeVersionAhead
	codeTooLarge       = collab.CodeTooLarge
	codePrecondition   = collab.CodePreconditionFailed
	codeUnavailable    = collab.CodeUnavailable
	codeForbidden      = collab.CodeForbidden
)

func apiError(code collab.Code, format string, args ...any) *collab.Error {
	return &collab.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func errVersionAhead(v, head uint64) error {
	return apiError(codeVersionAhead, "version %d is beyond the head version %d", v, head)
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    collab.Code `json:"code"`
	Message string      `json:"message"`
}

// writeError answers with err's code and status, and Retry-After when err
// says when to retry (retryAfter). Anything that is not a *collab.Error
// (after collab.AsError) is internal: the client sees only "internal
// error", the log gets the detail.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	err = tooLarge(err)
	s.logFailure(r, err)
	writeErrorBody(w, err)
}

// logFailure logs err, the refusal of r, once, here or where its cause
// became a *collab.Error, at error (internal) or warn (other 5xx,
// unavailable); the request line (logRequests) stays at info and carries
// the status only.
func (s *Server) logFailure(r *http.Request, err error) {
	e := collab.AsError(err)
	var made *collab.Error
	switch {
	case collab.HTTPStatus(e) < 500:
	case e.Code == collab.CodeInternal && errors.As(err, &made),
		errors.As(err, &made) && errors.Unwrap(made) != nil:
		// collab logged (or, for a storage refusal, rate-limited) the cause
		// when it turned it into this *Error (collab's Hub.fail).
	case e.Code == collab.CodeInternal:
		s.log.Error().Err(err).Str(keyMethod, r.Method).Str(keyPath, r.URL.Path).Msg("request failed")
	case e.Code == collab.CodeTooManyConnections:
		// A limit refusing a crowd: each refusal would be a line, and
		// connSlots logs that the server-wide one is reached.
	case r.Context().Err() != nil, errors.Is(err, errShuttingDown), errors.Is(err, collab.ErrShuttingDown):
		// The client hung up, or a drain refused it (every viewer and
		// editor reconnecting meanwhile), or a write reached the hub after
		// it closed behind the drain: nothing failed on our side, and the
		// request line records it.
	default:
		// Unavailable (storage full, locked or closed): an operator wants
		// the cause, but it is no server error.
		s.log.Warn().Err(err).Str(keyMethod, r.Method).Str(keyPath, r.URL.Path).Msg("request unavailable")
	}
}

// writeErrorBody writes err as the JSON error answer, with Retry-After when
// err says when to retry.
func writeErrorBody(w http.ResponseWriter, err error) {
	e := collab.AsError(err)
	if d, ok := retryAfter(err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(d)))
	}
	writeJSON(w, collab.HTTPStatus(e), errorBody{errorDetail{e.Code, e.Message}})
}

// retryError is a refusal that says when to retry: after (Retry-After on
// an HTTP error, the least reconnect delay of an event stream's refusal).
type retryError struct {
	err   *collab.Error
	after time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// retryLater is e, saying to retry after d.
func retryLater(e *collab.Error, d time.Duration) error { return &retryError{e, d} }

// retryAfter is the delay err asks a client to wait before it retries: the
// one retryLater gave it, or sseRetry for any other 503 that passes with
// time (collab.Retryable: a drain, storage unavailable, a room catching up),
// the least delay an EventSource is given for the same refusal. So a REST
// client or a long-poll is told when to come back as a viewer is.
func retryAfter(err error) (time.Duration, bool) {
	var re *retryError
	switch {
	case errors.As(err, &re):
		return re.after, true
	case collab.Retryable(err) && collab.HTTPStatus(err) == http.StatusServiceUnavailable:
		return sseRetry, true
	}
	return 0, false
}

// retrySeconds is d as Retry-After sends it: whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// pathID returns the {id} path value after checking it before anything else.
func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !storage.ValidID(id) {
		return "", apiError(codeInvalidID, "document ids are 1 to 64 characters from A-Z a-z 0-9 _ -")
	}
	return id, nil
}

// parseUint parses a strict decimal: digits only, no sign, no leading zeros
// ("0" itself is fine), no overflow. It never clamps.
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// queryUint reads the optional query parameter name: nil when absent, an
// invalid_message error when present more than once or not a strict integer.
func queryUint(r *http.Request, name string) (*uint64, error) {
	vals, ok := r.URL.Query()[name]
	if !ok {
		return nil, nil
	}
	if len(vals) != 1 {
		return nil, apiError(codeInvalidMessage, "%s must be given once", name)
	}
	n, ok := parseUint(vals[0])
	if !ok {
		return nil, apiError(codeInvalidMessage, "%s must be a non-negative integer, got %q", name, vals[0])
	}
	return &n, nil
}

// tooLarge is err, or too_large when err is a body over its limit.
func tooLarge(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return apiError(codeTooLarge, "request body is larger than %d bytes", tooBig.Limit)
	}
	return err
}
