package collab

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// Role is what a session may do: RoleView reads and shows presence, RoleEdit
// also submits ops.
type Role string

const (
	RoleView Role = "view"
	RoleEdit Role = "edit"
)

// Peer describes the other end of a WebSocket connection.
type Peer struct {
	Addr string
	// Authorize checks hello's token. nil means open access with RoleEdit.
	Authorize func(token string) (Grant, error)
	// Wire, from Accept, lets the session write its data frames itself:
	// a batch is one write(2), done by the room when the socket takes it at
	// once. nil: each message goes through coder/websocket's writer. It
	// also dates the connection from before its 101, which tells which of
	// two connections of one session is the older (see arrivedAt).
	Wire *Wire
	// Done, when not nil, is called once when the hub is finished with
	// the connection: its session ended, or the hub refused it at once
	// (closed). A caller that counts held connections releases one here.
	Done func()
}

func (p Peer) done() {
	if p.Done != nil {
		p.Done()
	}
}

// Grant is what a token allows.
type Grant struct {
	Role Role
	// Create lets an editor's hello create the document when it does not
	// exist (with auto-create on). Open access (no Authorize) may create.
	Create bool
	Name   string // Non-empty: the name others see, overriding hello's.
	// Expires, when set, ends the access: the session is closed then with
	// token_expired (after what was queued for it).
	Expires time.Time
}

// outMsg is one entry of a session's send queue: encoded bytes, or a close
// that takes effect after everything queued before it was written.
type outMsg struct {
	data  []byte
	flush bool // No data: the writer must send what the Wire holds pending (see tryFrames).
	close *Error
}

// session is one WebSocket connection. Its reader is the ServeConn goroutine.
// A writer goroutine (the only one writing data frames) runs only while the
// send queue holds something (see outQueue); a per-session timer starts a
// short-lived goroutine for each heartbeat ping. An idle session therefore
// has one goroutine. The reader waits for all of them before it returns.
type session struct {
	hub       *Hub
	conn      *websocket.Conn
	ctx       context.Context // From the hub; cancelled when ServeConn returns.
	cancel    context.CancelFunc
	wctx      context.Context // ctx without its cancellation, for reads and writes (see serve and write).
	watchdog  *time.Timer     // Closes conn when a write outlives WriteTimeout; owned by the writer.
	out       *outQueue       // Bounded; anyone sends without blocking (send).
	writer    func()          // Static: writeLoop as a func value, so starting it allocates nothing.
	wire      *Wire           // Static, may be nil: frames are written without coder/websocket's writer.
	pingTimer *time.Timer     // Starts a ping every PingInterval (pingDue).
	pinging   atomic.Bool     // A ping waits for its pong.
	arrival   time.Time       // Static: when the connection arrived (arrivedAt); see room.join.
	// readTurn counts the reader's turns, for ping: odd while it waits
	// for a frame (free to read, so a pong would be taken at once), even
	// while it handles a message (behind a busy room, its rate, its writer).
	readTurn atomic.Uint64
	// stopClosing ends the watch for the hub's Close before hello (nil once
	// ended); owned by the reader.
	stopClosing func() bool
	// expiry closes the session when its grant expires (nil without an
	// expiry); armed by the reader on hello, stopped by serve.
	expiry *time.Timer
	kicked chan struct{} // Closed once by kick.
	// closing is set once the connection is to close (closeAfterQueued,
	// kick): the reader reads on, for the close handshake, but handles
	// nothing more.
	closing  atomic.Bool
	kickOnce sync.Once
	closeErr *Error // Why the connection closes (nil: normal); set before kicked closes.
	// peerClose is how the reader found the connection ended when the
	// server had no reason of its own: the client's close code, or -1 when
	// it dropped without a close frame (0: the reader saw no end). Owned by
	// serve's goroutine.
	peerClose websocket.StatusCode
	ops       *rate.Limiter // Ops per second.
	errBudget *rate.Limiter // Protocol errors tolerated before closing.
	reads     *rate.Limiter // Messages of any kind; the reader waits on it.
	wg        sync.WaitGroup

	// Set by the reader before joining a room, read-only afterwards.
	log zerolog.Logger
	id  string // Public: everyone sees it, storage records it.
	// key is the session's private key, from its hello, echoed in its
	// welcome only and never logged; "" for a legacy session (no key). A
	// keyed session proved it holds the session, so it may resume or take
	// it over whoever it is now (see room.join).
	key     string
	resumed bool // id came from the client (its key, or a legacy id): its exactly-once record may be in storage.
	// hadDoc: its hello named a version or a session id (which a client
	// learns from a welcome), so the document existed for it; missing now,
	// it was deleted (Hub.join).
	hadDoc    bool
	role      Role
	mayCreate bool // Its hello may create a missing document (Grant.Create, an editor).
	author    string
	nameFixed bool
	name      string
	color     string
	since     *uint64
	room      *room

	joined atomic.Pointer[room] // room, for the writer: it leaves as soon as the session is cut.

	// Owned by the room goroutine.
	pres          Presence
	presBytes     []byte              // pres encoded (presenceEntry); nil when it changed.
	presSent      time.Time           // When pres was last flushed to the others.
	presDirty     bool                // pres changed since.
	presAnnounced bool                // The others were told it joined: its leave must be sent.
	presMissed    map[string]struct{} // Sessions whose latest state this one missed (queue over half full).
	ackedAt       time.Time           // When its last op was acknowledged.
	quick         bool                // Its last op came within gatherDelay of the ack before: it types ahead.
}

