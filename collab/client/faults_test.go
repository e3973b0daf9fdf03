package client

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/foliodocs/folio/collab/internal/livetest"
)

// TestFaultsConverge: random edits by a few clients of a real server, behind
// a proxy that cuts, black-holes and refuses connections, with client drops
// and server restarts on the same bbolt file. Once the faults stop, every
// client is synced, holds the server's text at its version, and every typed
// character (each one a code point nobody else types) is in it exactly once.
func TestFaultsConverge(t *testing.T) {
	if testing.Short() {
		t.Skip("randomized fault runs")
	}
	s := livetest.New(t, livetest.Options{NoSync: true})
	p := newFaultProxy(t, s.Addr())
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		doc := fmt.Sprintf("r%d", run)
		p.setHole(false, false)
		p.setDown(false)
		if !s.Running() {
			s.Start()
		}
		n := rapid.IntRange(1, 3).Draw(rt, "clients")
		cs := make([]*Client, n)
		for i := range cs {
			o := testOptions(t)
			o.PingInterval, o.WriteTimeout = 100*time.Millisecond, 300*time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c, err := Dial(ctx, p.url(doc), o)
			cancel()
			if err != nil {
				rt.Fatalf("dial: %v", err)
			}
			cs[i] = c
		}
		defer func() {
			for _, c := range cs {
				c.Close()
			}
		}()
		var typed []string
		mark := 0
		steps := rapid.IntRange(1, 25).Draw(rt, "steps")
		for range steps {
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0, 1, 2, 3:
				c := cs[rapid.IntRange(0, n-1).Draw(rt, "who")]
				k := rapid.IntRange(1, 5).Draw(rt, "burst")
				for range k {
					mark++
					m := string(rune(0x4E00 + mark))
					if err := c.Insert(rapid.IntRange(0, c.Len()).Draw(rt, "pos"), m); err != nil {
						rt.Fatalf("insert: %v", err)
					}
					typed = append(typed, m)
				}
			case 4:
				p.cutAll()
			case 5:
				p.setHole(rapid.Bool().Draw(rt, "both"), true)
				time.Sleep(time.Duration(rapid.IntRange(0, 50).Draw(rt, "ms")) * time.Millisecond)
				p.setHole(false, false)
			case 6:
				p.setDown(true)
				p.cutAll()
			case 7:
				p.setDown(false)
			case 8:
				cs[rapid.IntRange(0, n-1).Draw(rt, "who")].DropConnection()
			case 9:
				s.Stop()
				s.Start()
			}
			time.Sleep(time.Duration(rapid.IntRange(0, 20).Draw(rt, "pause")) * time.Millisecond)
		}
		p.setHole(false, false)
		p.setDown(false)
		for _, c := range cs {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			err := c.WaitSynced(ctx)
			cancel()
			if err != nil {
				rt.Fatalf("%s not synced: %v (online %v)", c.Session(), err, c.Online())
			}
		}
		text, v := s.Text(doc)
		deadline := time.Now().Add(20 * time.Second)
		for _, c := range cs {
			for c.Version() != v || c.Text() != text {
				if time.Now().After(deadline) {
					rt.Fatalf("%s at %d %q, server at %d %q", c.Session(), c.Version(), c.Text(), v, text)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		for _, m := range typed {
			if k := strings.Count(text, m); k != 1 {
				rt.Fatalf("%s appears %d times in %q", m, k, text)
			}
		}
	})
}
