package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
)

func testOptions(t *testing.T) Options {
	return Options{Name: "t", Color: "#3366ff", BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		RetryDelay: 5 * time.Millisecond, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)}
}

func dial(t *testing.T, url string, o Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, url, o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitSynced(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatalf("%s: wait synced: %v", c.Session(), err)
	}
}

// TestTransportConverges: clients edit concurrently over real sockets while
// connections are cut from both sides and every 7th op is rate limited.
func TestTransportConverges(t *testing.T) {
	s := newWSFake(t, "hi🎉", 7)
	var acks, statuses atomic.Int64
	var cs []*Client
	for range 4 {
		o := testOptions(t)
		o.OnAck = func(seq, version uint64) { acks.Add(1) }
		o.OnStatus = func(Status, error) { statuses.Add(1) }
		cs = append(cs, dial(t, s.url(), o))
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 1))
			for range 150 {
				n := len([]rune(c.Text())) // Racy by design: a remote op may shorten it.
				if err := c.Submit(randOp(r, n)); err != nil {
					continue
				}
				switch r.IntN(40) {
				case 0:
					c.DropConnection()
				case 1:
					s.dropAll()
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range cs {
		waitSynced(t, c)
	}
	text, version := s.text()
	for _, c := range cs {
		eventually(t, "every client at the server's version", func() bool { return c.Version() == version })
		if got := c.Text(); got != text {
			t.Fatalf("%s: %q, server %q", c.Session(), got, text)
		}
	}
	if got := s.f.replay("hi🎉"); got != text {
		t.Fatalf("replay %q != %q", got, text)
	}
	if acks.Load() == 0 || statuses.Load() == 0 {
		t.Fatalf("callbacks not called: %d acks, %d statuses", acks.Load(), statuses.Load())
	}
	total := 0
	for _, c := range cs {
		total += c.Reconnects()
	}
	if total == 0 {
		t.Fatal("no reconnects happened")
	}
}

// TestPresenceAndLeave: a cursor moves through another client's edit and a
// closing client's leave reaches the others.
func TestPresenceAndLeave(t *testing.T) {
	s := newWSFake(t, "hello world", 0)
	left := make(chan string, 1)
	oa := testOptions(t)
	oa.OnLeave = func(session string) { left <- session }
	a := dial(t, s.url(), oa)
	b := dial(t, s.url(), testOptions(t))
	b.SetCursor(&ot.Selection{Anchor: 6, Head: 11}) // "world"
	eventually(t, "a sees b's cursor", func() bool { return len(a.Peers()) == 1 && a.Peers()[0].Cursor != nil })
	if err := a.Insert(0, "👋 "); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, a)
	eventually(t, "b has a's edit", func() bool { return b.Text() == "👋 hello world" })
	want := ot.Selection{Anchor: 8, Head: 13}
	if got := b.Cursor(); got == nil || *got != want {
		t.Fatalf("b's own cursor %v, want %v", got, want)
	}
	if got := a.Peers()[0]; *got.Cursor != want || got.Session != b.Session() {
		t.Fatalf("a sees %+v, want cursor %v", got, want)
	}
	// A local edit shifts the peer cursor (in local coordinates while it is
	// pending, in server coordinates once acknowledged: the same place).
	if err := a.Insert(0, "x"); err != nil {
		t.Fatal(err)
	}
	if got := *a.Peers()[0].Cursor; got != (ot.Selection{Anchor: 9, Head: 14}) {
		t.Fatalf("peer cursor with a pending insert: %v", got)
	}
	session := b.Session()
	b.Close()
	select {
	case got := <-left:
		if got != session {
			t.Fatalf("leave for %q, want %q", got, session)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no leave")
	}
	if len(a.Peers()) != 0 {
		t.Fatalf("peers after leave: %+v", a.Peers())
	}
}

func TestDialFails(t *testing.T) {
	s := newWSFake(t, "", 0)
	url := s.url()
	s.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := Dial(ctx, url, testOptions(t)); err == nil {
		c.Close()
		t.Fatal("dial to a closed server succeeded")
	}
}

// TestOfflineEditsKept: edits made while the server is unreachable are sent
// after the reconnect and nothing is lost.
func TestOfflineEditsKept(t *testing.T) {
	s := newWSFake(t, "", 0)
	var online atomic.Int64
	o := testOptions(t)
	o.OnStatus = func(st Status, _ error) {
		if st == StatusOnline {
			online.Add(1)
		}
	}
	c := dial(t, s.url(), o)
	eventually(t, "online", func() bool { return online.Load() == 1 })
	for i := range 20 {
		if err := c.Insert(i, "ab"[i%2:i%2+1]); err != nil {
			t.Fatal(err)
		}
		if i == 5 {
			c.DropConnection()
		}
	}
	waitSynced(t, c)
	text, _ := s.text()
	if text != "abababababababababab" || c.Text() != text {
		t.Fatalf("server %q, client %q", text, c.Text())
	}
	eventually(t, "reconnected", func() bool { return c.Reconnects() >= 1 && online.Load() >= 2 })
}

func TestSubmitErrorsAndClose(t *testing.T) {
	s := newWSFake(t, "x", 0)
	c := dial(t, s.url(), testOptions(t))
	if err := c.Submit(ot.Op{{Skip: 5}, {Insert: "y"}}); err == nil {
		t.Fatal("op past the end accepted")
	}
	if c.Text() != "x" || c.Len() != 1 {
		t.Fatalf("text changed to %q (%d)", c.Text(), c.Len())
	}
	c.Close()
	if err := c.Insert(0, "y"); err != ErrClosed {
		t.Fatalf("submit after close: %v", err)
	}
	if err := c.WaitSynced(context.Background()); err != nil {
		t.Fatalf("synced client after close: %v", err)
	}
}

// TestGivesUpWhenRefused: a permanent refusal of a reconnect stops the
// client instead of retrying forever; a transient one is retried.
// onClosed sets o.OnStatus to report StatusClosed's error on the channel.
func onClosed(o *Options) <-chan error {
	closed := make(chan error, 1)
	o.OnStatus = func(st Status, err error) {
		if st == StatusClosed {
			closed <- err
		}
	}
	return closed
}

func TestGivesUpWhenRefused(t *testing.T) {
	s := newWSFake(t, "", 0)
	o := testOptions(t)
	closed := onClosed(&o)
	c := dial(t, s.url(), o)
	s.mu.Lock()
	s.refuse = collab.CodeTooManyConnections
	s.mu.Unlock()
	c.DropConnection()
	eventually(t, "a retried refusal", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.refused >= 2 && !c.Online()
	})
	s.mu.Lock()
	s.refuse = collab.CodeForbidden
	s.mu.Unlock()
	var re *RefusedError
	select {
	case err := <-closed:
		if !errors.As(err, &re) || re.Code != collab.CodeForbidden {
			t.Fatalf("closed with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client kept retrying a forbidden document")
	}
	if err := c.Insert(0, "x"); !errors.As(err, &re) {
		t.Fatalf("submit after giving up: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Dial(ctx, s.url(), testOptions(t)); !errors.As(err, &re) {
		t.Fatalf("dial refused: %v", err)
	}
}

// TestGivesUpWhenUpgradeRefused: a reconnect whose upgrade the server
// refuses for good over HTTP (403 forbidden origin, 400 invalid id) stops the
// client with that refusal instead of retrying for ever; a 503 is retried.
func TestGivesUpWhenUpgradeRefused(t *testing.T) {
	for status, want := range map[int]collab.Code{403: collab.CodeForbidden, 400: collab.CodeInvalidID} {
		s := newWSFake(t, "", 0)
		o := testOptions(t)
		closed := onClosed(&o)
		c := dial(t, s.url(), o)
		s.mu.Lock()
		s.httpCode = 503
		s.mu.Unlock()
		c.DropConnection()
		eventually(t, "retried 503s", func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.refused >= 2
		})
		s.mu.Lock()
		s.httpCode = status
		s.mu.Unlock()
		var re *RefusedError
		select {
		case err := <-closed:
			if !errors.As(err, &re) || re.Code != want {
				t.Fatalf("%d: closed with %v, want %s", status, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d: the client kept retrying", status)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := Dial(ctx, s.url(), testOptions(t)); !errors.As(err, &re) || re.Code != want {
			t.Errorf("%d: Dial: %v, want a refusal %s", status, err, want)
		}
		cancel()
	}
}

// TestFinalCloses: after a close code that docs/protocol.md says not to
// reconnect after, the client stops, and Submit returns the refusal; after
// the others it reconnects.
func TestFinalCloses(t *testing.T) {
	for code, want := range map[websocket.StatusCode]collab.Code{
		4004: collab.CodeDeleted, 4401: collab.CodeTokenExpired, 4404: collab.CodeNotFound,
		4000: collab.CodeTooManyErrors, websocket.StatusPolicyViolation: collab.CodeForbidden,
	} {
		s := newWSFake(t, "", 0)
		o := testOptions(t)
		closed := onClosed(&o)
		c := dial(t, s.url(), o)
		s.closeAll(code)
		var re *RefusedError
		select {
		case err := <-closed:
			if !errors.As(err, &re) || re.Code != want {
				t.Fatalf("close %d: closed with %v, want %s", code, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("close %d: the client did not stop", code)
		}
		if err := c.Insert(0, "x"); !errors.As(err, &re) || re.Code != want {
			t.Fatalf("close %d: submit after it: %v", code, err)
		}
	}

	s := newWSFake(t, "", 0)
	c := dial(t, s.url(), testOptions(t))
	s.closeAll(4002) // Slow consumer: reconnect and resync.
	eventually(t, "a reconnect after 4002", func() bool { return c.Reconnects() > 0 && c.Online() })
}

// TestPingDetectsDeadServer: a server that stops reading (so it answers no
// ping) is dropped after PingInterval + WriteTimeout and redialled.
func TestPingDetectsDeadServer(t *testing.T) {
	s := newWSFake(t, "", 0)
	s.stall = make(chan struct{})
	offline := make(chan error, 1)
	o := testOptions(t)
	o.PingInterval, o.WriteTimeout = 20*time.Millisecond, 100*time.Millisecond
	o.OnStatus = func(st Status, err error) {
		if st == StatusOffline {
			select {
			case offline <- err:
			default:
			}
		}
	}
	dial(t, s.url(), o)
	select {
	case err := <-offline:
		if err == nil {
			t.Fatal("offline without a reason")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a server that answers no ping was not dropped")
	}
}

// TestWriteTimeoutDropsStuckConnection: a write that cannot finish (the
// server stopped reading and the socket buffers are full) is cut after
// WriteTimeout, even though no ping is due, and the client redials.
func TestWriteTimeoutDropsStuckConnection(t *testing.T) {
	s := newWSFake(t, "", 0)
	s.stall = make(chan struct{})
	offline := make(chan error, 1)
	o := testOptions(t)
	o.PingInterval, o.WriteTimeout = time.Hour, 100*time.Millisecond
	o.OnStatus = func(st Status, err error) {
		if st == StatusOffline {
			select {
			case offline <- err:
			default:
			}
		}
	}
	c := dial(t, s.url(), o)
	if err := c.Insert(0, strings.Repeat("x", 8<<20)); err != nil { // Far more than loopback buffers hold.
		t.Fatal(err)
	}
	select {
	case err := <-offline:
		if err == nil {
			t.Fatal("offline without a reason")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write stuck on a server that reads nothing was not cut")
	}
}

// TestSubmitFromCallback: a bot that answers every remote op from its
// OnRemoteOp callback (so its ops are written by the writer goroutine, not
// by Submit) and a typist that writes its own ops both get every op
// committed, and all texts converge.
func TestSubmitFromCallback(t *testing.T) {
	s := newWSFake(t, "", 0)
	var bot *Client
	ob := testOptions(t)
	ob.OnRemoteOp = func(collab.OpMsg) {
		if err := bot.Insert(0, "!"); err != nil {
			t.Errorf("bot submit: %v", err)
		}
	}
	bot = dial(t, s.url(), ob)
	typist := dial(t, s.url(), testOptions(t))
	for i := range 50 {
		if err := typist.Insert(typist.Len(), string(rune('a'+i%26))); err != nil {
			t.Fatal(err)
		}
	}
	waitSynced(t, typist)
	eventually(t, "the bot answered", func() bool { return bot.Len() >= 51 && bot.Synced() })
	text, _ := s.text()
	eventually(t, "texts converge", func() bool {
		text, _ = s.text()
		return bot.Text() == text && typist.Text() == text
	})
	if n := strings.Count(text, "!"); n < 1 || len([]rune(text)) != 50+n {
		t.Fatalf("text %q: want the 50 typed letters and the bot's answers", text)
	}
}

// TestOversizeOpDropped: an op over the server's message limit ends the
// connection with 1009. The client drops that op and reports it instead of
// resending it after every reconnect, and keeps what was typed after it.
func TestOversizeOpDropped(t *testing.T) {
	s := newWSFake(t, "keep", 0)
	s.limit = 1 << 16
	o := testOptions(t)
	refused := make(chan collab.ErrorMsg, 1)
	o.OnError = func(e collab.ErrorMsg) {
		if e.Code == collab.CodeTooLarge {
			refused <- e
		}
	}
	c := dial(t, s.url(), o)
	waitSynced(t, c)
	if err := c.Insert(4, strings.Repeat("é", 1<<16)); err != nil { // In flight: 128 KB.
		t.Fatal(err)
	}
	if err := c.Insert(0, ">"); err != nil { // Buffered behind it.
		t.Fatal(err)
	}
	select {
	case <-refused:
	case <-time.After(10 * time.Second):
		t.Fatal("the oversize op was not reported")
	}
	waitSynced(t, c)
	if text, _ := s.text(); text != ">keep" || c.Text() != text {
		t.Fatalf("server %q, client %q", text, c.Text())
	}
}

// TestWaitSyncedAfterFinalClose: a client that stopped for good with an edit
// unacknowledged (here the document was deleted) will never be synced;
// WaitSynced returns the refusal at once instead of waiting for its context.
func TestWaitSyncedAfterFinalClose(t *testing.T) {
	s := newWSFake(t, "", 0)
	s.stall = make(chan struct{}) // The edit below is never acknowledged.
	o := testOptions(t)
	closed := onClosed(&o)
	c := dial(t, s.url(), o)
	if err := c.Insert(0, "x"); err != nil {
		t.Fatal(err)
	}
	s.closeAll(4004)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not stop")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var re *RefusedError
	if err := c.WaitSynced(ctx); !errors.As(err, &re) || re.Code != collab.CodeDeleted {
		t.Fatalf("wait synced after the client stopped: %v", err)
	}
}

// TestCloseUnansweredServer: Close on a server that answers nothing (it
// stopped reading, as behind a dead route) returns within about a second,
// not after coder/websocket's own 5 s wait for the close handshake.
func TestCloseUnansweredServer(t *testing.T) {
	s := newWSFake(t, "", 0)
	s.stall = make(chan struct{})
	c := dial(t, s.url(), testOptions(t))
	start := time.Now()
	c.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %v", d)
	}
}

// TestSubmitAndSetCursorDoNotWaitForTheNetwork: against a server that
// stopped reading, with a WriteTimeout far away, Submit of an op larger
// than the socket's buffers hold and a stream of cursor moves (more bytes
// than those buffers hold too) return at once: the writer goroutine waits
// for the server, not the caller, and the edit stays pending.
func TestSubmitAndSetCursorDoNotWaitForTheNetwork(t *testing.T) {
	for _, call := range []string{"submit", "cursor"} {
		t.Run(call, func(t *testing.T) {
			s := newWSFake(t, "", 0)
			s.stall = make(chan struct{})
			o := testOptions(t)
			o.PingInterval, o.WriteTimeout = time.Hour, time.Minute
			c := dial(t, s.url(), o)
			returned := make(chan error, 1)
			go func() {
				if call == "submit" {
					returned <- c.Insert(0, strings.Repeat("x", 8<<20)) // Far more than loopback buffers hold.
					return
				}
				for i := range 200_000 { // About 14 MB of presence frames, were each kept.
					c.SetCursor(&ot.Selection{Anchor: i % 2, Head: i % 2})
				}
				returned <- nil
			}()
			select {
			case err := <-returned:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("%s is waiting for a server that reads nothing", call)
			}
			if call == "submit" && (c.Synced() || c.Len() != 8<<20) {
				t.Fatal("the edit is not pending")
			}
			if call == "cursor" {
				c.mu.Lock()
				queued := len(c.cur.queue)
				c.mu.Unlock()
				if queued > 1 {
					t.Fatalf("%d cursor moves wait for the writer; only the latest counts", queued)
				}
			}
		})
	}
}
