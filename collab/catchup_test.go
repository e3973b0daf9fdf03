package collab

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// replaceAll is an op that replaces a text of n code points by text, as a
// PUT of a whole new text makes.
func replaceAll(n int, text string) string {
	b, _ := json.Marshal(text)
	if n == 0 {
		return fmt.Sprintf(`[%s]`, b)
	}
	return fmt.Sprintf(`[{"d":%d},%s]`, n, b)
}

// TestCatchUpOverBudgetGetsText: a resuming client whose missed ops weigh
// more than the catch-up's budget (here 4 × the text, CatchUpBytes being
// below it) gets the text at the head, as for a version too old: the hello
// a welcome with text, the Subscribe a snapshot; the same whether the ops
// are in the room's window or read from storage. Under the budget it gets
// exactly the missed ops.
func TestCatchUpOverBudgetGetsText(t *testing.T) {
	const n = 2000 // Code points of every text: the budget is 8000 bytes.
	for _, c := range []struct {
		name   string
		window int
		behind int // Whole-text replacements missed, of about 2,100 bytes each.
		text   bool
	}{
		{"window over", 1000, 6, true},
		{"storage over", 2, 6, true},      // The window's two ops are under; the read passes it.
		{"window alone over", 4, 8, true}, // Storage is not read.
		{"window under", 1000, 3, false},
		{"storage under", 2, 3, false},
	} {
		for _, via := range []string{"hello", "subscribe"} {
			t.Run(c.name+"/"+via, func(t *testing.T) {
				ts := newTestServer(t, Options{OpWindow: c.window, CatchUpBytes: 1})
				ctx := context.Background()
				a := dialTest(t, ts.url+"big")
				a.hello(ClientMsg{})
				texts := []string{strings.Repeat("a", n)} // texts[v-1] is the text at version v.
				a.sendRaw(opJSON(1, 0, replaceAll(0, texts[0])))
				a.expect(TypeAck)
				for i := range c.behind + 4 {
					texts = append(texts, strings.Repeat(string(rune('b'+i%20)), n))
					a.sendRaw(opJSON(uint64(i+2), uint64(i+1), replaceAll(n, texts[i+1])))
					a.expect(TypeAck)
				}
				head := uint64(len(texts))
				since := head - uint64(c.behind)
				var text *string
				var ops []OpMsg
				if via == "hello" {
					b := dialTest(t, ts.url+"big")
					w := b.hello(ClientMsg{Version: u64(since)})
					if w.Version != head {
						t.Fatalf("welcome at %d, want %d", w.Version, head)
					}
					text, ops = w.Text, w.Ops
				} else {
					sub, err := ts.hub.Subscribe(ctx, "big", u64(since))
					if err != nil {
						t.Fatal(err)
					}
					defer sub.Close()
					ev, err := sub.Next(ctx)
					if err != nil {
						t.Fatal(err)
					}
					switch ev.Kind {
					case EventSnapshot:
						if ev.Version != head {
							t.Fatalf("snapshot at %d, want %d", ev.Version, head)
						}
						text = &ev.Text
					case EventOp:
						ops = append(ops, *ev.Op)
						for len(ops) < c.behind {
							if ev, err = sub.Next(ctx); err != nil || ev.Kind != EventOp {
								t.Fatalf("event %+v, %v; want an op", ev, err)
							}
							ops = append(ops, *ev.Op)
						}
					}
				}
				if !c.text {
					if text != nil {
						t.Fatalf("got the text, want the %d ops", c.behind)
					}
					checkCatchUp(t, ops, since, head)
					return
				}
				if text == nil || *text != texts[head-1] || len(ops) != 0 {
					t.Fatalf("got %d ops (text %v), want the text at %d", len(ops), text != nil, head)
				}
			})
		}
	}
}

// TestOldBaseOverBudgetIsTooOld: an op based before the room's window makes
// the room read the ops after its base from storage to rebase it; when they
// outweigh the catch-up's budget the op is version_too_old (its client
// resyncs from the text) instead of the room reading them all. Under the
// budget it is rebased and committed as ever.
func TestOldBaseOverBudgetIsTooOld(t *testing.T) {
	const n = 2000 // Code points of every text: the budget is 8000 bytes.
	ts := newTestServer(t, Options{OpWindow: 2, CatchUpBytes: 1})
	a := dialTest(t, ts.url+"old")
	a.hello(ClientMsg{})
	a.sendRaw(opJSON(1, 0, replaceAll(0, strings.Repeat("a", n))))
	a.expect(TypeAck)
	for i := range 10 { // Versions 2..11, about 2,100 bytes each.
		a.sendRaw(opJSON(uint64(i+2), uint64(i+1), replaceAll(n, strings.Repeat(string(rune('b'+i)), n))))
		a.expect(TypeAck)
	}
	b := dialTest(t, ts.url+"old")
	b.hello(ClientMsg{})
	b.sendRaw(opJSON(1, 1, `["!"]`)) // Ten ops back: 21,000 bytes to read.
	b.expectError(CodeVersionTooOld)
	b.sendRaw(opJSON(2, 7, `["!"]`)) // Four back, two of them in the window.
	var ack Ack
	b.expectInto(TypeAck, &ack)
	if ack.Version != 12 {
		t.Fatalf("ack %+v, want version 12", ack)
	}
}
