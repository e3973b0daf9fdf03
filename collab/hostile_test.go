package collab

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// rawConn is a WebSocket spoken by hand, for frames no client library would
// send: a header announcing 100 MB, half a frame.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	rd   *bufio.Reader
}

func dialRaw(t *testing.T, url string) *rawConn {
	t.Helper()
	hostPath := strings.TrimPrefix(url, "ws://")
	host, path, _ := strings.Cut(hostPath, "/")
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	req := "GET /" + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + Subprotocol + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", err, resp)
	}
	return &rawConn{t: t, conn: conn, rd: rd}
}

// header writes a masked client frame header (mask key zero: the payload
// goes as is).
func (c *rawConn) header(opcode byte, n uint64) error {
	h := []byte{0x80 | opcode, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint64(h[2:10], n)
	_, err := c.conn.Write(h)
	return err
}

func (c *rawConn) text(s string) {
	c.t.Helper()
	if err := c.header(0x1, uint64(len(s))); err != nil {
		c.t.Fatal(err)
	}
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// closeCode reads server frames until a close frame and returns its code;
// -1 when the connection ends without one.
func (c *rawConn) closeCode() int {
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.rd, h[:]); err != nil {
			return -1
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(c.rd, b[:]); err != nil {
				return -1
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(c.rd, b[:]); err != nil {
				return -1
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if n > 1<<20 {
			c.t.Fatalf("server frame of %d bytes", n)
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(c.rd, payload); err != nil {
			return -1
		}
		if h[0]&0x0f == 0x8 && n >= 2 {
			return int(binary.BigEndian.Uint16(payload))
		}
	}
}

// TestHugeFrame announces a 100 MB frame, before and after hello, and
// streams it: the server closes with 1009 once it has read just over its
// limit, and never allocates anything near 100 MB.
func TestHugeFrame(t *testing.T) {
	ts := newTestServer(t, Options{MaxMessageBytes: 1 << 20})
	for _, afterHello := range []bool{false, true} {
		c := dialRaw(t, ts.url+"huge")
		if afterHello {
			c.text(`{"type":"hello"}`)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if err := c.header(0x1, 100<<20); err != nil {
			t.Fatal(err)
		}
		sent := make(chan int64, 1)
		go func() { // Stream at most 8 MiB; the server stops reading well before.
			chunk := make([]byte, 64<<10)
			var n int64
			for n < 8<<20 {
				w, err := c.conn.Write(chunk)
				n += int64(w)
				if err != nil {
					break
				}
			}
			sent <- n
		}()
		code := c.closeCode()
		c.conn.Close()
		n := <-sent
		runtime.ReadMemStats(&after)
		if code != int(websocket.StatusMessageTooBig) {
			t.Errorf("after hello %v: close code %d, want 1009", afterHello, code)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
			t.Errorf("after hello %v: %d MiB allocated for a 100 MB frame (%d bytes sent)", afterHello, grew>>20, n)
		}
	}
}

// TestBeforeHelloBounded: whatever a client does before hello, its
// connection ends at HelloTimeout — pings do not extend it, and half a
// frame (slowloris) does not hold the reader.
func TestBeforeHelloBounded(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ts := newTestServer(t, Options{HelloTimeout: timeout})
	t.Run("pings only", func(t *testing.T) {
		c := dialTest(t, ts.url+"pings")
		start := time.Now()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-c.done:
				if code := websocket.CloseStatus(c.err); code != CloseHelloTimeout {
					t.Fatalf("close code %d", code)
				}
				if d := time.Since(start); d > timeout+5*time.Second {
					t.Fatalf("closed after %v", d)
				}
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = c.conn.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`))
			cancel()
			if time.Since(start) > 15*time.Second {
				t.Fatal("pings kept the connection open without hello")
			}
		}
	})
	t.Run("half a frame", func(t *testing.T) {
		c := dialRaw(t, ts.url+"loris")
		if _, err := c.conn.Write([]byte{0x81, 0x80 | 126}); err != nil { // Length never follows.
			t.Fatal(err)
		}
		if code := c.closeCode(); code != int(CloseHelloTimeout) {
			t.Fatalf("close code %d", code)
		}
	})
}

// TestMessageFlood sends up to 10,000 ops as fast as one client can (a
// second at most): the token bucket answers rate_limited (never
// too_many_errors), the server commits no more than the bucket allows, and
// another client on the same document is served meanwhile. On a loaded
// machine the flooder may also be cut as a slow consumer when its own
// replies outrun its socket (4002), but not on ping timeout: its pong waits
// behind its own backlog, and what it sends proves it alive. The server
// never waits for it.
func TestMessageFlood(t *testing.T) {
	ts := newTestServer(t, Options{OpsPerSecond: 30, OpBurst: 60, PingInterval: time.Second, PongTimeout: 2 * time.Second})
	flood := dialTest(t, ts.url+"flood")
	flood.hello(ClientMsg{})
	calm := dialTest(t, ts.url+"flood")
	calm.hello(ClientMsg{})

	start := time.Now()
	sent := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n, deadline := 0, time.Now().Add(time.Second)
		for seq := uint64(1); seq <= 10000 && time.Now().Before(deadline); seq++ {
			if flood.conn.Write(ctx, websocket.MessageText, []byte(opJSON(seq, 0, `["x"]`))) != nil {
				break
			}
			n++
		}
		sent <- n
	}()
	// The calm client's op is acknowledged during the flood.
	calm.sendRaw(opJSON(1, 0, `["calm"]`))
	for msgType(calm.next()) != TypeAck { // The flood's ops interleave.
	}
	n := <-sent
	elapsed := time.Since(start)

	acks, limited, cut := floodReplies(t, flood, n)
	t.Logf("%d ops sent in %v: %d acknowledged, %d rate_limited, cut: %v", n, elapsed, acks, limited, cut)
	if !cut {
		flood.sendRaw(`{"type":"ping"}`)
		flood.expect(TypePong) // Still connected.
	}
	if limited == 0 {
		t.Error("no op was rate-limited")
	}
	text, v := textOf(t, ts.db, "flood")
	allowed := 60 + int(30*time.Since(start).Seconds()) + 1
	if x := strings.Count(text, "x"); int(v) != x+1 || x < acks || x > allowed || !strings.Contains(text, "calm") {
		t.Errorf("document at v%d with %d ops of the flood; %d acknowledged, at most %d allowed", v, x, acks, allowed)
	}
}

// floodReplies counts the flooder's acks and rate_limited errors until all
// n are answered or the server cuts it (as a slow consumer).
func floodReplies(t *testing.T, c *testClient, n int) (acks, limited int, cut bool) {
	t.Helper()
	for acks+limited < n {
		select {
		case b := <-c.msgs:
			var m ErrorMsg
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			switch {
			case m.Type == TypeAck:
				acks++
			case m.Type == TypeError && m.Code == CodeRateLimited:
				limited++
			case m.Type == TypeError:
				t.Fatalf("unexpected error %+v", m)
			}
		case <-c.done:
			if len(c.msgs) > 0 {
				continue
			}
			if code := websocket.CloseStatus(c.err); code != CloseSlowConsumer {
				t.Fatalf("flooder closed with %d after %d acks and %d rate_limited of %d", code, acks, limited, n)
			}
			return acks, limited, true
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d ops answered", acks+limited, n)
		}
	}
	return acks, limited, false
}

// TestTwoThousandConnections opens 2,000 editor connections to one
// document: MaxConnsPerDoc (default 250) join, every other one is refused
// with too_many_connections and 1013, and the document keeps working.
func TestTwoThousandConnections(t *testing.T) {
	ts := newTestServer(t, Options{})
	// Created first, so that the test is about the cap, not auto-creation.
	if _, err := ts.hub.Create(context.Background(), "crowd", ""); err != nil {
		t.Fatal(err)
	}
	const total, workers = 2000, 32
	var joined, refused atomic.Int64
	var open sync.WaitGroup // Readers of joined connections.
	var mu sync.Mutex
	var conns []*websocket.Conn
	jobs := make(chan int)
	var dialers sync.WaitGroup
	errs := make(chan error, total)
	for w := 0; w < workers; w++ {
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for range jobs {
				conn, welcomed, err := joinOnce(ts.url + "crowd")
				switch {
				case err != nil:
					errs <- err
				case welcomed:
					joined.Add(1)
					mu.Lock()
					conns = append(conns, conn)
					mu.Unlock()
					open.Add(1)
					go func() { // Discard broadcasts until closed.
						defer open.Done()
						for {
							if _, _, err := conn.Read(context.Background()); err != nil {
								return
							}
						}
					}()
				default:
					refused.Add(1)
				}
			}
		}()
	}
	for i := 0; i < total; i++ {
		jobs <- i
	}
	close(jobs)
	dialers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
		open.Wait()
	}()
	if joined.Load() != 250 || refused.Load() != total-250 {
		t.Fatalf("%d joined, %d refused", joined.Load(), refused.Load())
	}
	c := dialTest(t, ts.url+"other") // Other documents are unaffected.
	c.hello(ClientMsg{})
	c.sendRaw(opJSON(1, 0, `["still here"]`))
	c.expect(TypeAck)
}

// joinOnce dials, says hello and reports whether it was welcomed; a refusal
// must be too_many_connections followed by close 1013.
func joinOnce(url string) (*websocket.Conn, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
	if err != nil {
		return nil, false, err
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"hello"}`)); err != nil {
		conn.CloseNow()
		return nil, false, err
	}
	_, b, err := conn.Read(ctx)
	if err != nil {
		conn.CloseNow()
		return nil, false, err
	}
	var m ErrorMsg
	_ = json.Unmarshal(b, &m)
	if m.Type == TypeWelcome {
		return conn, true, nil
	}
	defer conn.CloseNow()
	if m.Code != CodeTooManyConnections {
		return nil, false, errors.New("refusal: " + string(b))
	}
	if _, _, err := conn.Read(ctx); websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
		return nil, false, errors.New("refusal not closed with 1013: " + err.Error())
	}
	return nil, false, nil
}

var validColor = regexp.MustCompile(`^#[0-9a-f]{6}$`)

// TestHostilePresence: CSS in a colour and a 1 MB name, at hello and in a
// presence update, reach other clients as a palette colour and a name of at
// most 64 characters.
func TestHostilePresence(t *testing.T) {
	ts := newTestServer(t, Options{})
	huge := strings.Repeat("Ann ", 1<<18) // 1 MiB.
	css := "red;background:url(javascript:alert(1))"
	a := dialTest(t, ts.url+"pres")
	a.hello(ClientMsg{User: &User{Name: huge, Color: css}})
	b := dialTest(t, ts.url+"pres")
	w := b.hello(ClientMsg{})
	check := func(what string, p Presence) {
		t.Helper()
		if !validColor.MatchString(p.Color) || utf8.RuneCountInString(p.Name) > maxNameRunes {
			t.Errorf("%s: colour %q, name of %d runes", what, p.Color, utf8.RuneCountInString(p.Name))
		}
	}
	if len(w.Peers) != 1 {
		t.Fatalf("peers %+v", w.Peers)
	}
	check("welcome", w.Peers[0])
	b2, _ := json.Marshal(map[string]any{"type": "presence", "version": 0, "name": huge + "\x00\u202e", "color": "#fff;x",
		"cursor": map[string]int{"anchor": 0, "head": 0}})
	a.sendRaw(string(b2))
	var p Presence
	b.expectInto(TypePresence, &p) // A's update.
	for p.Session != w.Peers[0].Session {
		b.expectInto(TypePresence, &p)
	}
	check("update", p)
}
