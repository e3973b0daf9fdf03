package collab

import (
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
// for another one (it writes nothing then) nor writes on a connection
// without a descriptor of its own; nothing is written for a session that
// ended; and what tryWrite cannot write is reported, not lost.
func TestWireWrites(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	conn := <-accepted
	if conn == nil {
		t.Fatal("accept failed")
	}
	defer conn.Close()
	w := newWire(conn)
	ended := make(chan struct{})

	if _, err := io.WriteString(w, "a"); err != nil { // coder/websocket's path.
		t.Fatal(err)
	}
	if err := w.writeFrames([]byte("b"), ended); err != nil {
		t.Fatal(err)
	}
	if n, err := w.tryWrite([]byte("c"), ended); n != 1 || err != nil {
		t.Fatalf("tryWrite on an idle socket: %d, %v", n, err)
	}
	w.mu.Lock() // Another writer, blocked on a full socket.
	n, err := w.tryWrite([]byte("x"), ended)
	w.mu.Unlock()
	if n != 0 || err != nil {
		t.Fatalf("tryWrite while another writer writes: %d, %v; want 0, nil", n, err)
	}
	close(ended)
	if n, err := w.tryWrite([]byte("y"), ended); n != 0 || !errors.Is(err, errSessionEnded) {
		t.Fatalf("tryWrite after the end: %d, %v", n, err)
	}
	if err := w.writeFrames([]byte("z"), ended); !errors.Is(err, errSessionEnded) {
		t.Fatalf("writeFrames after the end: %v", err)
	}
	got := make([]byte, 3)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "abc" {
		t.Fatalf("peer read %q, %v; want abc", got, err)
	}

	// A full socket takes part of a large write, and then nothing.
	big := make([]byte, 64<<20)
	open := make(chan struct{})
	n, err = w.tryWrite(big, open)
	if err != nil || n <= 0 || n >= len(big) {
		t.Fatalf("tryWrite of 64 MB to a peer that does not read: %d, %v", n, err)
	}
	if n, err := w.tryWrite(big, open); n != 0 || err != nil {
		t.Fatalf("tryWrite to a full socket: %d, %v", n, err)
	}

	piped := newWire(&writeLog{})
	if n, err := piped.tryWrite([]byte("p"), open); n != 0 || err != nil {
		t.Fatalf("tryWrite without a descriptor: %d, %v", n, err)
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
