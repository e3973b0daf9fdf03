package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/foliodocs/folio/collab"
)

// Log keys.
const (
	logURL     = "url"
	logSession = "session"
	logAttempt = "attempt"
	logCode    = "code"
	logSeq     = "seq"
)

// conn is one WebSocket connection after its welcome. The run goroutine reads
// it; one writer goroutine writes it, draining queue in order, except that
// Submit writes a small op itself when no write is in progress (see send).
type conn struct {
	ws     *websocket.Conn
	raw    io.Closer       // The byte stream under ws; nil if the transport did not give it.
	ctx    context.Context // Cancelled at teardown; stops the writer.
	cancel context.CancelFunc
	done   chan struct{} // Closed when the writer has returned.
	wake   chan struct{} // Capacity 1: queue has messages.
	retry  chan retryReq // Capacity 1: resend the in-flight op later.

	queue []collab.ClientMsg // Guarded by Client.mu.

	wmu      sync.Mutex         // Held while writing the queue; guards the fields below.
	wbuf     []byte             // Encoding buffer.
	spare    []collab.ClientMsg // The queue drain last sent, for reuse.
	deadline *time.Timer        // Closes the connection when a write outlasts WriteTimeout.
}

type retryReq struct {
	seq   uint64
	delay time.Duration
}

func newConn(ws *websocket.Conn, raw io.Closer) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	cn := &conn{ws: ws, raw: raw, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		wake: make(chan struct{}, 1), retry: make(chan retryReq, 1)}
	cn.deadline = time.AfterFunc(time.Hour, func() { ws.CloseNow() })
	cn.deadline.Stop()
	return cn
}

// closeRaw closes the byte stream under the connection. Unlike
// ws.CloseNow, it also ends a close handshake in progress, which
// coder/websocket otherwise waits up to 5 s for twice (writing the close
// frame, then the answer) when the server answers nothing.
func (cn *conn) closeRaw() {
	if cn.raw != nil {
		cn.raw.Close()
	}
}

// rawKey is the context key under which connect asks rawTransport for the
// byte stream of the connection it dials (a *rawSlot).
type rawKey struct{}

type rawSlot struct{ rwc io.Closer }

// rawTransport wraps the HTTP client's transport to keep the byte stream of
// a successful WebSocket handshake (the 101 response's body) in the
// request's rawSlot.
type rawTransport struct{ rt http.RoundTripper }

func (t rawTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		if slot, ok := req.Context().Value(rawKey{}).(*rawSlot); ok {
			if rwc, ok := resp.Body.(io.ReadWriteCloser); ok {
				slot.rwc = rwc
			}
		}
	}
	return resp, err
}

// httpClient is opts.HTTPClient with its transport wrapped by rawTransport.
func httpClient(hc *http.Client) *http.Client {
	c := *hc
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = rawTransport{rt: rt}
	return &c
}

// enqueue appends messages for the writer. A cursor move replaces one still
// queued: moves are not acknowledged and only the latest counts, so against
// a server that stopped reading they would otherwise pile up until
// WriteTimeout. (The client sends presence only for its cursor; the order
// with ops does not matter, as a move is queued only when no op is pending.)
// Called with Client.mu held.
func (cn *conn) enqueue(ms []collab.ClientMsg) {
	for _, m := range ms {
		if m.Type == collab.TypePresence {
			cn.queue = slices.DeleteFunc(cn.queue, func(q collab.ClientMsg) bool { return q.Type == collab.TypePresence })
		}
		cn.queue = append(cn.queue, m)
	}
}

// signal wakes the writer goroutine to drain the queue.
func (cn *conn) signal() {
	select {
	case cn.wake <- struct{}{}:
	default:
	}
}

// inlineWriteMax bounds the queue Submit writes itself (send), in bytes
// of op text (inserted and deleted) plus a fixed allowance per message and
// component for the rest of the frame. A larger one goes to the writer
// goroutine: a frame the socket's buffer cannot take whole makes its write
// wait for the server to read it.
const inlineWriteMax = 4 << 10

