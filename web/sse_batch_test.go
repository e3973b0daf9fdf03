package web

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
)

// TestSSEBatchBoundedByBytes: the events that piled up while a stream's
// client did not read are written in batches of about sseBatchBytes, not of
// up to sseBatch events: each batch is held, and copied whole, outside the
// subscription's bounded queue. The stream's chunks (one per write) show
// the batches.
func TestSSEBatchBoundedByBytes(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.WriteTimeout = time.Minute })
	id := e.create("d", "")
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	fmt.Fprintf(conn, "GET /api/v1/docs/%s/events HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n",
		id, e.ts.Listener.Addr())
	rd := bufio.NewReader(conn)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	chunk := func() string {
		t.Helper()
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(line), 16, 32)
		if err != nil || n == 0 {
			t.Fatalf("chunk size %q: %v", line, err)
		}
		b := make([]byte, n+2) // With its CRLF.
		if _, err := io.ReadFull(rd, b); err != nil {
			t.Fatal(err)
		}
		return string(b[:n])
	}
	for !strings.Contains(chunk(), "event: snapshot") {
	}
	// The client stops reading: socket buffers take the first ops, then
	// the stream's writer waits and the rest pile up.
	text := strings.Repeat("z", 200<<10)
	var v uint64
	for i := 0; i < 48; i++ { // 9.6 MiB: twice what loopback buffers take.
		op := ot.Op{{Insert: text}}
		if v > 0 {
			op = ot.Op{{Delete: len(text)}, {Insert: text}}
		}
		if v, err = e.hub.Submit(context.Background(), id, collab.Submission{Base: v, Op: op}); err != nil {
			t.Fatal(err)
		}
	}
	last := "id: " + strconv.FormatUint(v, 10) + "\n"
	largest := 0
	for {
		c := chunk()
		largest = max(largest, len(c))
		if strings.Contains(c, last) {
			break
		}
	}
	// One event under the bound, then one that reaches it.
	if bound := sseBatchBytes + len(text) + 1024; largest > bound {
		t.Fatalf("a write of %d bytes, want at most %d", largest, bound)
	}
}
