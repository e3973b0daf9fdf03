package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/collab/client"
	"github.com/foliodocs/folio/ot"
)

func TestFlightsBothOrders(t *testing.T) {
	d := &docRun{flights: map[opKey]*flight{}, editors: make([]*editor, 3)}
	t0 := time.Unix(100, 0)
	k := opKey{"s1", 1}

	// The author records first; both others arrive later.
	if early := d.sent(k, t0); early != nil {
		t.Fatalf("early = %v", early)
	}
	if got := d.arrived(k, t0.Add(time.Millisecond)); !got.Equal(t0) {
		t.Fatalf("arrived returned %v, want %v", got, t0)
	}
	d.arrived(k, t0.Add(2*time.Millisecond))
	if len(d.flights) != 0 {
		t.Fatalf("flight kept after every editor received it: %v", d.flights)
	}

	// An arrival races ahead of the author's record.
	k2 := opKey{"s1", 2}
	if got := d.arrived(k2, t0); !got.IsZero() {
		t.Fatalf("arrived before send returned %v", got)
	}
	if early := d.sent(k2, t0.Add(time.Millisecond)); len(early) != 1 {
		t.Fatalf("early = %v, want one arrival", early)
	}
	d.arrived(k2, t0.Add(2*time.Millisecond))
	if len(d.flights) != 0 {
		t.Fatalf("flights left: %v", d.flights)
	}
}

func TestWindowContains(t *testing.T) {
	var w window
	now := time.Now()
	if w.contains(now) {
		t.Fatal("an unstarted window contains nothing")
	}
	w.start.Store(now.UnixNano())
	if !w.contains(now.Add(time.Second)) || w.contains(now.Add(-time.Nanosecond)) {
		t.Fatal("open window bounds wrong")
	}
	w.end.Store(now.Add(time.Second).UnixNano())
	if w.contains(now.Add(time.Second)) || !w.contains(now.Add(time.Second-1)) {
		t.Fatal("closed window bounds wrong")
	}
}

func TestLaterSkipsAheadWhenBehind(t *testing.T) {
	rng := newTypist(1, 10).rng
	now := time.Now()
	if n := later(now.Add(-time.Hour), now, 10, rng); n.Before(now) {
		t.Fatalf("next %v is in the past: a late loop must not burst", n)
	}
	n := later(now, now, 10, rng)
	if d := n.Sub(now); d < 80*time.Millisecond || d > 120*time.Millisecond {
		t.Fatalf("period %v, want 100 ms ± 20 %%", d)
	}
}

// TestMirrorFollowsEditsDuringAck: two edits made after the client handled
// ack 2 but before OnAck(2) ran: the client sent the first as seq 3 at once
// and buffered the second, which it sends as seq 4 on ack 3. The mirror
// follows without a mismatch.
func TestMirrorFollowsEditsDuringAck(t *testing.T) {
	d := &docRun{flights: map[opKey]*flight{}}
	e := &editor{doc: d, win: &window{}, session: "s"}
	d.editors = []*editor{e, {}}
	t0 := time.Unix(100, 0)
	e.submitted(t0) // Seq 1 in flight.
	e.acked(1, t0, false)
	e.submitted(t0) // Seq 2 in flight; the client handles its ack, then:
	e.submitted(t0) // sent at once as seq 3 (the mirror thinks it buffered),
	e.submitted(t0) // buffered by the client.
	e.acked(2, t0, true)
	if !e.inflight || e.inflightSeq != 3 {
		t.Fatalf("after ack 2: inflight %v seq %d, want seq 3", e.inflight, e.inflightSeq)
	}
	e.acked(3, t0, true) // The client sent its buffer as seq 4.
	if !e.inflight || e.inflightSeq != 4 {
		t.Fatalf("after ack 3: inflight %v seq %d, want seq 4", e.inflight, e.inflightSeq)
	}
	e.acked(4, t0, false)
	if e.inflight || e.stats.mismatches != 0 {
		t.Fatalf("inflight %v, %d mismatches; want none", e.inflight, e.stats.mismatches)
	}
}

