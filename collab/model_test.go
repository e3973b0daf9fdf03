package collab

import (
	"encoding/json"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/foliodocs/folio/ot"
)

// TestStaleBasesFollowTheModel sends ops at random bases, most of them
// behind a tiny OpWindow (so the server rebases them over ops read from
// storage), with {"d":"text"} deletes, seq gaps, resends, reconnects and
// takeovers, and cursors at old versions. After every ack the stored text
// must be what transforming the op over the history gives (side Left),
// and a peer must see each cursor moved to the head (or, more than
// OpWindow ops behind, its sender get version_too_old).
func TestStaleBasesFollowTheModel(t *testing.T) {
	if testing.Short() {
		t.Skip("randomized run through sockets; CI runs it")
	}
	ts := newTestServer(t, Options{OpWindow: 2, CatchUpLimit: 500, OpsPerSecond: 1e6, OpBurst: 1e6, SnapshotEvery: 3})
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		doc := "model" + itoa(n)
		hist := []string{""} // text at each version
		var ops []ot.Op      // committed ops; ops[v-1] produced version v
		type cl struct {
			c       *testClient
			key     string // Private, to resume.
			session string // Public.
			seq     uint64
			lastOp  string
			lastVer uint64
			lastAck uint64
		}
		dial := func(key string) *cl {
			c := dialTest(t, ts.url+doc)
			w := c.hello(ClientMsg{Key: key})
			return &cl{c: c, key: w.Key, session: w.Session}
		}
		clients := []*cl{dial(""), dial("")}
		defer func() {
			for _, c := range clients {
				c.c.close()
			}
		}()
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			k := rapid.IntRange(0, len(clients)-1).Draw(rt, "client")
			c := clients[k]
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0: // reconnect / take over with the same session
				if rapid.Bool().Draw(rt, "takeover") {
					nc := dial(c.key)
					if code := c.c.closed(); code != CloseReplaced {
						rt.Fatalf("takeover closed old with %d", code)
					}
					nc.seq, nc.lastOp, nc.lastVer, nc.lastAck = c.seq, c.lastOp, c.lastVer, c.lastAck
					clients[k] = nc
				} else {
					c.c.close()
					nc := dial(c.key)
					nc.seq, nc.lastOp, nc.lastVer, nc.lastAck = c.seq, c.lastOp, c.lastVer, c.lastAck
					clients[k] = nc
				}
				continue
			case 1: // resend the last op
				if c.seq == 0 {
					continue
				}
				c.c.sendRaw(opJSON(c.seq, c.lastVer, c.lastOp))
				var a Ack
				a = expectAckSkipping(rt, c.c)
				if a.Seq != c.seq || a.Version != c.lastAck {
					rt.Fatalf("resend ack %+v, want %d@%d", a, c.seq, c.lastAck)
				}
				continue
			}
			head := uint64(len(ops))
			if rapid.IntRange(0, 4).Draw(rt, "presence") == 0 {
				v := uint64(rapid.IntRange(0, int(head)).Draw(rt, "pv"))
				l := len([]rune(hist[v]))
				sel := ot.Selection{Anchor: rapid.IntRange(0, l).Draw(rt, "an"), Head: rapid.IntRange(0, l).Draw(rt, "hd")}
				b, _ := json.Marshal(map[string]any{"type": "presence", "version": v, "cursor": sel})
				c.c.sendRaw(string(b))
				want := sel
				for _, o := range ops[v:] {
					want = ot.TransformSelection(want, o)
				}
				w := clients[(k+1)%len(clients)]
				deadline := time.After(3 * time.Second)
				for found := false; !found; {
					select {
					case b := <-w.c.msgs:
						var p Presence
						if msgType(b) == TypePresence && json.Unmarshal(b, &p) == nil && p.Session == c.session &&
							p.Cursor != nil && *p.Cursor == want && p.Version == head {
							found = true
						}
					case b := <-c.c.msgs:
						// A cursor more than OpWindow (2) ops behind is
						// refused, never moved wrong.
						var e ErrorMsg
						if msgType(b) == TypeError && json.Unmarshal(b, &e) == nil {
							if e.Code != CodeVersionTooOld || head-v <= 2 {
								rt.Fatalf("presence %+v@%d (head %d) refused: %+v", sel, v, head, e)
							}
							found = true
						}
					case <-deadline:
						rt.Fatalf("no presence %+v@%d for %+v@%d", want, head, sel, v)
					}
				}
				continue
			}
			base := uint64(rapid.IntRange(0, int(head)).Draw(rt, "base"))
			text := []rune(hist[base])
			op := genOp(rt, text)
			if len(op) == 0 {
				continue
			}
			b, _ := json.Marshal(op)
			c.seq += uint64(rapid.IntRange(1, 3).Draw(rt, "gap"))
			c.c.sendRaw(opJSON(c.seq, base, string(b)))
			var a Ack
			a = expectAckSkipping(rt, c.c)
			want := op
			for _, o := range ops[base:] {
				want = ot.Transform(want, o, ot.Left)
			}
			next, err := ot.Apply(hist[head], want)
			if err != nil {
				rt.Fatalf("model apply: %v", err)
			}
			if a.Seq != c.seq || a.Version != head+1 {
				rt.Fatalf("ack %+v, want %d@%d", a, c.seq, head+1)
			}
			ops = append(ops, want)
			hist = append(hist, next)
			c.lastOp, c.lastVer, c.lastAck = string(b), base, a.Version
			got, v := textOf(t, ts.db, doc)
			if got != next || v != head+1 {
				rt.Fatalf("stored %q@%d, model %q@%d (op %s at base %d)", got, v, next, head+1, b, base)
			}
		}
	})
}

// genOp draws a normalized op that fits text.
func genOp(rt *rapid.T, text []rune) ot.Op {
	var op ot.Op
	pos := 0
	for pos <= len(text) {
		switch rapid.IntRange(0, 3).Draw(rt, "kind") {
		case 0:
			if pos == len(text) {
				return ot.Normalize(op)
			}
			n := rapid.IntRange(1, len(text)-pos).Draw(rt, "skip")
			op = append(op, ot.Component{Skip: n})
			pos += n
		case 1:
			s := rapid.SampledFrom([]string{"a", "é", "🎉", "xy", "\r\n", "👍🏽"}).Draw(rt, "ins")
			op = append(op, ot.Component{Insert: s})
		case 2:
			if pos == len(text) {
				continue
			}
			n := rapid.IntRange(1, len(text)-pos).Draw(rt, "del")
			if rapid.Bool().Draw(rt, "deltext") {
				op = append(op, ot.Component{Delete: n, DelText: string(text[pos : pos+n])})
			} else {
				op = append(op, ot.Component{Delete: n})
			}
			pos += n
		case 3:
			return ot.Normalize(op)
		}
	}
	return ot.Normalize(op)
}

func expectAckSkipping(rt *rapid.T, c *testClient) Ack {
	for {
		b := c.next()
		switch msgType(b) {
		case TypeAck:
			var a Ack
			_ = json.Unmarshal(b, &a)
			return a
		case TypeOp, TypePresence, TypeLeave:
		default:
			rt.Fatalf("want ack, got %s", b)
		}
	}
}
