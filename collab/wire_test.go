package collab

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestHijackKeepsEarlyBytes: bytes a client sends right behind its
// upgrade request (already in net/http's reader) are the first read from the
// hijacked connection, also after coder/websocket's Reset of the reader.
func TestHijackKeepsEarlyBytes(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := (&hijacker{ResponseWriter: w}).Hijack()
		if err != nil {
			got <- "hijack: " + err.Error()
			return
		}
		defer conn.Close()
		if brw.Reader.Size() != wsBufferSize || brw.Writer.Size() != wsBufferSize {
			got <- "buffer sizes"
			return
		}
		b, _ := brw.Reader.Peek(brw.Reader.Buffered()) // As coder/websocket's Accept does.
		early := string(b)
		if early == "" { // One write on loopback: net/http has read it all.
			got <- "nothing buffered behind the request"
			return
		}
		brw.Reader.Reset(conn)
		rest := make([]byte, len("earlylater")-len(early))
		if _, err := io.ReadFull(brw.Reader, rest); err != nil {
			got <- "read: " + err.Error()
			return
		}
		got <- early + string(rest)
	}))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\nearlylater"); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "earlylater" {
		t.Fatalf("server read %q, want %q", s, "earlylater")
	}
}

// TestWireWrites: the writers of a Wire take turns; tryWrite never waits
// for another one or for a full socket (it takes nothing then), nor writes
// on a connection without a descriptor of its own; what the socket does
// not take of a batch goes out before anything written after it; and
// nothing is written for a session that ended.
func TestWireWrites(t *testing.T) {
	conn, peer := tcpPair(t)
	w := newWire(conn)
	ended := make(chan struct{})

	if _, err := io.WriteString(w, "a"); err != nil { // coder/websocket's path.
		t.Fatal(err)
	}
	if err := w.writeFrames([]byte("b"), ended); err != nil {
		t.Fatal(err)
	}
	if taken, rest, err := w.tryWrite([]byte("c"), ended); !taken || rest || err != nil {
		t.Fatalf("tryWrite on an idle socket: %v, %v, %v", taken, rest, err)
	}
	w.mu.Lock() // Another writer, say blocked on a full socket.
	taken, _, err := w.tryWrite([]byte("x"), ended)
	w.mu.Unlock()
	if taken || err != nil {
		t.Fatalf("tryWrite while another writer writes: %v, %v; want nothing taken", taken, err)
	}
	readExactly(t, peer, "abc")

	// A peer that does not read: the socket takes part of a large batch, the
	// Wire keeps the rest, and then takes nothing more.
	big := bytes.Repeat([]byte{'y'}, 32<<20)
	if taken, rest, err := w.tryWrite(big, ended); !taken || !rest || err != nil {
		t.Fatalf("tryWrite of 32 MB to a peer that does not read: %v, %v, %v", taken, rest, err)
	}
	if taken, _, err := w.tryWrite([]byte("z"), ended); taken || err != nil {
		t.Fatalf("tryWrite behind a pending rest: %v, %v", taken, err)
	}
	// A control frame written now (a pong) waits for the rest.
	pong := make(chan error, 1)
	go func() {
		_, err := io.WriteString(w, "PONG")
		pong <- err
	}()
	readExactly(t, peer, string(big)+"PONG")
	if err := <-pong; err != nil {
		t.Fatal(err)
	}

	close(ended)
	if taken, _, err := w.tryWrite([]byte("y"), ended); taken || !errors.Is(err, errSessionEnded) {
		t.Fatalf("tryWrite after the end: %v, %v", taken, err)
	}
	if err := w.writeFrames([]byte("z"), ended); !errors.Is(err, errSessionEnded) {
		t.Fatalf("writeFrames after the end: %v", err)
	}

	piped := newWire(&writeLog{})
	if taken, _, err := piped.tryWrite([]byte("p"), make(chan struct{})); taken || err != nil {
		t.Fatalf("tryWrite without a descriptor: %v, %v", taken, err)
	}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if server = <-accepted; server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close() })
	return server, client
}

// readExactly reads len(want) bytes from c and compares them with want.
func readExactly(t *testing.T, c net.Conn, want string) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		t.Fatalf("read %d bytes that differ from byte %d on: %.20q, want %.20q", len(got), i, got[i:], want[i:])
	}
}

// writeLog is a net.Conn without a descriptor that records each Write call.
type writeLog struct {
	net.Conn
	mu     sync.Mutex
	writes []string
}

func (c *writeLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, string(p))
	return len(p), nil
}

// TestAppendFramesBoundsAWrite: a write gathers whole frames up to the first
// close entry and stops once it holds maxWriteBytes, so that a long queue
// is written in pieces (each under its own deadline), never copied whole
// first; a message larger than the bound goes alone and uncut.
func TestAppendFramesBoundsAWrite(t *testing.T) {
	msg := func(n int) outMsg { return outMsg{data: bytes.Repeat([]byte("z"), n)} }
	closeMsg := outMsg{close: errSlowConsumer}
	third := maxWriteBytes/3 - 100 // Three frames, headers included, stay below the bound.
	cases := []struct {
		name  string
		msgs  []outMsg
		taken int
	}{
		{"small ones all", []outMsg{msg(10), msg(200), msg(70000)}, 3},
		{"up to the bound", []outMsg{msg(third), msg(third), msg(third), msg(third), msg(third)}, 4},
		{"large alone", []outMsg{msg(4 * maxWriteBytes), msg(10)}, 1},
		{"to the close", []outMsg{msg(10), msg(10), closeMsg, msg(10)}, 2},
		{"close first", []outMsg{closeMsg, msg(10)}, 0},
		{"flush then frames", []outMsg{{flush: true}, msg(10)}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, n := appendFrames(nil, c.msgs)
			if n != c.taken {
				t.Fatalf("took %d messages, want %d", n, c.taken)
			}
			var want []byte
			for _, m := range c.msgs[:n] {
				if !m.flush {
					want = appendFrame(want, m.data)
				}
			}
			if !bytes.Equal(b, want) {
				t.Fatalf("frames of %d bytes, want the %d bytes of the %d messages taken", len(b), len(want), n)
			}
		})
	}
}
