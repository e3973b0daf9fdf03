// Package client is a Go client for Folio's collaborative editing protocol
// (v1, docs/protocol.md): it dials one document's WebSocket, runs the client
// side of operational transformation, shows other sessions' cursors, and
// reconnects and resyncs by itself. Tests, the load generator and bots use it.
//
// # The algorithm (the ShareDB / ot.js client)
//
// The client keeps the server text at the last server version it knows, and
// the local text: the server text plus its own unacknowledged edits, which
// are at most one op in flight (sent, awaiting its ack) and one buffer (every
// edit made since, composed into a single op). Submit applies an edit to the
// local text at once; it becomes the in-flight op when none is, otherwise it
// is composed into the buffer, which is sent when the ack arrives.
//
// Every op the server broadcasts applies to the server text at version-1.
// Before it is applied to the local text it is transformed over the in-flight
// op and then over the buffer, and they over it:
//
//	inflight' = Transform(inflight, remote, Left);  remote' = Transform(remote, inflight, Right)
//	buffer'   = Transform(buffer, remote', Left);   remote'' = Transform(remote', buffer, Right)
//
// The server transforms a submitted op over each op committed after its base
// with side Left, so the transformed in-flight op is exactly what the server
// will commit, and acknowledging it just applies it to the server text. The
// buffer uses Left too, so the outcome does not depend on how edits happened
// to be grouped into ops.
//
// # Reconnecting
//
// When the connection fails, the client reconnects with exponential backoff
// (Options.BackoffMin doubling up to BackoffMax) and jitter (a random delay
// between half and all of it). Its hello carries its session's key (drawn
// by Dial, or Options.Key; the public id alone, which everyone sees, cannot
// resume a session), the id once known, and its version; the welcome's ops
// are applied like broadcasts, and one carrying this session and the
// in-flight op's seq is that op's acknowledgement (it was committed before
// the drop). Then the in-flight op is resent with the same seq and its
// rebased base version; the server answers a (session, seq) it already has
// with an ack and does not apply it again. Seqs increase per session across
// reconnects. Edits made while offline wait in the buffer.
//
// When the welcome brings a full text instead of ops (the client was too far
// behind, or ahead of a server that lost data):
//   - with nothing in flight, the buffer (never sent) is transformed over
//     ot.Diff(old server text, new text) and applied to the new text;
//   - with an op in flight, nobody knows whether the text contains it. The op
//     is resent with its seq, rebased over that diff, and the client waits
//     ("limbo"): the local text keeps the user's edits and does not show
//     remote changes meanwhile. An ack at a version up to the text's version
//     says it was committed before (it is in the text); a later one says
//     the resend was committed. The buffer is then moved over one diff (from
//     the text it followed to the welcome's text) and through the ops
//     committed since, with the usual transforms, and the local text jumps to
//     the result, which holds the op exactly once. A refusal merges the op
//     itself back as an unsent edit.
//
// A diff is all a text allows: it keeps every client converged, but when the
// missed changes touch several places it is one large replacement, and edits
// pending inside it land at its start instead of where a transform would put
// them.
//
// A refusal of the in-flight op for good (invalid_op, doc_too_large, …;
// see Refusals) drops that op: the local text becomes the server text plus the rebased
// buffer, and Options.OnError reports it. So does a close with 1009 (the op
// in flight is over the server's message limit; OnError gets too_large),
// before the client reconnects: resending it would end the next connection
// too.
//
// # Refusals
//
// What the client does about a refusal — an error message about its op in
// flight, an error answering its hello, an upgrade refused over HTTP —
// depends only on the code (refusal.go), and follows collab's table of
// codes (collab.Retryable) wherever they mean the same thing:
//
//   - A code collab.Retryable calls passing with time (rate_limited,
//     unavailable, conflict, too_many_connections, slow_consumer) is
//     retried for as long as it takes: an op is resent with the same seq
//     after about Options.RetryDelay, doubling with each refusal up to
//     BackoffMax, with jitter (between half and one and a half times that);
//     a hello or upgrade is tried again with the reconnect backoff, and no
//     sooner than an HTTP refusal's Retry-After. A 5xx without the API's
//     error body (a proxy's) counts as unavailable, a bare 429 as
//     rate_limited.
//   - internal is the one exception collab's table does not decide for the
//     client: collab does not call it retryable, since a bug does not pass
//     with time, but a commit that failed for a reason the server cannot
//     name is answered internal with nothing applied, and
//     docs/protocol.md has the client resend it. So an op or hello refused
//     as internal is retried like the above at most three times
//     (maxInternal; a hello's count is of refusals in a row), then treated
//     as refused for good.
//   - version_too_old and version_ahead about an op mean the server cannot
//     place its base version: the op is kept and the client reconnects
//     asking for the full text (above). Resending it unchanged would be
//     refused again, which is why collab does not call them retryable.
//   - Any other code, or one this client does not know, refuses the request
//     for good. An op is dropped (above; seq_not_increasing also moves the
//     session's next seqs past the clock); a hello or an upgrade refused so
//     (forbidden, not_found, deleted, invalid_*, token_expired — the token
//     is fixed —, …) stops the client: OnStatus reports StatusClosed with
//     that *RefusedError, and Submit and WaitSynced return it. So does a
//     connection closed with 1008, 4000, 4004, 4400, 4401 or 4404, the codes
//     docs/protocol.md says not to reconnect after, or with 4003 (another
//     client took the session by its key: Options.Key given to two); other
//     closes end one connection, not a request, and are followed by a
//     reconnect.
//
// A test (TestRefusalActions) lists the decision for every code in collab's
// table, so a new code cannot arrive without one.
//
// # Presence
//
// Peers' cursors are stored in server coordinates and moved through every
// committed op; Peers returns them moved through the in-flight op and buffer,
// i.e. in local coordinates (while in limbo, in server coordinates clamped to
// the local text). A presence reported at an older version is moved through
// the recent ops (at least the last 64). The client's own cursor moves
// through every edit, local and remote, as the server moves it; SetCursor
// sends it once no own op is pending, so that its version names a text the
// server has.
//
// # Guarantees
//
//   - Convergence: once every client is synced and has received every
//     broadcast, all local texts equal the server's text.
//   - Exactly once: an edit is in at most one committed op; nothing submitted
//     is lost by a drop or a server restart (the server dedupes by
//     (session, seq)). Close drops unacknowledged edits: call WaitSynced first.
//   - Callbacks (Options.On*) are called from one goroutine, in server order,
//     without locks held; they may call the Client's methods except Close.
//
// # Goroutines and ownership
//
// Client.mu guards the state (texts, ops, peers) and the current connection.
// The run goroutine owns the connection life cycle: it reads, applies server
// messages under mu, calls the callbacks, and reconnects. Each connection has
// one writer goroutine that sends its queue in order (each write with its own
// deadline), resends after rate limiting, and pings the server every
// Options.PingInterval to notice a dead peer. Close closes the connection
// normally (peers see leave at once; a server that does not answer the close
// within a second is cut off), cancels, and waits for both.
//
// Submit and SetCursor take no context: they change local state and do not
// wait for the network (WaitSynced, which takes one, waits for the acks).
// SetCursor hands its message to the writer goroutine; a move still queued
// is replaced by the next, so moves cannot pile up. Submit, outside
// callbacks, writes its op itself when no write is in progress and the op
// is small (inlineWriteMax, 4 KiB of text: typing), a goroutine wake-up less
// per op, the connection's write lock keeping the order; a larger op goes to
// the writer. That write is a copy into the socket's buffer, which holds it:
// an op goes out only after the server acknowledged the one before, so it
// had read every op. The one wait left: a server that stopped reading this
// connection while the writer filled the buffer with other messages
// (cursor moves, pings) and then finished a write — Submit then waits for
// the server to read a few KiB, at most WriteTimeout, after which the
// connection is cut (the op is resent after the reconnect) and Submit
// returns nil.
//
// The frequent server messages (op, ack, presence, leave) are decoded by
// hand, falling back to encoding/json for anything not in their plain form
// (wire.go); reads and writes carry no per-frame context: cancelling a
// connection closes it.
package client