// smallLocked reports whether cn's queue is small enough for Submit to write
// it itself (inlineWriteMax). Called with Client.mu held.
func (cn *conn) smallLocked() bool {
	n := 0
	for i := range cn.queue {
		n += 128
		for _, comp := range cn.queue[i].Op {
			n += 24 + len(comp.Insert) + len(comp.DelText)
		}
		if n > inlineWriteMax {
			return false
		}
	}
	return true
}

// send writes what Submit queued on cn (a small op, smallLocked) from the
// calling goroutine, saving a wake-up of the writer goroutine per op, when
// no write is in progress; otherwise the writer is woken and writes it after
// the current write, in order. Callbacks never write (a blocked write there
// would stop the reading too): their messages go to the writer.
func (c *Client) send(cn *conn) {
	if c.dispatching.Load() || !cn.wmu.TryLock() {
		cn.signal()
		return
	}
	err := c.drainLocked(cn)
	cn.wmu.Unlock()
	if err != nil {
		cn.ws.CloseNow() // The reader fails, and the run goroutine reconnects.
	}
}

// connect dials, says hello and applies the welcome, within ctx. On success the
// connection is current and its writer is running.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	raw := &rawSlot{}
	ws, resp, err := websocket.Dial(context.WithValue(ctx, rawKey{}, raw), c.url, &websocket.DialOptions{
		HTTPClient:   c.hc,
		HTTPHeader:   c.opts.Header,
		Subprotocols: []string{collab.Subprotocol},
	})
	if err != nil {
		if re := upgradeRefused(resp); re != nil {
			return nil, re
		}
		return nil, err
	}
	ws.SetReadLimit(c.opts.ReadLimit)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		ws.CloseNow()
		return nil, ErrClosed
	}
	c.dialing = ws
	hello := c.st.hello(collab.User{Name: c.opts.Name, Color: c.opts.Color}, c.opts.Token)
	c.mu.Unlock()

	w, err := handshake(ctx, ws, hello)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dialing = nil
	if err == nil && c.closed {
		err = ErrClosed
	}
	if err == nil {
		err = c.st.welcome(w)
	}
	if err != nil {
		c.st.offline()
		ws.CloseNow()
		return nil, err
	}
	cn := newConn(ws, raw.rwc)
	c.cur = cn
	c.pumpLocked()
	c.wg.Add(1)
	go c.write(cn)
	return cn, nil
}

// finalClose is the refusal a connection's end means when docs/protocol.md
// says not to reconnect after its close code (the document was deleted, the
// token no longer holds, the client broke the protocol, another client took
// the session), else nil. A reconnect there would fail again, or worse: an
// editor's hello would create a deleted document anew, and a session taken
// by another holder of its key would be taken back and forth. (4003 on the
// current connection is always another's doing: this client opens a new
// connection only after it gave up on the last, and the server counts a
// connection as arriving before its 101, so the one given up is the older.)
func finalClose(err error) *RefusedError {
	code := map[websocket.StatusCode]collab.Code{
		websocket.StatusPolicyViolation: collab.CodeForbidden,
		4000:                            collab.CodeTooManyErrors,
		4003:                            collab.CodeSessionReplaced,
		4004:                            collab.CodeDeleted,
		4400:                            collab.CodeInvalidID,
		4401:                            collab.CodeTokenExpired, // The client's token is fixed.
		4404:                            collab.CodeNotFound,
	}[websocket.CloseStatus(err)]
	if code == "" {
		return nil
	}
	return &RefusedError{Code: code, Message: err.Error()}
}

// upgradeRefused is the refusal an HTTP answer to the upgrade means: the
// API's error body ({"error":{"code","message"}}, docs/api.md), or for a
// 400, 403, 404 or 429 without one its usual code, and for a 5xx without
// one unavailable (a proxy's 502, 503 or 504); nil for no answer at all or
// another status, which is retried. Retry-After, in seconds, is kept as its
// retry hint.
func upgradeRefused(resp *http.Response) *RefusedError {
	if resp == nil || resp.StatusCode < 400 {
		return nil
	}
	var body struct {
		Error struct {
			Code    collab.Code `json:"code"`
			Message string      `json:"message"`
		} `json:"error"`
	}
	if resp.Body != nil {
		_ = json.NewDecoder(resp.Body).Decode(&body) // coder/websocket keeps its first 1 KB.
	}
	re := &RefusedError{Code: body.Error.Code, Message: body.Error.Message}
	if re.Code == "" {
		re.Code = map[int]collab.Code{400: collab.CodeInvalidMessage, 403: collab.CodeForbidden,
			404: collab.CodeNotFound, 429: collab.CodeRateLimited}[resp.StatusCode]
		if resp.StatusCode >= 500 {
			re.Code = collab.CodeUnavailable
		}
		re.Message = resp.Status
	}
	if re.Code == "" {
		return nil
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		re.after = time.Duration(s) * time.Second
	}
	return re
}

