package collab

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foliodocs/folio/ot"
)

// bytesCases are the messages of the byte-bound tests: as many small ones
// as large ones, far below SendQueue (256), so only SendQueueBytes (1 MiB in
// these tests) can cut a peer.
var bytesCases = []struct {
	name string
	size int
	cut  bool
}{{"small", 16, false}, {"large", 256 << 10, true}}

// TestSlowConsumerCutByBytes: a session that stopped reading is cut as a
// slow consumer (the metric, a leave for the others) once what waits for it
// reaches SendQueueBytes, with its queue far from SendQueue messages; as many
// small messages do not cut it, and it reads them all when it resumes.
func TestSlowConsumerCutByBytes(t *testing.T) {
	const sent = 200
	for _, c := range bytesCases {
		t.Run(c.name, func(t *testing.T) {
			m := NewMetrics(prometheus.NewRegistry())
			ts := newTestServer(t, Options{SendQueueBytes: 1 << 20, Metrics: m, OpsPerSecond: 1000, OpBurst: 1000, MaxDocLen: 1 << 30})
			fast := dialTest(t, ts.url+"d")
			fast.hello(ClientMsg{})
			stalled := dialTest(t, ts.url+"d")
			ws := stalled.hello(ClientMsg{})
			stalled.stopReading()
			// Socket buffers take the first large ones, then the queue.
			text := strings.Repeat("z", c.size)
			var v uint64
			for seq := uint64(1); seq <= sent && counterValue(m.slowDrops) == 0; seq++ {
				fast.sendRaw(opJSON(seq, v, `["`+text+`"]`))
				var ack Ack
				fast.expectInto(TypeAck, &ack) // The fast client is never held up.
				v = ack.Version
			}
			if !c.cut {
				stalled.resumeReading()
				for want := uint64(1); want <= sent; want++ {
					var op OpMsg
					stalled.expectInto(TypeOp, &op)
					if op.Version != want {
						t.Fatalf("op %d, want %d", op.Version, want)
					}
				}
				if n := counterValue(m.slowDrops); n != 0 {
					t.Fatalf("%v slow-consumer cuts for %d small messages", n, sent)
				}
				return
			}
			eventually(t, "the stalled session cut", func() bool { return counterValue(m.slowDrops) == 1 })
			if v >= sent {
				t.Fatalf("cut only after %d messages", v)
			}
			for {
				if b := fast.next(); msgType(b) == TypeLeave {
					var l Leave
					if err := json.Unmarshal(b, &l); err != nil || l.Session != ws.Session {
						t.Fatalf("leave %s", b)
					}
					break
				}
			}
		})
	}
}

// TestSubscriptionCutByBytes: a subscription that is not read ends with
// slow_consumer once its queued events' payloads reach SendQueueBytes, far
// below SendQueue events; as many small events do not end it.
func TestSubscriptionCutByBytes(t *testing.T) {
	const sent = 16
	for _, c := range bytesCases {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestServer(t, Options{SendQueueBytes: 1 << 20, MaxDocLen: 1 << 30})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := ts.hub.Create(ctx, "d", ""); err != nil {
				t.Fatal(err)
			}
			sub, err := ts.hub.Subscribe(ctx, "d", u64(0))
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			text := strings.Repeat("z", c.size)
			for v := uint64(0); v < sent; v++ {
				// The room hands the op to the subscription before it answers.
				if _, err := ts.hub.Submit(ctx, "d", Submission{Base: v, Op: ot.Op{{Insert: text}}}); err != nil {
					t.Fatal(err)
				}
			}
			if !c.cut {
				for want := uint64(1); want <= sent; want++ {
					if ev, err := sub.Next(ctx); err != nil || ev.Kind != EventOp || ev.Version != want {
						t.Fatalf("event %d: %+v %v", want, ev, err)
					}
				}
				if err := sub.Err(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if e := AsError(sub.Err()); e == nil || e.Code != CodeSlowConsumer {
				t.Fatalf("a subscription holding %d × %d bytes: %v", sent, c.size, sub.Err())
			}
		})
	}
}

// TestSubscriptionBacklogCountsInBytes: the snapshot a subscription is
// given when it subscribes counts in SendQueueBytes until it is taken, so
// a consumer that never reads is cut once snapshot and queue pass the bound
// (here three-quarters of it, then ops that alone would not reach it); once
// it took the snapshot, the same ops fit, and after it read everything
// nothing is left counted.
func TestSubscriptionBacklogCountsInBytes(t *testing.T) {
	const bound, ops = 1 << 20, 4
	text := strings.Repeat("z", bound/8) // ops × this: half the bound.
	for _, read := range []bool{false, true} {
		name := map[bool]string{false: "never read", true: "snapshot read"}[read]
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, Options{SendQueueBytes: bound, MaxDocLen: 1 << 30})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			meta, err := ts.hub.Create(ctx, "d", strings.Repeat("a", bound*3/4))
			if err != nil {
				t.Fatal(err)
			}
			sub, err := ts.hub.Subscribe(ctx, "d", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if read {
				if ev, err := sub.Next(ctx); err != nil || ev.Kind != EventSnapshot || len(ev.JSON) < bound*3/4 {
					t.Fatalf("first event: %v %d bytes, %v", ev.Kind, len(ev.JSON), err)
				}
			}
			v := meta.Version
			for range ops {
				// The room hands the op to the subscription before it answers.
				if v, err = ts.hub.Submit(ctx, "d", Submission{Base: v, Op: ot.Op{{Insert: text}}}); err != nil {
					t.Fatal(err)
				}
			}
			if !read {
				if e := AsError(sub.Err()); e == nil || e.Code != CodeSlowConsumer {
					t.Fatalf("a subscription holding a snapshot of %d bytes and %d × %d bytes of ops: %v",
						bound*3/4, ops, len(text), sub.Err())
				}
				return
			}
			for want := meta.Version + 1; want <= v; want++ {
				if ev, err := sub.Next(ctx); err != nil || ev.Kind != EventOp || ev.Version != want {
					t.Fatalf("event %d: %v %d, %v", want, ev.Kind, ev.Version, err)
				}
			}
			if err := sub.Err(); err != nil {
				t.Fatal(err)
			}
			if n := sub.bytes.Load(); n != 0 {
				t.Errorf("%d bytes still counted with nothing left to take", n)
			}
		})
	}
}
