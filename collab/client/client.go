package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
)

// Errors returned by the client.
var (
	ErrClosed   = errors.New("client: closed")
	ErrReadOnly = errors.New("client: document is read-only for this session")
)

// Status is the connection state reported to Options.OnStatus.
type Status int

const (
	StatusOffline Status = iota // Connection lost; reconnecting with backoff.
	StatusOnline                // Welcomed; edits flow.
	StatusClosed                // Close was called.
)

// Options configure a Client. Zero values are the documented defaults.
//
// The callbacks are optional. They are all called from the client's single
// run goroutine, in the order the server's messages arrived, never with a
// lock held, so they may call the Client's methods. They must be cheap: the
// client reads no further message until a callback returns.
type Options struct {
	Name, Color string // Display identity sent in hello.
	Token       string // Sent in hello.
	// Key is a session key from an earlier client (Client.Key), to resume
	// its session (without it Dial draws a new key): same public id,
	// exactly-once kept (the server replaces that session's connection if
	// it is still open). Seqs then start from a clock value, above what an
	// earlier client of the session used. The key is a secret: whoever
	// holds it may act as that session.
	Key string

	HTTPClient *http.Client // Defaults to http.DefaultClient.
	Header     http.Header  // Extra handshake headers (e.g. Origin, Cookie).

	BackoffMin time.Duration // First reconnect delay; default 100ms.
	BackoffMax time.Duration // Cap of the exponential backoff; default 5s.
	RetryDelay time.Duration // Resend delay after rate_limited; default 250ms.
	// PingInterval is how often the client pings the server to detect a dead
	// connection; default 15s. WriteTimeout bounds every write and ping,
	// and each reconnect's handshake (Dial's ctx bounds the first); default
	// 10s. ReadLimit is the largest message accepted; default 64 MiB.
	PingInterval time.Duration
	WriteTimeout time.Duration
	ReadLimit    int64

	Logger zerolog.Logger // Zero value: no logging.
	Rand   func() float64 // Jitter source in [0,1); default math/rand/v2.

	OnAck      func(seq, version uint64) // An own op was committed.
	OnRemoteOp func(m collab.OpMsg)      // Someone else's op (as committed).
	OnPresence func(p collab.Presence)   // A peer joined or moved (server coordinates).
	OnLeave    func(session string)      // A peer left.
	OnStatus   func(s Status, err error) // Online/offline changes; err is why it went offline.
	OnError    func(e collab.ErrorMsg)   // Every error message from the server.
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.BackoffMin, 100*time.Millisecond)
	def(&o.BackoffMax, 5*time.Second)
	def(&o.RetryDelay, 250*time.Millisecond)
	def(&o.PingInterval, 15*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = 64 << 20
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
}

// Client is one editor of one document. It is safe for concurrent use.
type Client struct {
	url  string
	opts Options
	hc   *http.Client // opts.HTTPClient, its transport wrapped by rawTransport.
	log  zerolog.Logger

	ctx     context.Context // Cancelled by Close.
	cancel  context.CancelFunc
	wg      sync.WaitGroup // The run goroutine and the current writer.
	stopped chan struct{}  // Closed when the run goroutine returns: no more reconnects.

	reconnects atomic.Int64
	spare      []event // Event slice to reuse; owned by the run goroutine.
	// dispatching is set while callbacks run, so that a Submit from one
	// leaves the write to the writer goroutine (see send).
	dispatching atomic.Bool

	mu      sync.Mutex
	st      *state          // Guarded by mu.
	cur     *conn           // Welcomed connection; guarded by mu.
	dialing *websocket.Conn // Connection in its handshake; guarded by mu.
	syncCh  chan struct{}   // Closed when synced; guarded by mu.
	closed  bool            // Guarded by mu.
	fatal   error           // Permanent refusal on reconnect; guarded by mu.
}

