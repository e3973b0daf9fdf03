package collab

import (
	"context"
	"errors"
	"net/http"
	"syscall"

	"github.com/coder/websocket"

	"github.com/foliodocs/folio/storage"
)

// Code is a stable, machine-readable error code. Clients switch on it; the
// message next to it is for people.
type Code string

// The error codes. docs/protocol.md keeps the same table.
const (
	CodeInvalidMessage     Code = "invalid_message"      // malformed JSON, bad UTF-8, lone surrogate, unknown type, bad field
	CodeInvalidOp          Code = "invalid_op"           // the op does not fit the text at its base version
	CodeVersionAhead       Code = "version_ahead"        // a base version after the head
	CodeVersionTooOld      Code = "version_too_old"      // a base version older than the server can rebase from
	CodeNotFound           Code = "not_found"            // no such document
	CodeExists             Code = "exists"               // the document already exists
	CodeInvalidID          Code = "invalid_id"           // a document or session id of the wrong shape
	CodeForbidden          Code = "forbidden"            // not allowed (view role, refused token)
	CodeRateLimited        Code = "rate_limited"         // too many ops; retry later
	CodeTooLarge           Code = "too_large"            // a message over the size limit
	CodeDocTooLarge        Code = "doc_too_large"        // the result would exceed the document size limit
	CodeConflict           Code = "conflict"             // a concurrent change to storage won
	CodePreconditionFailed Code = "precondition_failed"  // If-Match version is not the head
	CodeSeqNotIncreasing   Code = "seq_not_increasing"   // an op seq at or below one already used and not known
	CodeHelloRequired      Code = "hello_required"       // a message before hello
	CodeTooManyConnections Code = "too_many_connections" // the document has too many sessions
	CodeUnavailable        Code = "unavailable"          // shutting down or storage unavailable; retry later
	CodeInternal           Code = "internal"             // a bug or an unexpected storage error
	CodeHelloTimeout       Code = "hello_timeout"        // no hello within the hello timeout
	CodeSlowConsumer       Code = "slow_consumer"        // the send queue overflowed
	CodeSessionReplaced    Code = "session_replaced"     // a newer connection took over the session id
	CodeDeleted            Code = "deleted"              // the document was deleted
	CodeTooManyErrors      Code = "too_many_errors"      // repeated protocol errors
	CodePingTimeout        Code = "ping_timeout"         // no pong within the pong timeout
	CodeTokenExpired       Code = "token_expired"        // the token a connection was opened with expired

	CodeIdempotencyMismatch Code = "idempotency_mismatch" // an Idempotency-Key already used for a different request
	CodeHostNotAllowed      Code = "host_not_allowed"     // a Host header the server does not answer to (DNS rebinding)
	CodeURITooLong          Code = "uri_too_long"         // a request path or query longer than any of the server's URLs
)

// Error is the one error type collab returns. Message is safe to show to a
// client; details stay in the server log.
type Error struct {
	Code    Code
	Message string

	cause error // What became this error (a storage failure), for the log only; see Hub.fail.
}

// Error is for the log: the code, the message and the underlying error when
// there is one. A client gets Code and Message only.
func (e *Error) Error() string {
	if e.cause != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.cause.Error()
	}
	return string(e.Code) + ": " + e.Message
}

// Unwrap returns the underlying error, or nil.
func (e *Error) Unwrap() error { return e.cause }

func errorf(code Code, msg string) *Error { return &Error{Code: code, Message: msg} }

// ErrShuttingDown refuses what reaches a Hub once Close has begun: in an
// orderly shutdown, an expected refusal rather than a failure (errors.Is
// tells it from the other unavailable errors, e.g. storage's).
var ErrShuttingDown = errorf(CodeUnavailable, "server is shutting down")

