package collab

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// storedDoc opens a bbolt file (sync: real fsyncs) holding document "d"
// with n one-character inserts by ten sessions, committed in batches of
// 100, with a snapshot every 1,000 (as a room writes one about every
// SnapshotEvery ops).
// openedDoc is a hub over storedDoc's 11,000 ops with the document's room
// open, and the room's head.
func openedDoc(b *testing.B) (*Hub, *room, uint64) {
	b.Helper()
	h := NewHub(storedDoc(b, false, 11000), Options{})
	var head uint64
	_ = h.withRoom(context.Background(), "d", func(r *room) { head = r.head })
	return h, h.lookupRoom("d"), head
}

func storedDoc(b *testing.B, sync bool, n int) *storage.DB {
	b.Helper()
	db, err := storage.Open(filepath.Join(b.TempDir(), "r.db"), storage.Options{NoSync: !sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	if _, err := db.Create(ctx, "d", ""); err != nil {
		b.Fatal(err)
	}
	var batch []storage.OpRecord
	for v := 1; v <= n; v++ {
		s := v % 10
		batch = append(batch, storage.OpRecord{Version: uint64(v), Op: typed(v),
			Session: fmt.Sprint("session-", s), Seq: uint64(v/10 + 1), Author: fmt.Sprint("author ", s), Time: time.Now()})
		if len(batch) == 100 || v == n {
			var snap *storage.Snapshot
			if v%1000 == 0 && v < n { // A room loading it has a full window.
				snap = &storage.Snapshot{Version: uint64(v), Text: strings.Repeat("x", v)}
			}
			if err := db.Append(ctx, "d", batch, v, snap); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return db
}

// typed is the op of version v of storedDoc: an "x" at the end of v-1.
func typed(v int) ot.Op {
	if v == 1 {
		return ot.Op{{Insert: "x"}}
	}
	return ot.Op{{Skip: v - 1}, {Insert: "x"}}
}

// BenchmarkRoomStorageReads measures the storage reads that a joining or
// resuming client can make its room do: a catch-up of CatchUpLimit ops
// from before the op window; one op (a legacy resume's last, resumeHolder); a session's last seq (SessionSeq) on a
// document with journaled records (being edited: it checkpoints first) or
// none. room-wait is
// the longest a request to the room waits during one Subscribe from
// CatchUpLimit ops back, room-turn the room's own time for it (and for a
// hello from as far back, and for a legacy resume's holder check), op-wait
// how long an editor's op takes to be acknowledged while clients resume
// from that far back, one after the other.
func BenchmarkRoomStorageReads(b *testing.B) {
	ctx := context.Background()
	b.Run("ops=10000", func(b *testing.B) {
		db := storedDoc(b, false, 11000)
		for b.Loop() {
			if ops, err := db.Ops(ctx, "d", 1000, 11000); err != nil || len(ops) != 10000 {
				b.Fatal(len(ops), err)
			}
		}
	})
	b.Run("ops=1", func(b *testing.B) {
		// A legacy resume's last op, older than the window (resumeHolder).
		db := storedDoc(b, false, 11000)
		for b.Loop() {
			if ops, err := db.Ops(ctx, "d", 4999, 5000); err != nil || len(ops) != 1 {
				b.Fatal(len(ops), err)
			}
		}
	})
	for _, journaled := range []bool{false, true} {
		b.Run(fmt.Sprintf("sessionseq/journaled=%v", journaled), func(b *testing.B) {
			db := storedDoc(b, true, 1000)
			v := 1000
			for b.Loop() {
				if journaled {
					b.StopTimer()
					v++
					rec := storage.OpRecord{Version: uint64(v), Op: typed(v), Session: "w", Seq: uint64(v)}
					if err := db.Append(ctx, "d", []storage.OpRecord{rec}, v, nil); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				if _, _, err := db.SessionSeq(ctx, "d", "session-3"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("room-wait/subscribe=10000", func(b *testing.B) {
		// The longest a request to the room (an editor's op, say) waits
		// while one Subscribe from CatchUpLimit ops back is served.
		h, r, head := openedDoc(b)
		defer h.Close(ctx)
		var worst []time.Duration
		for b.Loop() {
			done := make(chan error, 1)
			go func() {
				sub, err := h.Subscribe(ctx, "d", u64(head-uint64(h.opts.CatchUpLimit)))
				if err == nil {
					sub.Close()
				}
				done <- err
			}()
			var max time.Duration
			for waiting := true; waiting; {
				select {
				case err := <-done:
					if err != nil {
						b.Fatal(err)
					}
					waiting = false
				default:
				}
				start := time.Now()
				_ = r.do(ctx, func() {})
				max = maxDur(max, time.Since(start))
			}
			worst = append(worst, max)
		}
		slices.Sort(worst)
		b.ReportMetric(float64(worst[len(worst)/2].Microseconds()), "p50-max-wait-µs")
	})
	b.Run("room-turn/subscribe=10000", func(b *testing.B) {
		// The room goroutine's own time for a Subscribe from CatchUpLimit
		// ops back, with the older ops already read by the subscriber.
		h, r, head := openedDoc(b)
		defer h.Close(ctx)
		since := u64(head - uint64(h.opts.CatchUpLimit))
		var rd *joinRead
		for b.Loop() {
			sub := &Subscription{ch: make(chan Event, 1), done: make(chan struct{})}
			var need *readNeed
			var e *Error
			_ = r.do(ctx, func() { need, e = r.subscribe(sub, since, rd) })
			switch {
			case e != nil:
				b.Fatal(e)
			case need != nil:
				rd, _ = h.readFor(ctx, "d", need, rd)
			default:
				_ = r.do(ctx, func() { delete(r.subs, sub) })
			}
		}
	})
	b.Run("room-turn/hello=10000", func(b *testing.B) {
		// The room goroutine's own time for a hello from CatchUpLimit ops
		// back, with what the client reads and encodes off the room
		// already done.
		h, r, head := openedDoc(b)
		defer h.Close(ctx)
		since := u64(head - uint64(h.opts.CatchUpLimit))
		var rd *joinRead
		for b.Loop() {
			s := fakeSession(r, "c", "C")
			s.since = since
			var need *readNeed
			var e *Error
			_ = r.do(ctx, func() { need, e = r.join(s, rd) })
			if e != nil {
				b.Fatal(e)
			}
			if need != nil {
				rd, _ = h.readFor(ctx, "d", need, rd)
			} else {
				_ = r.do(ctx, func() { r.leave(s) })
			}
		}
	})
	b.Run("room-turn/legacy-resume", func(b *testing.B) {
		// The room goroutine's own time for a legacy resume's holder check
		// (resumeHolder) of a session whose last op is older than the
		// window, with that op already read by the resuming client.
		h, r, _ := openedDoc(b)
		defer h.Close(ctx)
		s := &session{id: "session-3", name: "author 3", nameFixed: true}
		last := seqRec{seq: 500, version: 4993} // storedDoc's: session-3, author 3.
		var rd *joinRead
		for b.Loop() {
			need := &readNeed{}
			var e *Error
			_ = r.do(ctx, func() {
				need.base, need.head = r.base, r.head
				e = r.resumeHolder(s, last, rd, need)
			})
			if e != nil {
				b.Fatal(e)
			}
			// An if, not a switch: go1.26.8's compiler fails on a method
			// call as a switch case inside a b.Loop loop.
			if need.any() {
				rd, _ = h.readFor(ctx, "d", need, rd)
			}
		}
	})
	for _, resuming := range []bool{false, true} {
		b.Run(fmt.Sprintf("op-wait/resuming=%v", resuming), func(b *testing.B) {
			db := storedDoc(b, false, 11000)
			h := NewHub(db, Options{})
			defer h.Close(ctx)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if resuming {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						var head uint64
						_ = h.withRoom(ctx, "d", func(r *room) { head = r.head })
						sub, err := h.Subscribe(ctx, "d", u64(head-uint64(h.opts.CatchUpLimit)))
						if err != nil {
							b.Error(err)
							return
						}
						sub.Close()
					}
				}()
			}
			var took []time.Duration
			base := uint64(11000)
			for b.Loop() {
				start := time.Now()
				v, err := h.Submit(ctx, "d", Submission{Base: base, Op: ot.Op{{Insert: "y"}}})
				if err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
				base = v
			}
			close(stop)
			wg.Wait()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(took[len(took)-1].Microseconds()), "max-µs")
		})
	}
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}
