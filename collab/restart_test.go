package collab_test

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
)

// TestRestart stops the whole server (HTTP, hub, storage) and starts it again
// on the same data file and address, three times, while clients keep
// editing, also while it is down. They resync; every acknowledged op is in
// the log where its ack said, none is applied twice, and all converge.
func TestRestart(t *testing.T) {
	s := newLiveServer(t, collab.Options{}, 0, false)
	var acks ackLog
	cs := dialAll(t, s, "restart", 4, &acks)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 5))
			for range 3000 { // Bounded even if stop never comes.
				select {
				case <-stop:
					return
				default:
				}
				_ = c.Submit(randomEdit(r, len([]rune(c.Text()))))
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
		s.stop()
		eventually(t, "every client offline with unsent edits", func() bool {
			for _, c := range cs {
				if c.Online() || c.Synced() {
					return false
				}
			}
			return true
		})
		s.start()
	}
	n := acks.count()
	eventually(t, "edits acknowledged after the last restart", func() bool { return acks.count() >= n+10 })
	close(stop)
	wg.Wait()
	checkConverged(t, s, "restart", cs, &acks)
	for _, c := range cs {
		if c.Reconnects() < 3 {
			t.Fatalf("%s reconnected %d times over 3 restarts", c.Session(), c.Reconnects())
		}
	}
}
