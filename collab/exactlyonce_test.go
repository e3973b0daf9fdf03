package collab

import (
	"testing"
	"time"
)

// TestResentOpFarBehind: a client whose op was committed but whose ack was
// lost comes back after many others' ops (more than the op window and the
// catch-up limit, so its welcome carries the full text) and resends that
// op with its seq at its old base: it gets an ack with the op's original
// version, not seq_not_increasing, and nothing is applied twice; the same
// after the room was unloaded, when the session's seq comes from storage.
func TestResentOpFarBehind(t *testing.T) {
	for _, unload := range []bool{false, true} {
		name := map[bool]string{false: "room-open", true: "room-unloaded"}[unload]
		t.Run(name, func(t *testing.T) {
			opts := Options{OpWindow: 4, CatchUpLimit: 10}
			if unload {
				opts.IdleUnload = time.Millisecond
			}
			ts := newTestServer(t, opts)
			a := dialTest(t, ts.url+"far")
			w := a.hello(ClientMsg{})
			for seq := uint64(1); seq <= 3; seq++ {
				a.sendRaw(opJSON(seq, seq-1, `["a"]`))
				a.expect(TypeAck) // The third ack is the one the client never sees.
			}
			a.close()
			b := dialTest(t, ts.url+"far")
			b.hello(ClientMsg{})
			for i := uint64(0); i < 30; i++ {
				b.sendRaw(opJSON(i+1, 3+i, `["b"]`))
				b.expect(TypeAck)
			}
			if unload {
				b.close()
				eventually(t, "the room's unload", func() bool { return ts.hub.lookupRoom("far") == nil })
			}
			a2 := dialTest(t, ts.url+"far")
			w2 := a2.hello(ClientMsg{Key: w.Key, Version: u64(2)})
			if w2.Text == nil || w2.Version != 33 {
				t.Fatalf("welcome %+v: want the full text at 33", w2)
			}
			a2.sendRaw(opJSON(3, 2, `["a"]`))
			var ack Ack
			a2.expectInto(TypeAck, &ack)
			if ack.Seq != 3 || ack.Version != 3 {
				t.Fatalf("ack %+v, want seq 3 at its version 3", ack)
			}
			if text, v := textOf(t, ts.db, "far"); v != 33 || len(text) != 33 {
				t.Fatalf("%q@%d: applied again", text, v)
			}
		})
	}
}
