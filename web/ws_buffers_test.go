package web

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestSmallBuffersKeepEarlyBytes: bytes a client sends right behind its
// upgrade request (already in net/http's reader) are the first read from the
// hijacked connection, also after coder/websocket's Reset of the reader.
func TestSmallBuffersKeepEarlyBytes(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := smallBuffers{w}.Hijack()
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
