package client

import "github.com/foliodocs/folio/collab"

// action is what the client does about a refusal, by its code: an error
// message about its op awaiting an ack, a refused hello, an upgrade refused
// over HTTP. Where it means what collab's table of codes says
// (collab.Retryable: the same request may succeed later unchanged), it is
// derived from that table, so the two cannot drift; doc.go states the
// decisions and why the exceptions exist.
type action int

const (
	// retryLater: the refusal passes with time (collab.Retryable). The same
	// op (same seq) or hello again after a backoff, for as long as it takes.
	retryLater action = iota
	// retryFew: internal. Not retryable for collab (a bug does not pass with
	// time), but a commit that failed for a reason the server does not know
	// is answered so, with nothing of it applied, and docs/protocol.md has
	// the client resend it. The client retries an op or a hello refused so
	// at most maxInternal times, then takes it as giveUp.
	retryFew
	// resync: version_too_old or version_ahead. The server cannot place the
	// op's base version; the client reconnects for the full text and keeps
	// the op (limbo). Resending it unchanged would be refused again, which
	// is why collab does not call these retryable.
	resync
	// giveUp: the request itself or its access is refused, or the code is
	// unknown to this client. An op is dropped (Options.OnError reports it);
	// a refused hello or upgrade stops the client (StatusClosed, and Submit
	// and WaitSynced return the *RefusedError).
	giveUp
)

// maxInternal is how many internal refusals of one op, or of hellos in a
// row, the client retries before it gives up on them.
const maxInternal = 3

// actionFor is what the client does about a refusal with code.
func actionFor(code collab.Code) action {
	switch code {
	case collab.CodeInternal:
		return retryFew
	case collab.CodeVersionTooOld, collab.CodeVersionAhead:
		return resync
	}
	if collab.Retryable(&collab.Error{Code: code}) {
		return retryLater
	}
	return giveUp
}
