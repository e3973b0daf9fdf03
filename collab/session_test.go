package collab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestTwoClientsEditAndConverge(t *testing.T) {
	ts := newTestServer(t, Options{})
	a := dialTest(t, ts.url+"doc1")
	wa := a.hello(ClientMsg{User: &User{Name: "Ann", Color: "#3366FF"}})
	if wa.Text == nil || *wa.Text != "" || wa.Version != 0 || wa.Role != "edit" || len(wa.Peers) != 0 {
		t.Fatalf("welcome A: %+v", wa)
	}
	b := dialTest(t, ts.url+"doc1")
	wb := b.hello(ClientMsg{User: &User{Name: "Bob", Color: "nope"}})
	if len(wb.Peers) != 1 || wb.Peers[0].Name != "Ann" || wb.Peers[0].Color != "#3366ff" {
		t.Fatalf("welcome B peers: %+v", wb.Peers)
	}

	a.sendRaw(opJSON(1, 0, `["héllo 🎉"]`))
	var ack Ack
	a.expectInto(TypeAck, &ack)
	if ack.Seq != 1 || ack.Version != 1 {
		t.Fatalf("ack %+v", ack)
	}
	var op OpMsg
	b.expectInto(TypeOp, &op)
	if op.Version != 1 || op.Session != wa.Session || op.Seq != 1 {
		t.Fatalf("broadcast %+v", op)
	}

	// Concurrent edits on version 1: B's is rebased over A's.
	a.sendRaw(opJSON(2, 1, `[7,"A"]`))
	a.expectInto(TypeAck, &ack)
	b.sendRaw(opJSON(1, 1, `[7,"B"]`))
	b.expect(TypeOp) // A's op (version 2)
	var bAck Ack
	b.expectInto(TypeAck, &bAck)
	if bAck.Version != 3 {
		t.Fatalf("B ack %+v", bAck)
	}
	var aSees OpMsg
	a.expectInto(TypeOp, &aSees)
	got, _ := json.Marshal(aSees.Op)
	if string(got) != `[7,"B"]` { // Left: the later op's insert goes first at a tie.
		t.Fatalf("rebased op %s", got)
	}
	text, v := textOf(t, ts.db, "doc1")
	if text != "héllo 🎉BA" || v != 3 {
		t.Fatalf("stored %q@%d", text, v)
	}
}

// TestExpiredWriteCutsTheConnection: a client that stops reading while the
// queue still has room is cut by the write deadline, not kept forever.
func TestExpiredWriteCutsTheConnection(t *testing.T) {
	ts := newTestServer(t, Options{WriteTimeout: 200 * time.Millisecond, SendQueue: 1 << 16, SendQueueBytes: 1 << 30})
	other := dialTest(t, ts.url+"wt")
	other.hello(ClientMsg{})
	stalled := dialTest(t, ts.url+"wt")
	ws := stalled.hello(ClientMsg{})
	stalled.stopReading()
	r := ts.hub.lookupRoom("wt")
	var s *session
	_ = r.do(context.Background(), func() { s = r.byID[ws.Session] })
	// 64 MiB queued: far more than loopback socket buffers hold, far less than the queue.
	big := []byte(`{"type":"pong","x":"` + strings.Repeat("z", 1<<20) + `"}`)
	for i := 0; i < 64; i++ {
		s.send(big)
	}
	var l Leave
	other.expectInto(TypeLeave, &l)
	if l.Session != ws.Session {
		t.Fatalf("leave %+v", l)
	}
	select {
	case <-s.kicked:
	default:
		t.Fatal("left but not cut")
	}
	if s.closeErr != nil {
		t.Fatalf("closed with %v, want a cut after the write deadline", s.closeErr)
	}
}

// TestWireBatchesAndBackpressure: whether the room writes a batch itself
// (Wire) or leaves it to the writer (also what the socket does not take once
// the peer stops reading), and whatever the frame length encoding (7, 16 and
// 64 bits), a stalled reader later gets every op once, whole and in version
// order. Without a Wire coder/websocket writes each message.
func TestWireBatchesAndBackpressure(t *testing.T) {
	for _, noWire := range []bool{false, true} {
		t.Run(fmt.Sprintf("noWire=%v", noWire), func(t *testing.T) {
			// b stalls for as long as the acks take, which under load is
			// longer than the default WriteTimeout and PingInterval+PongTimeout:
			// neither may cut b (nor a, whose pong waits behind its ops).
			ts := newTestServer(t, Options{OpsPerSecond: 1000, OpBurst: 1000, SendQueue: 4096, MaxDocLen: 10_000_000,
				WriteTimeout: time.Hour, PingInterval: time.Hour})
			ts.noWire = noWire
			b := dialSmallWindow(t, ts.url+"batch")
			b.hello(ClientMsg{})
			a := dialTest(t, ts.url+"batch")
			a.hello(ClientMsg{})
			b.stopReading()
			// About 6 MB: more than the socket buffers hold.
			sizes := []int{1, 125, 126, 200, 65535, 65536, 70000}
			var want []string
			for i := range 120 {
				want = append(want, strings.Repeat(string(rune('a'+i%26)), sizes[i%len(sizes)]))
				if i >= len(sizes) {
					want[i] = strings.Repeat(want[i][:1], 50_000)
				}
			}
			for i, text := range want { // Pipelined: the room commits them in batches.
				a.sendRaw(opJSON(uint64(i+1), 0, `["`+text+`"]`))
			}
			for range want {
				a.expect(TypeAck)
			}
			b.resumeReading()
			for i, text := range want {
				var op OpMsg
				b.expectInto(TypeOp, &op)
				last := op.Op[len(op.Op)-1] // Rebased ops may skip first.
				if op.Version != uint64(i+1) || last.Insert != text {
					t.Fatalf("op %d: version %d, components %d, want version %d inserting %d× %q",
						i, op.Version, len(op.Op), i+1, len(text), text[:1])
				}
			}
		})
	}
}