// ServeConn runs one WebSocket session on conn (accepted with Subprotocol)
// for document docID until it ends. The session's context comes from the
// hub, not from the HTTP request.
func (h *Hub) ServeConn(conn *websocket.Conn, docID string, peer Peer) {
	defer peer.done()
	if !h.addSession(conn) {
		return
	}
	defer h.sessWG.Done()
	h.newSession(conn, docID, peer).serve(docID, peer)
}

// StartConn is ServeConn in a goroutine that the hub owns (Close waits for
// it); it returns at once. An HTTP handler that returns after the upgrade
// releases its request, headers and deep stack for the connection's life.
func (h *Hub) StartConn(conn *websocket.Conn, docID string, peer Peer) {
	if !h.addSession(conn) {
		peer.done()
		return
	}
	go func() {
		defer h.sessWG.Done()
		defer peer.done()
		h.newSession(conn, docID, peer).serve(docID, peer)
	}()
}

// addSession counts a new session in sessWG; false (and conn closed) when
// the hub is closed.
func (h *Hub) addSession(conn *websocket.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		_ = conn.Close(websocket.StatusGoingAway, ErrShuttingDown.Message)
		return false
	}
	h.sessWG.Add(1)
	return true
}

func (h *Hub) newSession(conn *websocket.Conn, docID string, peer Peer) *session {
	ctx, cancel := context.WithCancel(h.ctx)
	s := &session{
		hub: h, conn: conn, ctx: ctx, cancel: cancel, wctx: context.WithoutCancel(ctx), arrival: arrivedAt(peer),
		kicked:    make(chan struct{}),
		ops:       rate.NewLimiter(rate.Limit(h.opts.OpsPerSecond), h.opts.OpBurst),
		errBudget: rate.NewLimiter(rate.Every(time.Second), 10),
		reads:     rate.NewLimiter(rate.Limit(h.opts.MessagesPerSec), 2*int(h.opts.MessagesPerSec)),
		log:       h.log.With().Str(logDoc, docID).Str(logPeer, peer.Addr).Logger(),
		wire:      peer.Wire,
	}
	s.writer = s.writeLoop
	s.out = newOutQueue(h.opts.SendQueue, h.opts.SendQueueBytes, s.startWriter)
	return s
}

// arrivedAt is when the connection reached the server: with a Wire, before
// its 101 (Wire.arrived); without one, now, after the 101, when a hello the
// client sent before it gave up on the connection can be dated after the
// client's next connection (which it then closes with 4003).
func arrivedAt(peer Peer) time.Time {
	if peer.Wire != nil {
		return peer.Wire.arrived
	}
	return time.Now()
}

