// Package collab runs Folio's real-time editing: one room per open document,
// WebSocket sessions speaking protocol v1 (docs/protocol.md), presence, and
// the same op pipeline for REST submissions and SSE/long-poll subscriptions.
//
// # Ownership
//
// A Hub owns a mutex-protected registry of rooms and a WaitGroup of room
// goroutines and sessions; Close stops and waits for all of them. A room's
// goroutine owns the document text (ot.Document), the head version, the
// window of recent ops, the queued and in-flight ops, the sessions and their
// presence; other goroutines only send it closures (room.do) that run there.
// What a room keeps is bounded however long it stays open: the op window at
// 1.25 × OpWindow ops, the cache of session seqs (exactly-once records, which
// storage holds too) at 4 × MaxConnsPerDoc entries, the peers of other nodes
// at 4 × MaxConnsPerDoc, its sessions at MaxConnsPerDoc and its
// subscriptions at MaxSubscribersPerDoc. A text of 64 KB or more is also kept, once asked
// for, encoded for the welcomes at the head (headTextJSON) and as a
// snapshot event for subscriptions (snapshotEvent: the text and its
// encoding): up to three more copies, dropped when the head moves.
// A room loads its document itself, so however many sessions join at the
// same moment it is read once; joiners wait in the inbox. The ops older
// than the window that a resuming client (a hello or Subscribe at an old
// version) needs, the last seq of a session that the room does not
// hold (a hello's, a REST submission's), and the last op of a session
// resumed by id without its key, when older than the window (to check who
// wrote it), are read on that client's goroutine: the room answers what
// to read, and takes the client again with what was read, adding what its
// window holds since (readNeed). A document edited faster than storage
// answers could keep a client asking again; after joinReads reads the room
// reads the rest (what was committed during the last read) itself, so
// every join ends. A catch-up is bounded by bytes as well as by
// CatchUpLimit ops: when the ops weigh more than catchUpBudget (the larger
// of Options.CatchUpBytes and 4 × the text's length) nothing past that is
// read (storage.DB.OpsWithin), and the client gets the text (a welcome's
// text, a subscription's snapshot), as for a version too old. An op based
// before the window is the one case the room reads old ops itself (to
// rebase it, opsAfter), within the same budget: past it the op is
// version_too_old and its client resyncs from the text.
// A welcome's catch-up is encoded the same way: the room
// hands the hello's goroutine the op records (never changed once
// committed), takes back their entries and encodes only the ops committed
// since; it still queues the welcome in the turn that admits the session,
// before anything broadcast after it. A room with nobody
// attached for Options.IdleUnload writes a snapshot, unregisters and ends; a
// request racing with that sees the room gone and opens the document again,
// so no join is lost.
//
// Each session has a reader goroutine (ServeConn's caller, or the hub's
// goroutine for StartConn) and a bounded queue of pre-encoded messages. The
// room sends what a turn queued for a session as one batch at the end of the
// turn. With a Peer.Wire (Accept) the session frames its messages itself and
// the room writes the batch straight to the socket in one write(2) when the
// socket takes it at once and no other write is under way (Wire.tryWrite
// never waits), for the first 64 sessions of the turn (an op's author first).
// Otherwise, and for what the socket did not take, one writer
// goroutine, which alone writes data frames, runs while the queue is not
// empty (a batch per wake-up, with a Wire in writes of up to maxWriteBytes,
// so a long queue is never copied whole; each write with its own deadline:
// one watchdog timer per session) and ends when the queue is empty. A per-session timer starts the
// heartbeat pings (each waits for its pong in a short-lived goroutine, and
// drops the peer only if the reader waited for its frames all along: a pong
// may sit unread behind a message waiting for a busy room); kick
// starts the close handshake in a short-lived goroutine. The reader waits
// for every one of them. An idle session thus has one goroutine.
//
// The room never blocks on a session: when a queue is full the session is
// cut with close code 4002 (slow consumer) and resyncs when it reconnects.
// Full is SendQueue messages, or SendQueueBytes bytes counting, besides the
// queued messages, those the writer took and has not finished writing (the
// rest the Wire holds among them): all that waits for the peer. A message
// is taken while less is queued, so no welcome is too large to send, and a
// peer that stopped reading pins at most SendQueueBytes and one message
// (with the writer's copy of the frames of one write). The reader stops
// reading while its queue is half full, so the replies to a client's own
// messages never cut it (TCP pushes back on a client that sends faster than
// it reads). A subscription's queue is bounded alike, by SendQueue events
// and SendQueueBytes bytes of payloads (Event.JSON), and ends with
// slow_consumer past either. The bytes count, besides the queued events,
// the backlog it was given when it subscribed (a snapshot), until each
// event is taken, so a consumer that never reads pins at most
// SendQueueBytes and one event; the missed ops of its catch-up are bounded
// by the catch-up's budget instead. What its consumer took out is the
// consumer's.
//
// Presence is state, not a log. Joins, presence updates and leaves are
// flushed right after the next op broadcast or 50 ms after the change,
// whichever is first, at most once per session interval, each encoded once;
// a session that joins and leaves before the flush is never announced, but
// one that a welcome or a subscription's backlog listed is owed its leave
// (no ghost cursors). Presence never cuts a session: a recipient whose queue
// is over half full misses it and is later sent the current state of whoever
// it missed. A welcome lists the peers from their cached encoded presence.
//
// A hello for a document that does not exist creates it (unless
// NoAutoCreate) only for an editor whose Grant has Create; open access (no
// Peer.Authorize) may create.
//
// # Ordering
//
// Versions are assigned on the room goroutine in arrival order. An op based
// on version b is transformed (side Left) over every op after b, committed or
// still queued, so it applies to the text just before its own version. The
// ops queued while a commit runs form the next commit (one Append, one
// fsync); when that commit acknowledged authors who type ahead (their last op
// followed its ack within 1 ms) and have nothing queued, the next commit
// waits up to 1 ms for their next op (gather.go). After a commit returns,
// its ops are applied in version order, and for each: stored cursors move,
// the author gets its ack, everyone else gets the op (encoded once, the same
// bytes for all). Acks and broadcasts
// therefore follow version order on every connection.
//
// # Durability and exactly-once
//
// Nothing is acknowledged, broadcast or applied to the room's text before
// Store.Append returned nil, which storage promises means durable (fsync'd);
// the session's (seq, version) record is committed in the same transaction.
// If Append fails nothing was stored: the room's text has not moved, the
// batch and every op queued after it (rebased over it) get an error, and later
// commits work normally. An op whose (session, seq) was already committed —
// resent after a reconnect or a server restart — is acknowledged with its
// original version and not applied again; the room remembers the last seq of
// each session it saw and has Store.SessionSeq read for sessions it has not
// (on hello and on a first REST submission) by the caller's goroutine (see
// above; the session's ops committed since the read are found in the
// window). A resend of an op still being committed is answered by that
// commit's ack.
//
// A session's public id, which every participant sees and storage records,
// is derived from a private key (SessionID) that its client draws and sends
// in its hello, and only its own welcome echoes. A hello resumes a session,
// or takes over its connection, by that key. Of two connections of one
// session the one that arrived first is closed (4003); a connection is
// dated before its 101 went out (Accept's Wire), and a client sends its
// hello there, or gives up on it for another, only after that. A hello
// without a key gets a legacy session (a random UUID, resumed by id, with
// the older holder checks); a legacy hello naming an id is refused for every id derived
// from a key and every REST idempotency session, so nobody who merely saw
// an id can close its connection or take its next seqs (which would make
// its owner's resent ops look like duplicates, and drop them).
//
// # Several nodes (Options.Bus)
//
// Rooms, storage and fan-out meet through two small interfaces: Store and
// Bus. A multi-node mode (documents served by several servers sharing one
// store) must supply a Store whose Append commits a version only at the
// head+1 it names, else storage.ErrVersionConflict, for every node (it is
// the sequencer), and a Bus over its pub/sub engine: Publish(doc, records)
// and Subscribe(doc, deliver) with a cancel. The Bus may lose, duplicate or
// reorder messages; it must not invent records. It needs no ordering or
// persistence because rooms repair from the store. With a nil Bus nothing
// below runs.
//
// A room subscribes before it loads and cancels when it ends. The callback
// only queues the records for the room's goroutine (bounded, never blocking
// the bus); on overflow the room is behind and reads the store. The commit
// goroutine publishes each successful commit before the room learns of it,
// so one room's publications follow version order. On the room goroutine,
// with no commit in flight (its versions are taken until it ends): a record
// at head+1 is applied like a local commit (text, window, exactly-once
// record, cursors, broadcast to sessions and subscriptions); one after a
// gap, the overflow signal and a timer (Options.BusPoll) make the room read
// Store.Meta and Store.Ops up to the store's head; known versions are
// ignored.
//
// After another node's record is applied, every queued op is rebased again
// from its form at the head it was submitted at (kept with it) over the
// committed ops since and the ops requeued before it — the order its
// author's client transforms it in, so they agree even where inserts tie.
// A queued op equal to the record's (session, seq) — a resend that reached
// two nodes — is acknowledged with the record's version; an older seq of
// that session, an op based on pending text, or a ReplaceText bound to a
// version fails (conflict, precondition_failed). A commit that loses the
// version race (ErrVersionConflict) stored nothing: the room catches up,
// which requeues the batch and the queue the same way, and commits again
// (at most 8 times per op, then conflict; conflict at once if the store's
// head did not move). A hello, Subscribe or op naming a version after the
// room's head makes the room catch up first, and so does a resent op that
// storage shows committed after it (by another node), so that its ack
// follows the ops before it; while a commit is in flight it answers
// unavailable (hello, Subscribe) or conflict (op), both retryable.
// (On one node, a Subscribe at a version that the room's commit in flight
// covers, which a poller read from storage, follows from there.)
//
// Presence crosses nodes when the Bus is also a PresenceBus. A room
// publishes what each presence flush sends its sessions (presence of those
// that changed, leaves) and, every BusPoll, the presence of all its
// sessions; it shows other nodes' sessions to its own like local peers (in
// welcomes, presence and leave messages, subscriptions and Participants),
// their cursors moved to its head and through every later op. A session
// connected here is shown as this node knows it, whatever other nodes say;
// a peer whose node has not spoken of it for 3 polls (the node died) or that
// its node's full state no longer lists is dropped with a leave. News about
// a version the room cannot reach yet is skipped until the next full state
// (the peer stays shown meanwhile: its node is alive).
// A room shows at most 4 × MaxConnsPerDoc peers of other nodes.
// With a plain Bus presence is node-local.
//
// Node-local, not shared through the Bus: session takeover (4003), rate
// limits, connection limits and metrics. Delete is not published either:
// a room on another node finds the document gone at its next look at the
// store (BusPoll, a catch-up, or a commit that finds no document) and ends
// as if it had been deleted there (sessions closed with 4004, subscriptions
// ended with deleted), without deleting anything again. So does a room that
// finds the document created again (its Meta.Base is not the one loaded):
// the new document's versions start past the old one's last, and the next
// room serves it. A client whose version past the room's head made it look
// hears deleted, or, when the document was created again, is told to retry
// (unavailable; conflict for an op), since the retry finds the new one.
//
// # Errors
//
// Every error leaving the package is an *Error with a stable Code; AsError,
// HTTPStatus and CloseStatus are the one mapping to HTTP and WebSocket close
// codes. Bad input never changes a document: each refused message gets an
// error frame, and repeated protocol errors close the connection (4000).
package collab