// Dial connects to a document's WebSocket URL (ws:// or http://…/api/v1/docs/{id}/ws),
// says hello and waits for the welcome, so that Text and Version are valid on
// return. ctx bounds only this first connection; afterwards the client
// reconnects by itself until Close.
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	opts.setDefaults()
	c := &Client{url: url, opts: opts, hc: httpClient(opts.HTTPClient), log: opts.Logger, st: newState(),
		stopped: make(chan struct{})}
	if opts.Key != "" {
		// Resuming a session another client used: its seqs are unknown, and
		// reusing one would be taken as a duplicate.
		c.st.key, c.st.session, c.st.lastSeq = opts.Key, collab.SessionID(opts.Key), freshSeq()
	} else {
		c.st.key = collab.NewKey()
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	cn, err := c.connect(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.wg.Add(1)
	go c.run(cn)
	return c, nil
}

// Text returns the local text: the server's plus this client's pending edits.
func (c *Client) Text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.local.String()
}

// Len returns the length of the local text in code points, without copying
// the text as Text does.
func (c *Client) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.local.Len()
}

// Slice returns n code points of the local text at pos, copying only
// them, and false when they do not all fit the text.
func (c *Client) Slice(pos, n int) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.local.Slice(pos, n)
}

// Version returns the last server version this client has applied.
func (c *Client) Version() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.version
}

// Session returns the public session id the server assigned (stable across
// reconnects): the id the others see on this client's ops and presence.
func (c *Client) Session() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.session
}

// Key returns the session's private key, which resumes it (Options.Key);
// "" with a server that predates keys. Keep it secret: whoever holds it may
// act as this session.
func (c *Client) Key() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.key
}

// Peers returns the other sessions' presence, cursors in local-text coordinates.
func (c *Client) Peers() []collab.Presence {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.peerList()
}

// Cursor returns this client's cursor in local coordinates, nil if none. It
// moves through every edit, local and remote, as the server moves it (an
// insert exactly at the cursor leaves the cursor in front of the new text,
// so an editor calls SetCursor after typing).
func (c *Client) Cursor() *ot.Selection {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.cursor == nil {
		return nil
	}
	s := *c.st.cursor
	return &s
}

// Submit applies op to the local text now and sends it: at once when no op is
// in flight, otherwise composed into the buffer sent after the next ack. Edits
// made while offline are kept and sent after the resync. It takes no
// context because it does not wait for the network: the edit is local, and
// WaitSynced (which takes one) waits for its ack. A small op (typing,
// inlineWriteMax) may be written before Submit returns, a copy into the
// socket's buffer; doc.go ("Goroutines and ownership") states the one case
// where that copy can wait, at most WriteTimeout.
func (c *Client) Submit(op ot.Op) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.fatal != nil {
		c.mu.Unlock()
		return c.fatal
	}
	if err := c.st.submit(op); err != nil {
		c.mu.Unlock()
		return err
	}
	cn := c.queueLocked()
	inline := cn != nil && cn.smallLocked()
	c.mu.Unlock()
	switch {
	case inline:
		c.send(cn)
	case cn != nil:
		cn.signal()
	}
	return nil
}

// Insert inserts s at code point pos.
func (c *Client) Insert(pos int, s string) error {
	if pos < 0 {
		return fmt.Errorf("client: insert at negative position %d", pos)
	}
	return c.Submit(at(pos, ot.Component{Insert: s}))
}

// Delete deletes n code points at pos.
func (c *Client) Delete(pos, n int) error {
	if pos < 0 || n < 0 {
		return fmt.Errorf("client: delete %d at %d", n, pos)
	}
	return c.Submit(at(pos, ot.Component{Delete: n}))
}

// at is the op applying c at pos. Zero-length components are left out
// because ot.Check refuses them.
func at(pos int, c ot.Component) ot.Op {
	if c.Insert == "" && c.Delete == 0 {
		return nil
	}
	if pos == 0 {
		return ot.Op{c}
	}
	return ot.Op{{Skip: pos}, c}
}

// SetCursor sets this client's cursor (local coordinates; nil hides it),
// clamped to the text. It is sent to the server once no own op is pending,
// by the connection's writer goroutine: SetCursor never waits for the
// network (cursor moves are not acknowledged, so a server that stopped
// reading could let them fill the socket's buffer).
func (c *Client) SetCursor(sel *ot.Selection) {
	c.mu.Lock()
	c.st.setCursor(sel)
	c.pumpLocked()
	c.mu.Unlock()
}

// Synced reports that nothing is in flight or buffered.
func (c *Client) Synced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.synced()
}