func (s *session) serve(docID string, peer Peer) {
	m := s.hub.opts.Metrics
	m.connOpened()
	defer m.connClosed()
	defer s.cancel()
	s.conn.SetReadLimit(s.hub.opts.MaxMessageBytes)
	// Reads and writes use wctx, for which coder/websocket registers no
	// context.AfterFunc per call; the end of ctx closes the connection once.
	defer context.AfterFunc(s.ctx, s.closeNow)()
	s.watchdog = time.AfterFunc(time.Hour, s.closeNow)
	s.watchdog.Stop()
	s.pingTimer = time.AfterFunc(time.Hour, s.pingDue)
	s.pingTimer.Reset(s.hub.opts.PingInterval)
	s.watchClosing()

	switch {
	case s.conn.Subprotocol() != Subprotocol:
		s.refuse(errorf(CodeInvalidMessage, "subprotocol "+Subprotocol+" required"))
	case !ValidID(docID):
		s.refuse(errInvalidID)
	}
	s.kick(s.readLoop(docID, peer))
	if r := s.room; r != nil {
		_ = r.do(context.Background(), func() { r.leave(s) })
	}
	s.unwatchClosing()
	if s.expiry != nil && s.expiry.Stop() {
		s.wg.Done() // The callback will not run.
	}
	s.out.stop()
	s.pingTimer.Stop()
	s.wg.Wait()
	ev := s.log.Info()
	if s.closeErr != nil {
		ev = ev.Str(logCode, string(s.closeErr.Code))
	}
	ev.Int("close", int(s.endCode())).Msg("connection closed")
}

// endCode is the close code the connection ended with, for the log: the
// server's when it had a reason, else the client's, else 1006 when the
// connection dropped (a failed read or write) without a close frame.
func (s *session) endCode() websocket.StatusCode {
	code, _ := closeCode(s.closeErr)
	switch {
	case s.closeErr != nil || s.peerClose == 0:
		return code
	case s.peerClose < 0:
		return websocket.StatusAbnormalClosure
	default:
		return s.peerClose
	}
}

// readLoop reads messages until the connection fails or closes. It returns
// why the session ends when that is the reader's finding.
func (s *session) readLoop(docID string, peer Peer) *Error {
	timer := time.AfterFunc(s.hub.opts.HelloTimeout, func() { s.kick(errHelloTimeout) })
	defer timer.Stop()
	for {
		// A flood of pings, presence or junk costs its sender time, not the
		// server CPU: past the budget the reader waits and TCP pushes back.
		if err := s.reads.Wait(s.ctx); err != nil || !s.awaitWriter() {
			return nil
		}
		s.readTurn.Add(1) // Free to read (ping).
		typ, buf, err := s.readMessage()
		s.readTurn.Add(1)
		if err != nil {
			if errors.Is(err, websocket.ErrMessageTooBig) {
				return errorf(CodeTooLarge, "message too large")
			}
			s.peerClose = websocket.CloseStatus(err)
			return nil
		}
		if s.closing.Load() {
			// Refused, replaced, expired or over its error budget: what the
			// client sends until the close takes effect must not be acted on
			// (a refused hello must not join, an expired token not edit).
			putReadBuf(buf)
			continue
		}
		msg, e := decodeClient(typ, buf.Bytes())
		var refused uint64 // The seq of an op frame that does not decode.
		if e != nil {
			refused = opSeq(buf.Bytes())
		}
		putReadBuf(buf) // Decoding copied what it keeps.
		switch {
		case e != nil:
			if refused != 0 { // An op frame: counted like the ops refused later.
				s.hub.opts.Metrics.opRejected(e.Code)
			}
			s.sendError(e, refused)
		case msg.Type == TypePing:
			s.send(pongBytes)
		case s.room == nil && msg.Type == TypeHello:
			if s.hello(msg, docID, peer) {
				timer.Stop()
			}
		case s.room == nil:
			s.sendError(errHelloRequired, msg.Seq)
		default:
			s.handle(msg)
		}
	}
}

// readBufs recycles message buffers (*bytes.Buffer); coder/websocket's
// Conn.Read allocates a fresh one (io.ReadAll) per message.
var readBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxKeptReadBuf is the largest buffer returned to readBufs.
const maxKeptReadBuf = 64 << 10