// RefusedError is the server's error answer to hello or to the upgrade, or
// the close that ended a connection for good.
type RefusedError struct {
	Code    collab.Code
	Message string

	after time.Duration // The answer's Retry-After: reconnect no sooner.
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("client: refused: %s: %s", e.Code, e.Message)
}

// stops reports whether the client stops after e refused a reconnect
// (actionFor: giveUp, or retryFew more than maxInternal times in a row);
// internals counts the internal refusals in a row.
func (e *RefusedError) stops(internals *int) bool {
	switch actionFor(e.Code) {
	case retryLater:
		*internals = 0
		return false
	case retryFew:
		*internals++
		return *internals > maxInternal
	}
	return true // giveUp, and resync: a hello has no op whose base to fix.
}

// handshake sends hello and reads until the welcome (or an error message).
func handshake(ctx context.Context, ws *websocket.Conn, hello collab.ClientMsg) (collab.Welcome, error) {
	var w collab.Welcome
	b, err := json.Marshal(hello)
	if err != nil {
		return w, err
	}
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		return w, err
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return w, err
		}
		var h struct{ Type string }
		if err := json.Unmarshal(b, &h); err != nil {
			return w, fmt.Errorf("client: bad message before welcome: %w", err)
		}
		switch h.Type {
		case collab.TypeWelcome:
			err := json.Unmarshal(b, &w)
			return w, err
		case collab.TypeError:
			var e collab.ErrorMsg
			_ = json.Unmarshal(b, &e)
			return w, &RefusedError{Code: e.Code, Message: e.Message}
		}
	}
}

// run owns the connection life cycle: it reads the current connection, and
// when it fails reconnects with backoff, until Close. It is the only
// goroutine that calls the Options callbacks.
func (c *Client) run(cn *conn) {
	defer c.wg.Done()
	defer close(c.stopped)
	c.flushEvents()
	c.status(StatusOnline, nil)
	for {
		err := c.serve(cn)
		c.teardown(cn)
		if c.isClosed() {
			c.status(StatusClosed, nil)
			return
		}
		if fe := finalClose(err); fe != nil {
			c.log.Warn().Err(fe).Str(logURL, c.url).Msg("closed for good")
			c.mu.Lock()
			c.fatal = fe
			c.mu.Unlock()
			c.status(StatusClosed, fe)
			return
		}
		if websocket.CloseStatus(err) == websocket.StatusMessageTooBig {
			c.dropOversize()
		}
		c.log.Debug().Err(err).Str(logURL, c.url).Msg("connection lost")
		c.status(StatusOffline, err)
		if cn, err = c.reconnect(); cn == nil {
			c.status(StatusClosed, err)
			return
		}
		c.reconnects.Add(1)
		c.flushEvents()
		c.status(StatusOnline, nil)
	}
}

// dropOversize handles a close for a message over the server's limit
// (1009): the only large message a client sends is its op in flight, and
// resending it would end the next connection too. The op is refused like
// one the server turned down for good (dropped, the buffer kept, OnError
// told).
func (c *Client) dropOversize() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq := c.st.pendingSeq(); seq != 0 {
		c.st.fail(collab.ErrorMsg{Type: collab.TypeError, Code: collab.CodeTooLarge, Seq: seq,
			Message: "the op is over the server's message size limit"})
	}
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Client) status(s Status, err error) {
	if c.opts.OnStatus != nil {
		c.dispatching.Store(true)
		defer c.dispatching.Store(false)
		c.opts.OnStatus(s, err)
	}
}

