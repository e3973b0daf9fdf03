package collab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// benchHub is a hub on a bbolt file; sync selects real fsyncs.
func benchHub(b *testing.B, sync bool) *Hub {
	b.Helper()
	db, err := storage.Open(filepath.Join(b.TempDir(), "b.db"), storage.Options{NoSync: !sync})
	if err != nil {
		b.Fatal(err)
	}
	h := NewHub(db, Options{})
	b.Cleanup(func() {
		_ = h.Close(context.Background())
		_ = db.Close()
	})
	if _, err := h.Create(context.Background(), "bench", ""); err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkSubmit measures the in-process pipeline (rebase, queue, durable
// commit, apply, fan-out) for one writer that waits for each op, and for
// many concurrent writers whose ops share commits.
func BenchmarkSubmit(b *testing.B) {
	for _, fsync := range []bool{false, true} {
		b.Run(fmt.Sprintf("serial/fsync=%v", fsync), func(b *testing.B) {
			h := benchHub(b, fsync)
			ctx := context.Background()
			op := ot.Op{{Insert: "x"}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := h.Submit(ctx, "bench", Submission{Base: uint64(i), Op: op}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("parallel/fsync=%v", fsync), func(b *testing.B) {
			h := benchHub(b, fsync)
			ctx := context.Background()
			var head atomic.Uint64 // The newest version any writer has seen, like a client's.
			b.SetParallelism(16)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				op := ot.Op{{Insert: "y"}}
				for pb.Next() {
					v, err := h.Submit(ctx, "bench", Submission{Base: head.Load(), Op: op})
					if err != nil {
						b.Error(err)
						return
					}
					for old := head.Load(); v > old && !head.CompareAndSwap(old, v); old = head.Load() {
					}
				}
			})
		})
	}
}

// BenchmarkDeleteByText measures a {"d":"text"} delete (what the browser
// editor sends) in a document of a million code points: based at the head,
// as an editor typing alone bases it, and one version behind, as when
// someone else's edit landed first. The room checks the deleted text in its
// own document either way, whatever the document's length.
func BenchmarkDeleteByText(b *testing.B) {
	for _, behind := range []bool{false, true} {
		b.Run(fmt.Sprintf("behind=%v", behind), func(b *testing.B) {
			h := benchHub(b, false)
			ctx := context.Background()
			text := strings.Repeat("0123456789", 100_000)
			v, err := h.Submit(ctx, "bench", Submission{Op: ot.Op{{Insert: text}}})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N && i < len(text)/2; i++ {
				base := v
				if behind { // Another edit, at the end, lands first.
					b.StopTimer()
					if v, err = h.Submit(ctx, "bench", Submission{Base: v, Op: ot.Op{{Skip: len(text) - i}, {Insert: "."}}}); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				at := len(text)/2 - i - 1 // Backspace from the middle.
				op := ot.Op{{Skip: at}, {Delete: 1, DelText: text[at : at+1]}}
				if v, err = h.Submit(ctx, "bench", Submission{Base: base, Op: op}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBroadcast measures applying one committed op in a room with n
// sessions: encode once, queue the same bytes to every session.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			h := NewHub(nil, Options{})
			r := newRoom(h, "bench", false)
			r.doc = ot.NewDocument("")
			var wg sync.WaitGroup
			var got atomic.Int64
			stop := make(chan struct{})
			for i := 0; i < n; i++ {
				ready := make(chan struct{}, 1)
				s := &session{hub: h, id: fmt.Sprint("s", i), kicked: make(chan struct{})}
				s.out = newOutQueue(1<<20, h.opts.SendQueueBytes, func() {
					select {
					case ready <- struct{}{}:
					default:
					}
				})
				r.sessions[s] = struct{}{}
				r.byID[s.id] = s
				wg.Add(1)
				go func() { // A writer that writes nothing.
					defer wg.Done()
					var batch []outMsg
					for {
						select {
						case <-stop:
						case <-ready:
						}
						for batch = s.out.take(batch); batch != nil; batch = s.out.take(batch) {
							for _, m := range batch {
								got.Add(int64(len(m.data)))
							}
						}
						select {
						case <-stop:
							return
						default:
						}
					}
				}()
			}
			op := ot.Op{{Insert: "typing 🎉"}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := &pendingOp{rec: storage.OpRecord{Version: uint64(i + 1), Op: op, Session: "author", Seq: uint64(i + 1)}}
				r.apply(p)
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			if got.Load() == 0 {
				b.Fatal("nothing delivered")
			}
			h.stop()
		})
	}
}

// BenchmarkDeliver measures the session write path over real loopback
// WebSockets: one broadcast round queues the same bytes to n joined sessions
// and waits until every client has read its frame. from=room is the room's
// way (queued in its turn, written at the end of it, see Wire), from=writer
// a send from another goroutine (the writer goroutine writes). Allocations
// include the client side (the same before and after a change).
func BenchmarkDeliver(b *testing.B) {
	for _, n := range []int{1, 10} {
		for _, from := range []string{"room", "writer"} {
			b.Run(fmt.Sprintf("sessions=%d/from=%s", n, from), func(b *testing.B) {
				benchDeliver(b, n, from == "room")
			})
		}
	}
}

func benchDeliver(b *testing.B, n int, fromRoom bool) {
	h := benchHub(b, false)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, wire, err := Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		h.ServeConn(c, "bench", Peer{Addr: r.RemoteAddr, Wire: wire})
	}))
	b.Cleanup(srv.Close)
	got := make(chan struct{}, 1024)
	sessions := make([]*session, 0, n)
	for i := 0; i < n; i++ {
		benchDial(b, "ws"+strings.TrimPrefix(srv.URL, "http"), got)
	}
	r := h.lookupRoom("bench")
	if err := r.do(context.Background(), func() {
		for s := range r.sessions {
			sessions = append(sessions, s)
		}
	}); err != nil || len(sessions) != n {
		b.Fatalf("%d sessions joined: %v", len(sessions), err)
	}
	msg := encode(OpMsg{Type: TypeOp, Version: 7, Op: ot.Op{{Skip: 12}, {Insert: "typing 🎉"}}, Session: "s", Seq: 3})
	broadcast := func() {
		for _, s := range sessions {
			s.sendHeld(r, msg, h.opts.SendQueue)
		}
		r.releaseWriters()
	}
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	defer func() {
		b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N*n), "cpu-ns/delivery")
	}()
	for i := 0; i < b.N; i++ {
		if fromRoom {
			if err := r.do(context.Background(), broadcast); err != nil {
				b.Fatal(err)
			}
		} else {
			for _, s := range sessions {
				s.send(msg)
			}
		}
		for range sessions {
			<-got
		}
	}
}

// processCPU is the CPU time (user and system) of this process, server and
// clients together.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchDial joins a client that signals got for every frame after its welcome.
func benchDial(b *testing.B, url string, got chan<- struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadLimit(-1)
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"hello"}`)); err != nil {
		b.Fatal(err)
	}
	if _, w, err := c.Read(ctx); err != nil || msgType(w) != TypeWelcome {
		b.Fatalf("no welcome: %s %v", w, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, rd, err := c.Reader(context.Background())
			if err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, rd); err != nil {
				return
			}
			got <- struct{}{}
		}
	}()
	b.Cleanup(func() {
		_ = c.CloseNow()
		<-done
	})
}

// BenchmarkDecodeOpFrame: a received op frame through decodeClient (the
// hand-written fast path) and through encoding/json alone.
func BenchmarkDecodeOpFrame(b *testing.B) {
	data := []byte(`{"type":"op","seq":12,"version":345,"op":[17,"hello ",{"d":"x"}]}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decodeClient(websocket.MessageText, data)
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decodeJSON(data)
		}
	})
}