// readMessage reads the next data message into a buffer from readBufs; the
// caller returns it with putReadBuf. The read limit applies as in Read.
func (s *session) readMessage() (websocket.MessageType, *bytes.Buffer, error) {
	typ, r, err := s.conn.Reader(s.wctx)
	if err != nil {
		return 0, nil, err
	}
	buf := readBufs.Get().(*bytes.Buffer)
	if _, err := buf.ReadFrom(r); err != nil {
		putReadBuf(buf)
		return 0, nil, err
	}
	return typ, buf, nil
}

func putReadBuf(buf *bytes.Buffer) {
	if buf.Cap() <= maxKeptReadBuf {
		buf.Reset()
		readBufs.Put(buf)
	}
}

// awaitWriter holds the reader while the session's queue is half full, so
// that the replies to a client that sends faster than it reads (acks, errors,
// pongs) never cut it: the reader stops reading and TCP pushes back on the
// sender. Only what the room sends fills the other half (the slow-consumer
// rule). It also lets the writer run when the reader would otherwise keep
// its CPU. False when the session ended.
func (s *session) awaitWriter() bool {
	for s.out.len() >= s.out.half() {
		select {
		case <-s.out.drained:
		case <-s.kicked:
			return false
		case <-s.ctx.Done():
			return false
		}
	}
	return true
}

// hello authorizes the session and joins the document; true when joined.
func (s *session) hello(msg *ClientMsg, docID string, peer Peer) bool {
	switch {
	case msg.Key != "" && !validKey(msg.Key):
		s.sendError(errorf(CodeInvalidMessage, "invalid session key"), 0)
		return false
	case msg.Key != "" && msg.Session != "" && msg.Session != SessionID(msg.Key):
		s.sendError(errorf(CodeInvalidMessage, "session is not the key's id"), 0)
		return false
	case msg.Session != "" && !ValidID(msg.Session):
		s.sendError(errorf(CodeInvalidMessage, "invalid session id"), 0)
		return false
	case msg.Key == "" && msg.Session != "" && publicOnlyID(msg.Session):
		// Everyone sees this id: taking it would close its holder's
		// connection or swallow its holder's resent ops.
		s.refuse(errorf(CodeForbidden, "a session id is public: resume a session with its key"))
		return false
	}
	grant := Grant{Role: RoleEdit, Create: true}
	if peer.Authorize != nil {
		g, err := peer.Authorize(msg.Token)
		if err != nil {
			e := AsError(err)
			if e.Code == CodeInternal {
				e = errorf(CodeForbidden, "not authorized")
			}
			s.refuse(e)
			return false
		}
		grant = g
	}
	if grant.Role != RoleView && grant.Role != RoleEdit {
		s.refuse(errorf(CodeForbidden, "not authorized"))
		return false
	}
	if msg.ReadOnly { // Asking for less than the grant: never more.
		grant.Role = RoleView
	}
	s.role, s.mayCreate, s.since = grant.Role, grant.Role == RoleEdit && grant.Create, msg.Version
	switch {
	case msg.Key != "":
		s.key, s.id, s.resumed = msg.Key, SessionID(msg.Key), true
	case msg.Session != "":
		s.id, s.resumed = msg.Session, true
	default: // A client that names no key: a legacy session with a fresh id.
		s.id = randomID()
	}
	s.hadDoc = msg.Version != nil || msg.Session != ""
	if msg.User != nil {
		s.name, s.color = msg.User.Name, msg.User.Color
	}
	if grant.Name != "" {
		s.name, s.nameFixed = grant.Name, true
	}
	s.name, s.color = cleanName(s.name), cleanColor(s.color, s.id)
	s.author = s.name
	s.log = s.log.With().Str(logSession, s.id).Logger()
	r, e := s.hub.join(s.ctx, docID, s)
	if e != nil {
		s.refuse(e)
		return false
	}
	s.room = r
	s.joined.Store(r)
	s.unwatchClosing() // The room closes it now.
	s.expireAt(grant.Expires)
	s.log.Info().Str("role", string(s.role)).Msg("connection joined")
	return true
}