func (c *Client) flushEvents() {
	c.mu.Lock()
	evs := c.takeEvents()
	c.mu.Unlock()
	c.dispatch(evs)
}

// reconnect retries with exponential backoff and jitter, waiting at least
// what a refusal's Retry-After asks, until a welcome, Close (nil, nil) or a
// refusal it stops on (nil and the refusal, which Submit returns from then
// on; see RefusedError.stops).
func (c *Client) reconnect() (*conn, error) {
	var after time.Duration // The last refusal's retry hint.
	internals := 0
	for attempt := 0; ; attempt++ {
		d := c.opts.BackoffMin << min(attempt, 16)
		if d > c.opts.BackoffMax || d <= 0 {
			d = c.opts.BackoffMax
		}
		d = max(d/2+time.Duration(c.opts.Rand()*float64(d/2)), after)
		t := time.NewTimer(d)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return nil, nil
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.WriteTimeout)
		cn, err := c.connect(ctx)
		cancel()
		if err == nil {
			return cn, nil
		}
		if c.isClosed() {
			return nil, nil
		}
		after = 0
		if re := (*RefusedError)(nil); errors.As(err, &re) {
			if re.stops(&internals) {
				c.log.Warn().Err(err).Str(logURL, c.url).Msg("giving up")
				c.mu.Lock()
				c.fatal = err
				c.mu.Unlock()
				return nil, err
			}
			after = re.after
		}
		c.log.Debug().Err(err).Int(logAttempt, attempt).Str(logURL, c.url).Msg("reconnect failed")
	}
}

// teardown detaches a failed connection and waits for its writer.
func (c *Client) teardown(cn *conn) {
	c.mu.Lock()
	if c.cur == cn {
		c.cur = nil
	}
	c.st.offline()
	c.mu.Unlock()
	cn.cancel()
	<-cn.done
	cn.ws.CloseNow()
	cn.wmu.Lock() // Wait for a Submit still writing (the close ends its write).
	cn.deadline.Stop()
	cn.wmu.Unlock()
}