// BenchmarkLongDocument measures what one keystroke costs the server in a
// document of 1k and of 1M code points: an op from a WebSocket session, its
// rebase (behind=0: based at the head; behind=3: three other edits landed
// first), checks, durable commit (NoSync), apply, the broadcast to another
// session with a cursor, the event for a subscription, and the author's
// ack; and a cursor (presence) update at the head and three ops behind.
// The default SnapshotEvery applies, so the ops pay a snapshot about every
// 1024 of them. Nothing here should grow with the document's length but
// that snapshot.
func BenchmarkLongDocument(b *testing.B) {
	kinds := []struct {
		name string
		op   func(at int) ot.Op // at: a position in a text of x's.
	}{
		{"insert", func(at int) ot.Op { return ot.Op{{Skip: at}, {Insert: "x"}} }},
		{"delete-count", func(at int) ot.Op { return ot.Op{{Skip: at}, {Delete: 1}} }},
		{"delete-text", func(at int) ot.Op { return ot.Op{{Skip: at}, {Delete: 1, DelText: "x"}} }},
		{"multi", func(at int) ot.Op {
			return ot.Op{{Skip: at}, {Delete: 2, DelText: "xx"}, {Insert: "xx"}, {Skip: 40}, {Insert: "x"}}
		}},
		{"emoji", func(at int) ot.Op { return ot.Op{{Skip: at}, {Insert: "👨‍👩‍👧‍👦"}} }},
	}
	for _, size := range []int{1_000, 1_000_000} {
		for _, k := range kinds {
			for _, behind := range []int{0, 3} {
				b.Run(fmt.Sprintf("size=%d/op=%s/behind=%d", size, k.name, behind), func(b *testing.B) {
					benchLongDocOp(b, size, behind, k.op)
				})
			}
		}
		for _, behind := range []int{0, 3} {
			b.Run(fmt.Sprintf("size=%d/presence/behind=%d", size, behind), func(b *testing.B) {
				benchLongDocPresence(b, size, behind)
			})
		}
	}
}