// TestMirrorResyncsAfterReconnect replays what a crash of the server did to
// the mirror: edits typed while offline were resolved by the client in a way
// the mirror could not follow (it thought one was still buffered), and every
// later ack was measured from the ack before it: 200 ms at 5 edits/s. After
// a reconnect the first ack now resynchronizes the mirror instead.
func TestMirrorResyncsAfterReconnect(t *testing.T) {
	d := &docRun{flights: map[opKey]*flight{}}
	w := &window{}
	w.start.Store(1) // Everything from 1970 on is measured.
	e := &editor{doc: d, win: w, session: "s", online: true}
	d.editors = []*editor{e, {}}
	t0 := time.Unix(100, 0)
	e.submitted(t0) // Seq 1 in flight when the server dies.
	e.submitted(t0) // Typed while offline.
	e.lost = true   // OnStatus(StatusOnline) after the reconnect.
	e.acked(1, t0.Add(2*time.Second), false)
	if e.inflight || e.buffered || e.lastSeq != 1 || e.stats.ack.summary().Count != 0 {
		t.Fatalf("after the first ack: inflight %v buffered %v lastSeq %d, %d samples",
			e.inflight, e.buffered, e.lastSeq, e.stats.ack.summary().Count)
	}
	t1 := t0.Add(3 * time.Second)
	e.submitted(t1) // Sent at once as seq 2.
	e.acked(2, t1.Add(time.Millisecond), false)
	if s := e.stats.ack.summary(); s.Count != 1 || s.Max != 1 || e.stats.mismatches != 0 {
		t.Fatalf("ack of seq 2: %+v, %d mismatches; want one 1 ms sample", s, e.stats.mismatches)
	}
}