// WaitSynced waits until every local edit is acknowledged. It returns the
// *RefusedError once the client has stopped for good (its edits can no
// longer be acknowledged), and ErrClosed after Close.
func (c *Client) WaitSynced(ctx context.Context) error {
	c.mu.Lock()
	if c.st.synced() {
		c.mu.Unlock()
		return nil
	}
	if c.fatal != nil {
		defer c.mu.Unlock()
		return c.fatal
	}
	if c.syncCh == nil {
		c.syncCh = make(chan struct{})
	}
	ch := c.syncCh
	c.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stopped:
	case <-c.ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.st.synced():
		return nil
	case c.fatal != nil:
		return c.fatal
	}
	return ErrClosed
}

// Reconnects counts the successful reconnections since Dial.
func (c *Client) Reconnects() int { return int(c.reconnects.Load()) }

// Online reports whether the client currently has a welcomed connection.
func (c *Client) Online() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur != nil
}

// DropConnection cuts the current connection abruptly, as a network failure
// would; the client reconnects and resyncs. For tests and chaos tools.
func (c *Client) DropConnection() {
	c.mu.Lock()
	var ws *websocket.Conn
	if c.cur != nil {
		ws = c.cur.ws
	} else {
		ws = c.dialing
	}
	c.mu.Unlock()
	if ws != nil {
		ws.CloseNow()
	}
}

// Close closes the connection (normal closure, so peers see leave at once),
// stops every goroutine and waits for them. Unacknowledged edits are dropped.
// A server that does not answer the close within closeGrace (or
// WriteTimeout, if shorter) is cut off.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cur := c.cur
	c.mu.Unlock()
	if cur != nil {
		cut := time.AfterFunc(min(c.opts.WriteTimeout, closeGrace), cur.closeRaw)
		cur.ws.Close(websocket.StatusNormalClosure, "client closed")
		cut.Stop()
	}
	c.cancel()
	c.wg.Wait()
	return nil
}

// closeGrace is how long Close waits for the server to answer its close
// frame: a server that answers at all does so within a round trip.
const closeGrace = time.Second

// pumpLocked hands the state's outgoing messages to the current connection's
// writer and wakes WaitSynced callers. Called with mu held.
func (c *Client) pumpLocked() {
	if cn := c.queueLocked(); cn != nil {
		cn.signal()
	}
}

// queueLocked queues the state's outgoing messages on the current connection
// and returns it, or nil when nothing was queued; the caller then has them
// written (send, or signal the writer). It wakes WaitSynced callers. Called
// with mu held.
func (c *Client) queueLocked() *conn {
	var cn *conn
	if len(c.st.out) > 0 {
		if c.cur != nil {
			c.cur.enqueue(c.st.out)
			cn = c.cur
		}
		c.st.out = c.st.out[:0]
	}
	if c.syncCh != nil && c.st.synced() {
		close(c.syncCh)
		c.syncCh = nil
	}
	return cn
}

// takeEvents removes the pending callback events, and gives the state the
// slice the previous dispatch finished with. Called with mu held, only by
// the run goroutine (which owns spare).
func (c *Client) takeEvents() []event {
	ev := c.st.events
	c.st.events, c.spare = c.spare, nil
	return ev
}

// dispatch calls the callbacks, then keeps evs for the next takeEvents; only
// the run goroutine calls it.
func (c *Client) dispatch(evs []event) {
	c.dispatching.Store(true)
	defer func() {
		c.dispatching.Store(false)
		clear(evs) // Drop the ops and strings the events point to.
		c.spare = evs[:0]
	}()
	o := &c.opts
	for i := range evs {
		e := &evs[i]
		switch {
		case e.kind == evAck && o.OnAck != nil:
			o.OnAck(e.seq, e.ver)
		case e.kind == evRemoteOp && o.OnRemoteOp != nil:
			o.OnRemoteOp(e.op)
		case e.kind == evPresence && o.OnPresence != nil:
			o.OnPresence(e.presence)
		case e.kind == evLeave && o.OnLeave != nil:
			o.OnLeave(e.session)
		case e.kind == evError && o.OnError != nil:
			o.OnError(e.err)
		}
	}
}