// longDoc is a hub holding "bench", a text of size x's, served over
// WebSocket, with a watching session (a cursor set, frames read and
// dropped) and a drained subscription.
type longDoc struct {
	h    *Hub
	url  string
	head uint64
}

func newLongDoc(b *testing.B, size int) *longDoc {
	b.Helper()
	db, err := storage.Open(filepath.Join(b.TempDir(), "b.db"), storage.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	h := NewHub(db, Options{OpsPerSecond: 1e9, OpBurst: 1 << 30, MessagesPerSec: 1e9})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, wire, err := Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		h.ServeConn(c, "bench", Peer{Addr: r.RemoteAddr, Wire: wire})
	}))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() {
		cancel()
		wg.Wait()
		srv.Close()
		_ = h.Close(context.Background())
		_ = db.Close()
	})
	meta, err := h.Create(ctx, "bench", strings.Repeat("x", size))
	if err != nil {
		b.Fatal(err)
	}
	d := &longDoc{h: h, url: "ws" + strings.TrimPrefix(srv.URL, "http"), head: meta.Version}
	w := dialLongDoc(b, d.url, func([]byte) {})
	cursor := fmt.Sprintf(`{"type":"presence","version":%d,"cursor":{"anchor":%d,"head":%d}}`, d.head, size/3, size/3)
	if err := w.Write(ctx, websocket.MessageText, []byte(cursor)); err != nil {
		b.Fatal(err)
	}
	sub, err := h.Subscribe(ctx, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer sub.Close()
		for {
			if _, err := sub.Next(ctx); err != nil {
				return
			}
		}
	}()
	return d
}

// author joins a session whose acks (versions) arrive on the returned channel.
func (d *longDoc) author(b *testing.B) (*websocket.Conn, <-chan uint64) {
	b.Helper()
	acks := make(chan uint64, 1)
	c := dialLongDoc(b, d.url, func(m []byte) {
		switch msgType(m) {
		case TypeAck:
			var a Ack
			_ = json.Unmarshal(m, &a)
			acks <- a.Version
		case TypeError:
			b.Errorf("error: %s", m)
			acks <- 0
		}
	})
	return c, acks
}

