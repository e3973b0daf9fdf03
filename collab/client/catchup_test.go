package client

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/collab/internal/livetest"
	"github.com/foliodocs/folio/ot"
)

// TestLargeCatchUpComesAsText: against the real server, a client cut off
// while its op is in flight (lost on the way, or committed with its ack
// lost) misses whole-text replacements that weigh more than the server's
// catch-up budget (4 × the text here). Its welcome carries the text, not
// those ops (no remote op reaches it), and it converges: its op is in the
// text exactly once.
func TestLargeCatchUpComesAsText(t *testing.T) {
	for _, committed := range []bool{false, true} {
		name := map[bool]string{false: "op lost", true: "op committed"}[committed]
		t.Run(name, func(t *testing.T) {
			s := livetest.New(t, livetest.Options{NoSync: true, Hub: collab.Options{OpWindow: 2, CatchUpBytes: 1}})
			p := newFaultProxy(t, s.Addr())
			var remote atomic.Int64
			o := testOptions(t)
			o.OnRemoteOp = func(collab.OpMsg) { remote.Add(1) }
			c := dial(t, p.url("big"), o)
			w := dial(t, s.URL("big"), testOptions(t))
			const n = 2000
			if err := w.Insert(0, strings.Repeat("a", n)); err != nil {
				t.Fatal(err)
			}
			waitSynced(t, w)
			eventually(t, "c has the text", func() bool { return c.Len() == n })

			if committed {
				p.setHoleDown(true) // The op is committed; its ack never arrives.
			} else {
				p.setHole(true, false) // The op never reaches the server.
			}
			if err := c.Insert(0, "X"); err != nil {
				t.Fatal(err)
			}
			var keep ot.Op // w replaces all but X.
			if committed {
				eventually(t, "w has X", func() bool { return w.Len() == n+1 })
				keep = ot.Op{{Skip: 1}}
			}
			for i := range 8 { // About 2 KB each: 16 KB, over 4 × 2,000.
				op := append(keep[:len(keep):len(keep)], ot.Component{Delete: n}, ot.Component{Insert: strings.Repeat(string(rune('b'+i)), n)})
				if err := w.Submit(op); err != nil {
					t.Fatal(err)
				}
				waitSynced(t, w)
			}
			before := remote.Load()
			p.cutAll()
			p.setHole(false, false)
			p.setHoleDown(false)
			waitSynced(t, c)
			eventually(t, "c and w converge", func() bool { return c.Text() == w.Text() })
			text, _ := s.Text("big")
			if c.Text() != text || len(text) != n+1 || strings.Count(text, "X") != 1 {
				t.Fatalf("server %q…, client %q…", text[:10], c.Text()[:10])
			}
			if got := remote.Load() - before; got != 0 {
				t.Fatalf("%d remote ops after the cut, want the text instead", got)
			}
			if c.Reconnects() == 0 {
				t.Fatal("c never reconnected")
			}
		})
	}
}
