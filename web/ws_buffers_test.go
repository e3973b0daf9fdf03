package web

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestSmallBuffersKeepEarlyBytes: bytes a client sends right behind its
// upgrade request (already in net/http's reader) are the first read from the
// hijacked connection, also after coder/websocket's Reset of the reader.
func TestSmallBuffersKeepEarlyBytes(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := (&smallBuffers{ResponseWriter: w}).Hijack()
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

// writeLog is a net.Conn that records each Write call.
type writeLog struct {
	net.Conn
	mu     sync.Mutex
	writes []string
	err    error
}

func (c *writeLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.writes = append(c.writes, string(p))
	return len(p), nil
}

func (c *writeLog) log() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.writes...)
}

// TestCorkWriter: writes pass through one by one, except between Cork and
// Uncork, where every writer's bytes (the session's and, say, a pong from
// another goroutine) are gathered in order and leave in one write.
func TestCorkWriter(t *testing.T) {
	conn := &writeLog{}
	w := &corkWriter{conn: conn}
	io.WriteString(w, "a")
	w.Cork()
	io.WriteString(w, "b")
	var wg sync.WaitGroup
	wg.Go(func() { io.WriteString(w, "c") }) // A pong, written while corked.
	wg.Wait()
	io.WriteString(w, "d")
	if got := conn.log(); len(got) != 1 {
		t.Fatalf("writes while corked reached the connection: %q", got)
	}
	if err := w.Uncork(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "e")
	if err := w.Uncork(); err != nil { // Nothing gathered: no write.
		t.Fatal(err)
	}
	want := []string{"a", "bcd", "e"}
	if got := conn.log(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("writes %q, want %q", got, want)
	}
	if w.buf != nil {
		t.Error("an uncorked writer keeps a buffer")
	}

	conn.err = errors.New("broken pipe")
	w.Cork()
	io.WriteString(w, "f")
	if err := w.Uncork(); !errors.Is(err, conn.err) {
		t.Fatalf("Uncork on a failed connection: %v", err)
	}
}