// expireAt closes the session with token_expired at t (zero: never). The
// callback counts in wg, so the reader waits for it.
func (s *session) expireAt(t time.Time) {
	if t.IsZero() {
		return
	}
	s.wg.Add(1)
	s.expiry = time.AfterFunc(time.Until(t), func() {
		defer s.wg.Done()
		s.log.Info().Msg("token expired")
		s.closeAfterQueued(errTokenExpired)
	})
}

// refuse reports e and closes the connection after it.
func (s *session) refuse(e *Error) {
	s.send(encode(ErrorMsg{Type: TypeError, Code: e.Code, Message: e.Message}))
	s.closeAfterQueued(e)
}

// handle dispatches a message of a joined session.
func (s *session) handle(msg *ClientMsg) {
	r := s.room
	switch msg.Type {
	case TypeHello:
		s.sendError(errorf(CodeInvalidMessage, "hello already received"), 0)
	case TypeOp:
		switch {
		case s.role != RoleEdit:
			s.hub.opts.Metrics.opRejected(CodeForbidden)
			s.sendError(errorf(CodeForbidden, "read-only access"), msg.Seq)
		case msg.Seq == 0 || msg.Version == nil:
			s.hub.opts.Metrics.opRejected(CodeInvalidMessage)
			s.sendError(errorf(CodeInvalidMessage, "op needs seq > 0 and version"), msg.Seq)
		case !s.ops.Allow():
			s.hub.opts.Metrics.opRejected(CodeRateLimited)
			s.sendError(errRateLimited, msg.Seq)
		default:
			sub := &submission{base: *msg.Version, op: msg.Op, session: s.id, seq: msg.Seq,
				author: s.author, from: s, start: time.Now()}
			_ = r.post(s.ctx, func() { r.submit(sub) })
		}
	case TypePresence:
		u := presenceUpdate{version: msg.Version, cursor: msg.Cursor, name: msg.Name, color: msg.Color}
		_ = r.post(s.ctx, func() { r.updatePresence(s, u) })
	}
}

// join attaches s to docID's room, creating the document when it does not
// exist (unless NoAutoCreate) if s's grant lets it (an editor's, with Create). After
// the create a room whose load began before it committed (another joiner's)
// can still report not_found once; the next attempt starts a fresh room, so
// a few attempts always suffice. A session whose hello named a version or a
// session id had the document: missing now, it was deleted meanwhile, and
// creating it again would hand the client an empty text to rebase its
// offline edits onto, the rest of its text gone and reported saved.
//
// What the room needs from storage for s is read here, between attempts to
// join (see readNeed).
func (h *Hub) join(ctx context.Context, docID string, s *session) (*room, *Error) {
	const attempts = 3
	var rd *joinRead
	for attempt := 1; ; {
		var joined *room
		var need *readNeed
		var e *Error
		err := h.withRoom(ctx, docID, func(r *room) {
			if need, e = r.join(s, rd); e == nil && need == nil {
				joined = r
			}
		})
		if err == nil && need != nil {
			if rd, e = h.readFor(ctx, docID, need, rd); e != nil {
				return nil, e
			}
			continue
		}
		if err == nil {
			return joined, e
		}
		ae := AsError(err)
		if ae.Code != CodeNotFound || h.opts.NoAutoCreate || !s.mayCreate || attempt == attempts {
			return nil, ae
		}
		if s.hadDoc {
			return nil, errDeleted
		}
		if _, err := h.store.Create(ctx, docID, ""); err != nil && AsError(err).Code != CodeExists {
			return nil, h.fail("create", docID, err)
		}
		attempt++
	}
}

// sendError reports e; too many protocol errors close the connection.
func (s *session) sendError(e *Error, seq uint64) {
	s.send(encode(ErrorMsg{Type: TypeError, Code: e.Code, Message: e.Message, Seq: seq}))
	switch e.Code {
	case CodeRateLimited, CodeVersionTooOld, CodeInternal, CodeUnavailable, CodeConflict, CodeDeleted,
		CodeDocTooLarge: // A full document refuses every insert of a client typing on.
		return
	}
	if !s.errBudget.Allow() {
		s.closeAfterQueued(errTooManyErrors)
	}
}

