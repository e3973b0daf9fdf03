package collab

import (
	"context"
	"testing"
	"time"
)

// checkCatchUp fails unless ops are exactly the versions from+1..to, in
// order.
func checkCatchUp(t *testing.T, ops []OpMsg, from, to uint64) {
	t.Helper()
	if uint64(len(ops)) != to-from {
		t.Fatalf("%d ops after %d, want %d (to %d)", len(ops), from, to-from, to)
	}
	for i, m := range ops {
		if m.Version != from+1+uint64(i) {
			t.Fatalf("op %d has version %d, want %d", i, m.Version, from+1+uint64(i))
		}
	}
}

// TestResumeCatchUpReadOffTheRoom: a client resuming from before the op
// window needs older ops from storage; they are read on its own goroutine,
// so while that read is slow the room goes on serving the document's
// editors, and the client then gets every op after its version once, in
// order, the ones committed during its read included.
func TestResumeCatchUpReadOffTheRoom(t *testing.T) {
	for _, via := range []string{"hello", "subscribe"} {
		t.Run(via, func(t *testing.T) {
			ts, fs := newFaultServer(t, Options{OpWindow: 4, CatchUpLimit: 100})
			ctx := context.Background()
			a := dialTest(t, ts.url+"old")
			a.hello(ClientMsg{})
			for i := range uint64(20) {
				a.sendRaw(opJSON(i+1, i, `["a"]`))
				a.expect(TypeAck)
			}
			release := fs.opsStall.hold(t)
			welcome := make(chan []OpMsg, 1)
			c := dialTest(t, ts.url+"old")
			var sub *Subscription
			subErr := make(chan error, 1)
			if via == "hello" {
				c.send(ClientMsg{Type: TypeHello, Key: NewKey(), Version: u64(2)})
			} else {
				go func() {
					var err error
					sub, err = ts.hub.Subscribe(ctx, "old", u64(2))
					subErr <- err
				}()
			}
			eventually(t, "the read of old ops", func() bool { return fs.opsStall.held.Load() == 1 })
			// Enough ops that the window moves past what is being read.
			for i := range uint64(6) {
				a.sendRaw(opJSON(21+i, 20+i, `["b"]`))
				a.expect(TypeAck) // Not held behind the read.
			}
			release()
			if via == "hello" {
				var w Welcome
				c.expectInto(TypeWelcome, &w)
				if w.Text != nil || w.Version != 26 {
					t.Fatalf("welcome %+v", w)
				}
				welcome <- w.Ops
			} else {
				if err := <-subErr; err != nil {
					t.Fatal(err)
				}
				defer sub.Close()
				var ops []OpMsg
				for len(ops) < 24 {
					ev, err := sub.Next(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if ev.Kind == EventOp {
						ops = append(ops, *ev.Op)
					}
				}
				welcome <- ops
			}
			checkCatchUp(t, <-welcome, 2, 26)
		})
	}
}

// TestResumeReadAcrossRecreate: when the document is deleted and created
// again while a resuming client reads its old ops, the client gets the new
// document's text, not the old ops, and its session starts afresh there.
func TestResumeReadAcrossRecreate(t *testing.T) {
	ts, fs := newFaultServer(t, Options{OpWindow: 2, IdleUnload: time.Millisecond})
	ctx := context.Background()
	a := dialTest(t, ts.url+"again")
	wa := a.hello(ClientMsg{})
	for i := range uint64(6) {
		a.sendRaw(opJSON(i+1, i, `["a"]`))
		a.expect(TypeAck)
	}
	a.close()
	// A room loaded afresh: it holds neither the old ops nor the session.
	eventually(t, "the room's unload", func() bool { return ts.hub.lookupRoom("again") == nil })
	release := fs.opsStall.hold(t)
	c := dialTest(t, ts.url+"again")
	c.send(ClientMsg{Type: TypeHello, Key: wa.Key, Version: u64(1)})
	eventually(t, "the read", func() bool { return fs.opsStall.held.Load() == 1 })
	if err := ts.hub.Delete(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.hub.Create(ctx, "again", "new"); err != nil {
		t.Fatal(err)
	}
	release()
	var w Welcome
	c.expectInto(TypeWelcome, &w)
	if w.Text == nil || *w.Text != "new" || w.Version != 7 || len(w.Ops) != 0 {
		t.Fatalf("welcome after the re-create: %+v", w)
	}
	c.sendRaw(opJSON(1, 7, `["!"]`)) // The new document has no seqs of this session.
	var ack Ack
	c.expectInto(TypeAck, &ack)
	if text, v := textOf(t, ts.db, "again"); text != "!new" || v != 8 || ack.Version != 8 {
		t.Fatalf("%q@%d, ack %+v", text, v, ack)
	}
}
