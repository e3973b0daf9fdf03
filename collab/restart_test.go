package collab_test

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/foliodocs/folio/collab/internal/livetest"
	"github.com/foliodocs/folio/ot"
)

// TestRestart stops the whole server (HTTP, hub, storage) and starts it again
// on the same data file and address, three times, while clients keep
// editing, also while it is down. They resync; every acknowledged op is in
// the log where its ack said, none is applied twice, and all converge. The
// clients only insert, each a code point no one else types, so the final
// text must hold every typed character exactly once: nothing typed is lost
// or doubled, whether it was in flight, buffered or typed offline.
func TestRestart(t *testing.T) {
	s := livetest.New(t, livetest.Options{})
	var acks ackLog
	cs := dialAll(t, s, "restart", 4, &acks)
	stop := make(chan struct{})
	typed := make([][]rune, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 5))
			for k := range 3000 { // Bounded even if stop never comes.
				select {
				case <-stop:
					return
				default:
				}
				ch := rune(0x4E00 + i*3000 + k) // CJK ideographs, one per keystroke.
				if err := c.Insert(r.IntN(len([]rune(c.Text()))+1), string(ch)); err != nil {
					t.Errorf("insert: %v", err)
					return
				}
				typed[i] = append(typed[i], ch)
				if r.IntN(3) == 0 {
					n := len([]rune(c.Text()))
					c.SetCursor(&ot.Selection{Anchor: r.IntN(n + 1), Head: r.IntN(n + 1)})
				}
				time.Sleep(time.Duration(500+r.IntN(1500)) * time.Microsecond) // Think time.
			}
		})
	}
	for range 3 {
		n := acks.count()
		eventually(t, "edits acknowledged before the restart", func() bool { return acks.count() >= n+10 })
		s.Stop()
		eventually(t, "every client offline with unsent edits", func() bool {
			for _, c := range cs {
				if c.Online() || c.Synced() {
					return false
				}
			}
			return true
		})
		s.Start()
		// Every client back before the next stop: each one then lives
		// through every restart (a client still in its reconnect backoff
		// would otherwise sleep through a short-lived server).
		eventually(t, "every client reconnected", func() bool {
			for _, c := range cs {
				if !c.Online() {
					return false
				}
			}
			return true
		})
	}
	n := acks.count()
	eventually(t, "edits acknowledged after the last restart", func() bool { return acks.count() >= n+10 })
	close(stop)
	wg.Wait()
	checkConverged(t, s, "restart", cs, &acks)
	count := map[rune]int{}
	for _, ch := range cs[0].Text() {
		count[ch]++
	}
	total := 0
	for _, chars := range typed {
		for _, ch := range chars {
			if count[ch] != 1 {
				t.Fatalf("typed %q appears %d times in the final text", ch, count[ch])
			}
		}
		total += len(chars)
	}
	if total != len(count) {
		t.Fatalf("%d characters typed, %d distinct in the text", total, len(count))
	}
	for _, c := range cs {
		if c.Reconnects() < 3 {
			t.Fatalf("%s reconnected %d times over 3 restarts", c.Session(), c.Reconnects())
		}
	}
}