// Errors with a fixed message, shared to avoid allocating on hot paths.
var (
	errKeyReused      = errorf(CodeIdempotencyMismatch, "this Idempotency-Key was used for a different request; use a new key per op")
	errDeleted        = errorf(CodeDeleted, "document deleted")
	errSlowConsumer   = errorf(CodeSlowConsumer, "send queue full")
	errHelloTimeout   = errorf(CodeHelloTimeout, "no hello in time")
	errTooManyErrors  = errorf(CodeTooManyErrors, "too many protocol errors")
	errReplaced       = errorf(CodeSessionReplaced, "session opened elsewhere")
	errPingTimeout    = errorf(CodePingTimeout, "no pong in time")
	errInternal       = errorf(CodeInternal, "internal error")
	errRateLimited    = errorf(CodeRateLimited, "too many ops, slow down")
	errHelloRequired  = errorf(CodeHelloRequired, "send hello first")
	errSeqNotIncrease = errorf(CodeSeqNotIncreasing, "seq must increase")
	errInvalidID      = errorf(CodeInvalidID, "invalid document id")
	errNotFound       = errorf(CodeNotFound, "document not found")
	errTokenExpired   = errorf(CodeTokenExpired, "token expired")
)

// mapping is the single table from codes to HTTP statuses, WebSocket close
// codes and whether a refusal passes with time (Retryable). A close code is used when the error ends a connection; errors about
// one message (invalid_op, rate_limited, ...) end it only when they persist
// (too_many_errors).
var mapping = map[Code]struct {
	http  int
	close websocket.StatusCode
	retry bool // Retryable
}{
	CodeInvalidMessage:     {http.StatusBadRequest, CloseProtocol, false},
	CodeInvalidOp:          {http.StatusBadRequest, CloseProtocol, false},
	CodeVersionAhead:       {http.StatusBadRequest, CloseProtocol, false},
	CodeVersionTooOld:      {http.StatusConflict, CloseProtocol, false},
	CodeNotFound:           {http.StatusNotFound, CloseNotFound, false},
	CodeExists:             {http.StatusConflict, CloseProtocol, false},
	CodeInvalidID:          {http.StatusBadRequest, CloseInvalidID, false},
	CodeForbidden:          {http.StatusForbidden, websocket.StatusPolicyViolation, false},
	CodeRateLimited:        {http.StatusTooManyRequests, CloseProtocol, true},
	CodeTooLarge:           {http.StatusRequestEntityTooLarge, websocket.StatusMessageTooBig, false},
	CodeDocTooLarge:        {http.StatusRequestEntityTooLarge, CloseProtocol, false},
	CodeConflict:           {http.StatusConflict, CloseProtocol, true},
	CodePreconditionFailed: {http.StatusPreconditionFailed, CloseProtocol, false},
	CodeSeqNotIncreasing:   {http.StatusConflict, CloseProtocol, false},
	CodeHelloRequired:      {http.StatusBadRequest, CloseProtocol, false},
	CodeTooManyConnections: {http.StatusServiceUnavailable, websocket.StatusTryAgainLater, true},
	CodeUnavailable:        {http.StatusServiceUnavailable, websocket.StatusGoingAway, true},
	CodeInternal:           {http.StatusInternalServerError, websocket.StatusInternalError, false},
	CodeHelloTimeout:       {http.StatusRequestTimeout, CloseHelloTimeout, false},
	CodeSlowConsumer:       {http.StatusServiceUnavailable, CloseSlowConsumer, true},
	CodeSessionReplaced:    {http.StatusConflict, CloseReplaced, false},
	CodeDeleted:            {http.StatusGone, CloseDeleted, false},
	CodeTooManyErrors:      {http.StatusBadRequest, CloseProtocol, false},
	CodePingTimeout:        {http.StatusRequestTimeout, ClosePingTimeout, false},
	CodeTokenExpired:       {http.StatusUnauthorized, CloseTokenExpired, false},

	CodeIdempotencyMismatch: {http.StatusUnprocessableEntity, CloseProtocol, false},
	// Refused before any upgrade, so the close code is never sent; 1008 is
	// what a policy refusal would be.
	CodeHostNotAllowed: {http.StatusForbidden, websocket.StatusPolicyViolation, false},
	// Refused before any upgrade too; 1009 is what a message too big is.
	CodeURITooLong: {http.StatusRequestURITooLong, websocket.StatusMessageTooBig, false},
}

