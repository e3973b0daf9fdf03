package collab

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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
	ts := newTestServer(t, Options{WriteTimeout: 200 * time.Millisecond, SendQueue: 1 << 16})
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

// countingCorker counts the writer's Cork and Uncork calls; it holds nothing
// back, so the messages must still arrive whole and in order.
type countingCorker struct {
	corked            atomic.Bool
	corks, uncorks    atomic.Int64
	nested, unmatched atomic.Int64
}

func (c *countingCorker) Cork() {
	if c.corked.Swap(true) {
		c.nested.Add(1)
	}
	c.corks.Add(1)
}

func (c *countingCorker) Uncork() error {
	if !c.corked.Swap(false) {
		c.unmatched.Add(1)
	}
	c.uncorks.Add(1)
	return nil
}

// TestWriterCorksBatches: when several messages wait in a session's queue
// (ops committed together), its writer writes them between one Cork and one
// Uncork, and the client still reads every op once, in version order.
func TestWriterCorksBatches(t *testing.T) {
	ts := newTestServer(t, Options{OpsPerSecond: 1000, OpBurst: 1000})
	cork := &countingCorker{}
	ts.peer.Corker = cork // Only the reader's session has ops to batch.
	b := dialTest(t, ts.url+"batch")
	b.hello(ClientMsg{})
	ts.peer.Corker = nil
	a := dialTest(t, ts.url+"batch")
	a.hello(ClientMsg{})
	b.stopReading()
	const n = 200
	for i := uint64(1); i <= n; i++ { // Pipelined: the room commits them in batches.
		a.sendRaw(opJSON(i, 0, `["x"]`))
	}
	for range n {
		a.expect(TypeAck)
	}
	b.resumeReading()
	for v := uint64(1); v <= n; v++ {
		var op OpMsg
		b.expectInto(TypeOp, &op)
		if op.Version != v {
			t.Fatalf("op version %d, want %d", op.Version, v)
		}
	}
	eventually(t, "uncorked", func() bool { return !cork.corked.Load() })
	if cork.corks.Load() == 0 || cork.corks.Load() != cork.uncorks.Load() || cork.nested.Load()+cork.unmatched.Load() != 0 {
		t.Fatalf("corks %d, uncorks %d, nested %d, unmatched %d",
			cork.corks.Load(), cork.uncorks.Load(), cork.nested.Load(), cork.unmatched.Load())
	}
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