// dialLongDoc joins a session, reads its welcome, and hands every later
// frame to onFrame until the benchmark ends.
func dialLongDoc(b *testing.B, url string, onFrame func([]byte)) *websocket.Conn {
	b.Helper()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadLimit(-1)
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"hello"}`)); err != nil {
		b.Fatal(err)
	}
	if _, w, err := c.Read(ctx); err != nil || msgType(w) != TypeWelcome {
		b.Fatalf("no welcome: %.100s %v", w, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, m, err := c.Read(ctx)
			if err != nil {
				return
			}
			onFrame(m)
		}
	}()
	b.Cleanup(func() {
		_ = c.CloseNow()
		<-done
	})
	return c
}

// others commits n edits of someone else, at the start of the text.
func (d *longDoc) others(b *testing.B, n int) {
	for range n {
		v, err := d.h.Submit(context.Background(), "bench", Submission{Base: d.head, Op: ot.Op{{Insert: "x"}}})
		if err != nil {
			b.Fatal(err)
		}
		d.head = v
	}
}

func benchLongDocOp(b *testing.B, size, behind int, opAt func(at int) ot.Op) {
	d := newLongDoc(b, size)
	c, acks := d.author(b)
	ctx := context.Background()
	length := size
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		base := d.head
		if behind > 0 || length < size/2+64 {
			b.StopTimer()
			if length < size/2+64 { // Deletes used up the text after "at": type it again.
				if _, err := d.h.Submit(ctx, "bench", Submission{Base: d.head, Op: ot.Op{{Insert: strings.Repeat("x", size)}}}); err != nil {
					b.Fatal(err)
				}
				d.head++
				length += size
				base = d.head
			}
			d.others(b, behind)
			length += behind
			b.StartTimer()
		}
		op := opAt(size / 2)
		js, err := json.Marshal(op)
		if err != nil {
			b.Fatal(err)
		}
		msg := fmt.Appendf(nil, `{"type":"op","seq":%d,"version":%d,"op":%s}`, i+1, base, js)
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			b.Fatal(err)
		}
		if d.head = <-acks; d.head == 0 {
			b.FailNow()
		}
		length += lenDelta(op)
	}
}

func benchLongDocPresence(b *testing.B, size, behind int) {
	d := newLongDoc(b, size)
	d.author(b)
	d.others(b, behind)
	ctx := context.Background()
	r := d.h.lookupRoom("bench")
	var s *session
	if err := r.do(ctx, func() {
		for x := range r.sessions {
			if x.pres.Cursor == nil {
				s = x // The author, or the watcher if its cursor is still on its way.
			}
		}
	}); err != nil || s == nil {
		b.Fatal("no session", err)
	}
	v := d.head - uint64(behind)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		at := size/2 + i%64
		u := presenceUpdate{version: &v, cursor: CursorField{Set: true, Sel: &ot.Selection{Anchor: at, Head: at}}}
		if err := r.do(ctx, func() { r.updatePresence(s, u) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotText measures what the room goroutine spends on the text
// of the snapshot that a commit carries about every SnapshotEvery ops: the
// text at the head with the commit's batch of ops (typing, spread over the
// document) applied. It must grow with the document's length, once; it
// should not grow with the length times the batch.
func BenchmarkSnapshotText(b *testing.B) {
	for _, size := range []int{1_000, 1_000_000} {
		for _, batch := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("size=%d/batch=%d", size, batch), func(b *testing.B) {
				h := NewHub(nil, Options{})
				defer h.stop()
				r := newRoom(h, "bench", false)
				r.doc = ot.NewDocument(strings.Repeat("x", size))
				for i := range batch {
					op := ot.Op{{Skip: 1 + (i*7919)%(size-1)}, {Insert: "y"}}
					r.inflight = append(r.inflight, &pendingOp{rec: storage.OpRecord{Version: uint64(i + 1), Op: op}})
				}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if text, _ := r.textAfter(r.inflight); len(text) != size+batch {
						b.Fatalf("text of %d bytes", len(text))
					}
				}
			})
		}
	}
}