func TestDeleteOpCarriesText(t *testing.T) {
	for _, tc := range []struct {
		name   string
		text   string
		pos, n int
		want   string // JSON of the op; "" when it must not fit.
	}{
		{"middle", "hello world", 5, 1, `[5,{"d":" "}]`},
		{"at the start", "hello", 0, 2, `[{"d":"he"}]`},
		{"to the end", "hello world", 6, 5, `[6,{"d":"world"}]`},
		{"emoji", "a😀b", 1, 1, `[1,{"d":"😀"}]`},
		{"ZWJ sequence", "a👩‍💻b", 1, 3, `[1,{"d":"👩‍💻"}]`},
		{"combining mark", "e\u0301x", 0, 2, `[{"d":"e\u0301"}]`},
		{"CRLF", "a\r\nb", 1, 2, `[1,{"d":"\r\n"}]`},
		{"past the end", "abc", 2, 2, ""},
		{"at the end", "abc", 3, 1, ""},
		{"empty text", "", 0, 1, ""},
		{"nothing", "abc", 1, 0, ""},
		{"before the start", "abc", -1, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, err := deleteOp(ot.NewDocument(tc.text), tc.pos, tc.n)
			if tc.want == "" {
				if !errors.Is(err, errTextShrank) {
					t.Fatalf("deleteOp = %v, %v; want errTextShrank", op, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(op)
			if err != nil {
				t.Fatal(err)
			}
			var want ot.Op
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			if wb, _ := json.Marshal(want); string(b) != string(wb) {
				t.Fatalf("op %s, want %s", b, wb)
			}
			if _, err := ot.Apply(tc.text, op); err != nil {
				t.Fatalf("the op does not apply to its text: %v", err)
			}
		})
	}
}

// TestTypistDeletesByText: every delete the typist makes, built from the
// text as the editor builds it, names exactly the text it deletes (ot.Apply
// checks it) and does what the edit says.
func TestTypistDeletesByText(t *testing.T) {
	tp := newTypist(11, 300)
	var doc []rune
	text := ""
	deletes := 0
	for i := 0; i < 5000; i++ {
		ed := tp.next(len(doc))
		next := applyEdit(t, doc, ed)
		if ed.del > 0 {
			deletes++
			op, err := deleteOp(ot.NewDocument(text), ed.pos, ed.del)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if got := op[len(op)-1].DelText; got != string(doc[ed.pos:ed.pos+ed.del]) {
				t.Fatalf("step %d: delete carries %q, want %q", i, got, string(doc[ed.pos:ed.pos+ed.del]))
			}
			got, err := ot.Apply(text, op)
			if err != nil || got != string(next) {
				t.Fatalf("step %d: applying %v gives %q, %v; want %q", i, op, got, err, string(next))
			}
		}
		doc, text = next, string(next)
	}
	if deletes == 0 {
		t.Fatal("the typist made no delete")
	}
}

// benchServer starts an in-process server with document doc for a test.
func benchServer(t *testing.T, ctx context.Context, doc string) *target {
	t.Helper()
	s, err := startLocal(localOptions{}, zerolog.NewTestWriter(t))
	if err != nil {
		t.Fatal(err)
	}
	tgt := newTarget(target{baseURL: s.url, stop: s.close})
	t.Cleanup(func() {
		if err := tgt.stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if err := tgt.create(ctx, doc); err != nil {
		t.Fatal(err)
	}
	return tgt
}

// dialEditor connects a simulated editor of d, deletes by text or count.
func dialEditor(t *testing.T, ctx context.Context, tgt *target, d *docRun, seed uint64, deleteText bool) *editor {
	t.Helper()
	e := &editor{doc: d, typist: newTypist(seed, 40), rng: rand.New(rand.NewPCG(seed, 7)), win: &window{},
		codes: &codeCounts{}, deleteText: deleteText}
	c, err := client.Dial(ctx, tgt.wsURL(d.id), e.options(fmt.Sprintf("editor %d", seed), tgt))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e.c, e.session = c, c.Session()
	d.editors = append(d.editors, e)
	return e
}

// eventually waits until cond holds, polling; nothing is timed by it.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestEditorsDeleteByTextOverTheWire: two editors type at once into one
// document of a real server, so their ops cross and the server and clients
// rebase deletes by text over the other's ops. Every delete the server
// broadcasts carries the text it deletes, each one matches the document it
// applies to, nothing is refused, and everyone converges.
func TestEditorsDeleteByTextOverTheWire(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := &docRun{id: "deletes", flights: map[opKey]*flight{}}
	tgt := benchServer(t, ctx, d.id)
	var mu sync.Mutex
	var ops []ot.Op // Broadcast order, from version 1: the document was empty.
	obs, err := client.Dial(ctx, tgt.wsURL(d.id), client.Options{Name: "observer", HTTPClient: tgt.http,
		OnRemoteOp: func(m collab.OpMsg) {
			mu.Lock()
			defer mu.Unlock()
			ops = append(ops, m.Op)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	editors := []*editor{dialEditor(t, ctx, tgt, d, 1, true), dialEditor(t, ctx, tgt, d, 2, true)}
	var wg sync.WaitGroup
	for _, e := range editors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				if err := e.edit(); err != nil {
					t.Errorf("edit %d: %v", i, err)
					return
				}
				if i%5 == 4 { // Let ops reach the server now and then, as typing does.
					if err := e.c.WaitSynced(ctx); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, e := range editors {
		if err := e.c.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	server, version, err := tgt.text(ctx, d.id)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "every client at the server's version", func() bool {
		return obs.Version() == version && editors[0].c.Version() == version && editors[1].c.Version() == version
	})
	for i, e := range editors {
		if e.errors.Load() != 0 || e.c.Text() != server {
			t.Fatalf("editor %d: %d errors %v, text equal to the server's: %v", i, e.errors.Load(), e.codes.take(), e.c.Text() == server)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	text, deletes := "", 0
	for i, op := range ops {
		for _, c := range op {
			if c.Delete > 0 {
				deletes++
				if c.DelText == "" {
					t.Fatalf("op %d: %v deletes by count", i+1, op)
				}
			}
		}
		if text, err = ot.Apply(text, op); err != nil { // Checks each delete's text.
			t.Fatalf("op %d: %v", i+1, err)
		}
	}
	if deletes == 0 || text != server || len(ops) != int(version) {
		t.Fatalf("%d ops with %d deletes for version %d; replayed text equal to the server's: %v", len(ops), deletes, version, text == server)
	}
}

// TestEditorRemakesStaleDelete: another editor changes the text between an
// editor building a delete from it and submitting it. The client refuses the
// stale op without sending it, and the editor's next edit is made from the
// new text.
func TestEditorRemakesStaleDelete(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := &docRun{id: "stale", flights: map[opKey]*flight{}}
	tgt := benchServer(t, ctx, d.id)
	a, b := dialEditor(t, ctx, tgt, d, 1, true), dialEditor(t, ctx, tgt, d, 2, true)
	a.typist.maxLen = 1 // Over it: mostly deletes.
	if err := a.c.Insert(0, "abcdefghijklmnop"); err != nil {
		t.Fatal(err)
	}
	if err := a.c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b to see a's text", func() bool { return b.c.Text() == "abcdefghijklmnop" })
	var stale ot.Op
	for stale == nil {
		op, err := a.nextOp()
		if err != nil {
			t.Fatal(err)
		}
		if c := op[len(op)-1]; c.Delete > 0 {
			stale = op
		}
	}
	// Same length, other letters: only the deleted text tells that it changed.
	if err := b.c.Submit(ot.Op{{Delete: 16}, {Insert: "ABCDEFGHIJKLMNOP"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a to see b's text", func() bool { return a.c.Text() == "ABCDEFGHIJKLMNOP" })
	if err := a.c.Submit(stale); err == nil {
		t.Fatalf("the client took %v, built from the old text", stale)
	}
	if err := a.edit(); err != nil {
		t.Fatal(err)
	}
	if err := a.c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	server, version, err := tgt.text(ctx, d.id)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "b at the server's version", func() bool { return b.c.Version() == version })
	if a.errors.Load()+b.errors.Load() != 0 || a.c.Text() != server || b.c.Text() != server {
		t.Fatalf("errors %d+%d; texts %q, %q, server %q", a.errors.Load(), b.errors.Load(), a.c.Text(), b.c.Text(), server)
	}
}