// closeAfterQueued closes the connection with e once the queue is written.
func (s *session) closeAfterQueued(e *Error) {
	s.closing.Store(true)
	if !s.out.push(outMsg{close: e}) {
		s.kick(e)
	}
}

// kick closes the connection with e (nil: normal closure) without waiting
// for the queue. The first reason wins. A joined session leaves its room at
// once, so peers get leave now rather than after a blocked write or a close
// handshake with a stalled peer. kick may run on the room goroutine, hence
// the short-lived goroutines for the close handshake and the leave. Add is
// safe: serve calls kick before it waits, and only the first kick adds.
func (s *session) kick(e *Error) {
	s.kickOnce.Do(func() {
		s.closing.Store(true)
		s.closeErr = e
		if e == errSlowConsumer {
			s.hub.opts.Metrics.slowConsumer()
		}
		close(s.kicked)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.closeConn()
		}()
		if r := s.joined.Load(); r != nil {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				_ = r.do(context.Background(), func() { r.leave(s) })
			}()
		}
	})
}

// watchClosing closes a session that has not joined when the hub closes
// (a joined one is closed by its room after its last acks). The callback
// counts in wg, so the reader waits for it.
func (s *session) watchClosing() {
	s.wg.Add(1)
	s.stopClosing = context.AfterFunc(s.hub.closingCtx, func() {
		defer s.wg.Done()
		if s.joined.Load() == nil {
			s.closeAfterQueued(ErrShuttingDown)
		}
	})
}

// unwatchClosing ends watchClosing's watch; the reader calls it.
func (s *session) unwatchClosing() {
	if s.stopClosing != nil && s.stopClosing() {
		s.wg.Done()
	}
	s.stopClosing = nil
}

// pingDue runs on the ping timer: it rearms the timer and starts a ping
// unless one still waits for its pong or the session ended.
func (s *session) pingDue() {
	select {
	case <-s.kicked:
		return
	default:
	}
	s.out.whileRunning(func() {
		s.pingTimer.Reset(s.hub.opts.PingInterval)
		if !s.pinging.Swap(true) {
			s.wg.Add(1)
			go s.ping()
		}
	})
}

// ping drops a peer that does not answer a ping within PongTimeout while
// the reader waited for its frames all along. It runs in its own
// short-lived goroutine (Conn.Ping waits for the pong, which the reader
// receives), so no goroutine per idle session waits for the timer.
//
// Only the reader takes the pong, in order, after the messages sent before
// it: when the reader read a message meanwhile, or was busy with one (its
// op or presence waiting for a busy room, its rate, its writer), the peer
// is alive (it sends) or its pong may sit unread behind that message. No
// verdict then: the next ping judges. A peer that is gone sends nothing,
// so its reader waits, free, and it is dropped as before.
func (s *session) ping() {
	defer s.wg.Done()
	defer s.pinging.Store(false)
	turn := s.readTurn.Load()
	ctx, cancel := context.WithTimeout(s.ctx, s.hub.opts.PongTimeout)
	defer cancel()
	err := s.conn.Ping(ctx)
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded) && (turn%2 == 0 || s.readTurn.Load() != turn):
		// The reader read or handled a message meanwhile: see above.
	default:
		s.kick(errPingTimeout)
	}
}

// closeNow drops the connection at once, when the session's context ends
// (the hub stops, past its shutdown deadline). The socket itself is closed
// first: coder/websocket's CloseNow waits for a close handshake already
// under way, which waits up to 5 s for a peer that does not answer.
func (s *session) closeNow() {
	if s.wire != nil {
		_ = s.wire.conn.Close()
	}
	_ = s.conn.CloseNow()
}

func (s *session) closeConn() {
	code, reason := closeCode(s.closeErr)
	_ = s.conn.Close(code, reason)
}

// closeCode is the close code and reason for e (nil: normal closure).
func closeCode(e *Error) (websocket.StatusCode, string) {
	if e == nil {
		return websocket.StatusNormalClosure, ""
	}
	return CloseStatus(e), e.Message
}

// randomID returns a random (version 4) UUID.
func randomID() string { return uuid.NewString() }