// Custom WebSocket close codes (4000-4999 is the application range).
const (
	CloseProtocol     websocket.StatusCode = 4000 // repeated protocol errors, or a refused hello
	CloseHelloTimeout websocket.StatusCode = 4001 // no hello within HelloTimeout
	CloseSlowConsumer websocket.StatusCode = 4002 // send queue overflowed; reconnect and resync
	CloseReplaced     websocket.StatusCode = 4003 // the session id connected again elsewhere
	CloseDeleted      websocket.StatusCode = 4004 // the document was deleted; do not reconnect
	ClosePingTimeout  websocket.StatusCode = 4005 // no pong within PongTimeout
	CloseInvalidID    websocket.StatusCode = 4400 // malformed document id
	CloseTokenExpired websocket.StatusCode = 4401 // the token expired; reconnect with a new one
	CloseNotFound     websocket.StatusCode = 4404 // no such document (auto-create off)
)

// AsError returns err as an *Error: an *Error in err's chain as is, storage's
// sentinel errors as their codes, context ends as unavailable, and anything
// else as internal with the message "internal error". nil gives nil.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, storage.ErrNotFound):
		return errNotFound
	case errors.Is(err, storage.ErrExists):
		return errorf(CodeExists, "document already exists")
	case errors.Is(err, storage.ErrInvalidID):
		return errInvalidID
	case errors.Is(err, storage.ErrVersionConflict):
		return errorf(CodeConflict, "concurrent change, retry")
	case errors.Is(err, storage.ErrVersionAhead):
		return errorf(CodeVersionAhead, "version is after the document's head")
	case errors.Is(err, storage.ErrVersionGone):
		// The document was deleted and created again after that version.
		return errorf(CodeVersionTooOld, "version is from before the document was created; reload it")
	case errors.Is(err, storage.ErrLocked), errors.Is(err, storage.ErrClosed):
		return errorf(CodeUnavailable, "storage unavailable")
	case errors.Is(err, storage.ErrFailed):
		// Before ENOSPC, which it may wrap: only a restart recovers (and
		// /readyz says so to a load balancer meanwhile).
		return errorf(CodeUnavailable, "storage failed; the server must be restarted")
	case errors.Is(err, syscall.ENOSPC):
		// Nothing was committed, and writes succeed again once there is
		// room (the journal has some reserve for ops meanwhile).
		return errorf(CodeUnavailable, "storage is full; retry later")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errorf(CodeUnavailable, "request cancelled or timed out")
	}
	return errInternal
}

// HTTPStatus is the HTTP status for err (see AsError); 200 for nil.
func HTTPStatus(err error) int {
	if err == nil {
		return http.StatusOK
	}
	if m, ok := mapping[AsError(err).Code]; ok {
		return m.http
	}
	return http.StatusInternalServerError
}

// CloseStatus is the WebSocket close code for a connection ended by err (see
// AsError); 1000 for nil.
func CloseStatus(err error) websocket.StatusCode {
	if err == nil {
		return websocket.StatusNormalClosure
	}
	if m, ok := mapping[AsError(err).Code]; ok {
		return m.close
	}
	return websocket.StatusInternalError
}

// Retryable reports whether err refuses a request for a reason that passes
// with time, so the same request may succeed later unchanged: the server is
// shutting down or catching up with another server, storage is unavailable,
// a rate or connection limit was reached, a subscriber fell behind, a
// concurrent change won. A refusal about the request itself or its access
// (forbidden, not_found, invalid_*, deleted, version_*, ...) is not, and
// neither is internal: a bug does not pass with time, and clients that
// retried it would only add load. nil is not.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	return mapping[AsError(err).Code].retry
}