// TestBroadcastToCrowd: in a room with more sessions than a turn writes to
// itself (directWrites), the author still gets its ack and every other
// session each op once and in order, the rest through their writers.
func TestBroadcastToCrowd(t *testing.T) {
	ts := newTestServer(t, Options{})
	const crowd = directWrites + 10
	clients := make([]*testClient, crowd)
	for i := range clients {
		clients[i] = dialTest(t, ts.url+"crowd")
		clients[i].hello(ClientMsg{})
	}
	author := clients[0]
	for seq := uint64(1); seq <= 3; seq++ {
		author.sendRaw(opJSON(seq, seq-1, `["x"]`))
		var ack Ack
		author.expectInto(TypeAck, &ack)
		if ack.Version != seq {
			t.Fatalf("ack %+v, want version %d", ack, seq)
		}
	}
	for i, c := range clients[1:] {
		for v := uint64(1); v <= 3; v++ {
			var op OpMsg
			c.expectInto(TypeOp, &op)
			if op.Version != v {
				t.Fatalf("client %d: op version %d, want %d", i+1, op.Version, v)
			}
		}
	}
}

// dialSmallWindow dials with a 4 KB receive buffer, so that a client that
// stops reading fills the server's socket after a few hundred KB.
func dialSmallWindow(t *testing.T, url string) *testClient {
	t.Helper()
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	t.Cleanup(client.CloseIdleConnections)
	return dialWith(t, url, &websocket.DialOptions{Subprotocols: []string{Subprotocol}, HTTPClient: client})
}

// TestReadBuffersAreNotShared: message buffers are recycled between reads,
// so what a decoded message keeps must be its own: a long op (which grows
// the buffer) then short ones that reuse it leave the long one intact.
func TestReadBuffersAreNotShared(t *testing.T) {
	ts := newTestServer(t, Options{})
	a := dialTest(t, ts.url+"bufs")
	a.hello(ClientMsg{})
	long := strings.Repeat("long text é🎉 ", 800)
	b, _ := json.Marshal(long)
	a.sendRaw(opJSON(1, 0, "["+string(b)+"]"))
	a.expect(TypeAck)
	for i := uint64(2); i <= 5; i++ {
		a.sendRaw(opJSON(i, i-1, `["x"]`))
		a.expect(TypeAck)
	}
	if text, v := textOf(t, ts.db, "bufs"); text != "xxxx"+long || v != 5 {
		t.Fatalf("stored %d bytes at version %d, want the long insert behind 4 x's", len(text), v)
	}
}

// TestTokenExpiryClosesSession: a grant with an expiry serves its session
// until then and closes it with token_expired (4401) at the expiry; a grant
// without one is not affected.
func TestTokenExpiryClosesSession(t *testing.T) {
	ts := newTestServer(t, Options{})
	// Room for the op below before it expires, even on a loaded machine.
	expires := time.Now().Add(2 * time.Second)
	ts.peer.Authorize = func(string) (Grant, error) { return Grant{Role: RoleEdit, Create: true, Expires: expires}, nil }
	a := dialTest(t, ts.url+"expiry")
	a.hello(ClientMsg{})
	ts.peer.Authorize = func(string) (Grant, error) { return Grant{Role: RoleEdit}, nil }
	b := dialTest(t, ts.url+"expiry")
	b.hello(ClientMsg{})
	a.sendRaw(opJSON(1, 0, `["x"]`))
	a.expect(TypeAck)
	b.expect(TypeOp)
	if code := a.closed(); code != CloseTokenExpired {
		t.Fatalf("closed with %d, want %d", code, CloseTokenExpired)
	}
	if time.Now().Before(expires) {
		t.Fatal("closed before the grant expired")
	}
	b.sendRaw(opJSON(1, 1, `["y"]`))
	var ack Ack
	b.expectInto(TypeAck, &ack)
	if ack.Version != 2 {
		t.Fatalf("ack %+v after the other session expired", ack)
	}
}