// serve reads messages until the connection fails or the state needs a resync.
// Frames are read into one buffer reused for the connection's life (decoding
// copies what it keeps), and without a context of their own: coder/websocket
// arms and disarms a timer per frame for a cancellable context, so instead
// the client's cancellation closes the connection once, which ends the read.
func (c *Client) serve(cn *conn) error {
	stop := context.AfterFunc(c.ctx, func() { cn.ws.CloseNow() })
	defer stop()
	var buf bytes.Buffer
	for {
		typ, r, err := cn.ws.Reader(context.Background())
		if err != nil {
			return err
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		if typ != websocket.MessageText {
			continue
		}
		if err := c.handle(cn, buf.Bytes()); err != nil {
			c.log.Warn().Err(err).Str(logURL, c.url).Msg("resyncing")
			return err
		}
		if buf.Cap() > maxKeptReadBuffer {
			buf = bytes.Buffer{} // A welcome's full text: do not keep it for the small frames.
		}
	}
}

// maxKeptReadBuffer is the largest read buffer serve keeps between frames.
const maxKeptReadBuffer = 64 << 10

// handle decodes one server message and feeds it to the state. The frequent
// frames (op, ack, presence, leave) are decoded by hand (decodeFast), the
// rest with encoding/json (decodeSlow).
func (c *Client) handle(cn *conn, b []byte) error {
	var m serverMsg
	if !decodeFast(b, &m) {
		var err error
		if m, err = decodeSlow(b); err != nil {
			return err
		}
	}
	switch m.typ {
	case collab.TypeOp, collab.TypeAck, collab.TypePresence, collab.TypeLeave, collab.TypeError:
	default:
		return nil // pong, or a type added later.
	}
	if m.bad {
		return nil // Presence, leave and errors are advisory.
	}
	c.mu.Lock()
	err := c.apply(cn, &m)
	c.pumpLocked()
	evs := c.takeEvents()
	c.mu.Unlock()
	c.dispatch(evs)
	return err
}

// apply feeds a decoded message to the state. Called with mu held.
func (c *Client) apply(cn *conn, m *serverMsg) error {
	s := c.st
	switch m.typ {
	case collab.TypeOp:
		return s.applyOp(m.op)
	case collab.TypeAck:
		return s.ack(collab.Ack{Type: m.typ, Seq: m.op.Seq, Version: m.op.Version})
	case collab.TypePresence:
		s.presence(m.pres)
	case collab.TypeLeave:
		s.leave(m.leave)
	case collab.TypeError:
		return c.onError(cn, s, m.err)
	}
	return nil
}

// onError logs an error message and schedules a resend of the op after a
// transient refusal, with exponential backoff. Called with mu held.
func (c *Client) onError(cn *conn, s *state, e collab.ErrorMsg) error {
	retry, err := s.fail(e)
	if !retry {
		c.log.Warn().Str(logCode, string(e.Code)).Uint64(logSeq, e.Seq).Str(logSession, s.session).
			Msg(e.Message)
		return err
	}
	d := min(c.opts.RetryDelay<<min(s.retries-1, 6), c.opts.BackoffMax)
	d = d/2 + time.Duration(c.opts.Rand()*float64(d))
	select {
	case cn.retry <- retryReq{seq: e.Seq, delay: d}:
	default:
	}
	return nil
}

// write is the connection's writer goroutine: it sends queued messages in
// order, resends after transient refusals, and pings to detect a dead peer
// (a ping waits for its pong in a goroutine of its own, so that sends are not
// held up by it; write waits for that goroutine before returning).
//
// Writes carry no context of their own (coder/websocket would arm a timer
// per frame for it): cancelling the connection closes it, which ends a
// write, and one reused timer closes it when a write outlasts WriteTimeout.
func (c *Client) write(cn *conn) {
	defer c.wg.Done()
	defer close(cn.done)
	stop := context.AfterFunc(cn.ctx, func() { cn.ws.CloseNow() })
	defer stop()
	ping := time.NewTicker(c.opts.PingInterval)
	defer ping.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	var retrySeq uint64
	pong := make(chan error, 1)
	pinging := false
	defer func() {
		if pinging {
			<-pong
		}
	}()
	for {
		select {
		case <-cn.ctx.Done():
			return
		case <-cn.wake:
		case r := <-cn.retry:
			retrySeq = r.seq
			retry.Reset(r.delay)
			continue
		case <-retry.C:
			c.mu.Lock()
			c.st.retry(retrySeq)
			c.pumpLocked()
			c.mu.Unlock()
		case <-ping.C:
			if !pinging {
				pinging = true
				go func() { pong <- c.ping(cn) }()
			}
			continue
		case err := <-pong:
			pinging = false
			if err != nil {
				c.log.Debug().Err(err).Str(logURL, c.url).Msg("ping failed")
				cn.ws.CloseNow()
				return
			}
			continue
		}
		if err := c.drain(cn); err != nil {
			cn.ws.CloseNow()
			return
		}
	}
}

func (c *Client) ping(cn *conn) error {
	ctx, cancel := context.WithTimeout(cn.ctx, c.opts.WriteTimeout)
	defer cancel()
	return cn.ws.Ping(ctx)
}

// drain writes every queued message.
func (c *Client) drain(cn *conn) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	return c.drainLocked(cn)
}

// drainLocked writes every queued message, each with its own deadline: the
// deadline timer closes the connection when a write takes longer. The queue
// is taken with cn.wmu held, so that messages go out in the order queued
// whoever writes them.
func (c *Client) drainLocked(cn *conn) error {
	c.mu.Lock()
	q := cn.queue
	cn.queue, cn.spare = cn.spare, nil
	c.mu.Unlock()
	defer func() {
		clear(q)
		cn.spare = q[:0]
	}()
	for i := range q {
		b, err := encodeClient(cn.wbuf[:0], &q[i])
		cn.wbuf = b
		if err != nil {
			c.log.Error().Err(err).Str(logURL, c.url).Msg("encode message")
			continue
		}
		cn.deadline.Reset(c.opts.WriteTimeout)
		err = cn.ws.Write(context.Background(), websocket.MessageText, b)
		cn.deadline.Stop()
		if err != nil {
			if cn.ctx.Err() == nil {
				c.log.Debug().Err(err).Str(logURL, c.url).Msg("write failed")
			}
			return err
		}
	}
	return nil
}
