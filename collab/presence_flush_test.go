package collab

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// roomWithoutLoop is a room driven by the test on its own goroutine.
func roomWithoutLoop(t *testing.T, opts Options) *room {
	t.Helper()
	h := NewHub(nil, opts)
	r := newRoom(h, "p", false)
	r.doc = ot.NewDocument("héllo 🎉")
	t.Cleanup(func() { r.stopTimers(); h.stop() })
	return r
}

func fakeSession(r *room, id, name string) *session {
	return &session{hub: r.hub, id: id, name: name, color: cleanColor("", id), role: RoleEdit,
		out: newOutQueue(r.hub.opts.SendQueue, r.hub.opts.SendQueueBytes, func() {}), kicked: make(chan struct{})}
}

// drainView applies the presence and leave messages queued for s to view.
func drainView(t *testing.T, s *session, view map[string]bool) {
	t.Helper()
	for _, m := range s.out.take(nil) {
		var msg struct{ Type, Session string }
		if err := json.Unmarshal(m.data, &msg); err != nil {
			t.Fatal(err)
		}
		switch msg.Type {
		case TypePresence:
			view[msg.Session] = true
		case TypeLeave:
			delete(view, msg.Session)
		}
	}
}

// TestPresenceNeverCutsASession: a recipient whose queue is over half full
// misses presence instead of being cut, and later gets the current state of
// everyone it missed, leaves included.
func TestPresenceNeverCutsASession(t *testing.T) {
	r := roomWithoutLoop(t, Options{SendQueue: 8})
	x := fakeSession(r, "x", "X")
	if _, e := r.join(x, nil); e != nil {
		t.Fatal(e)
	}
	x.out.take(nil) // The welcome.
	for i := 0; i < 20; i++ {
		if _, e := r.join(fakeSession(r, fmt.Sprintf("s%02d", i), "S"), nil); e != nil {
			t.Fatal(e)
		}
	}
	r.flushPresence()
	select {
	case <-x.kicked:
		t.Fatal("presence cut the session")
	default:
	}
	if n := x.out.len(); n > 4 || len(x.presMissed) == 0 {
		t.Fatalf("%d queued, %d missed: want at most half the queue and the rest remembered", n, len(x.presMissed))
	}
	r.leave(r.byID["s03"])
	r.leave(r.byID["s17"])
	view := map[string]bool{}
	for i := 0; i < 20 && (x.out.len() > 0 || x.presMissed != nil || len(r.presLeaves) > 0); i++ {
		drainView(t, x, view)
		r.flushPresence()
	}
	drainView(t, x, view)
	if len(view) != 18 || view["s03"] || view["s17"] || !view["s00"] || !view["s19"] {
		t.Fatalf("x sees %d peers: %v", len(view), view)
	}
}

// TestJoinAndLeaveWithinATickCostNothing: a session that leaves before its
// join was flushed is never announced, and its leave is not sent either.
func TestJoinAndLeaveWithinATickCostNothing(t *testing.T) {
	r := roomWithoutLoop(t, Options{})
	a, b := fakeSession(r, "a", "A"), fakeSession(r, "b", "B")
	_, _ = r.join(a, nil)
	_, _ = r.join(b, nil)
	r.flushPresence() // The timer's flush.
	a.out.take(nil)
	c := fakeSession(r, "c", "C")
	_, _ = r.join(c, nil) // Waits for the flush.
	r.leave(c)
	r.flushPresence()
	if got := a.out.take(nil); len(got) != 0 {
		t.Fatalf("a got %d messages about a session that came and went: %s", len(got), got[0].data)
	}
}

// TestPresenceEncodingMatchesJSON: the hand-written encoders write exactly
// what encoding/json writes for the same structs.
func TestPresenceEncodingMatchesJSON(t *testing.T) {
	r := roomWithoutLoop(t, Options{})
	names := []string{"Ann", `<b>"Bob" & 'co'</b>`, "Zoë 🎉\u2028x", "\\back\\slash\t"}
	for i, n := range names {
		s := fakeSession(r, fmt.Sprintf("id-%d", i), n)
		if _, e := r.join(s, nil); e != nil {
			t.Fatal(e)
		}
		if i%2 == 1 {
			s.pres.Cursor = &ot.Selection{Anchor: 3, Head: i}
			s.presBytes = nil
		}
		s.pres.Name = n // Unclean on purpose: escaping is what is tested.
		s.presBytes = nil
		p := s.pres
		if want := encode(p); string(s.presenceEntry()) != string(want) {
			t.Errorf("entry\n got %s\nwant %s", s.presenceEntry(), want)
		}
		p.Type = TypePresence
		if want := encode(p); string(s.presenceMsg()) != string(want) {
			t.Errorf("message\n got %s\nwant %s", s.presenceMsg(), want)
		}
	}
	text := "text <&> \"quoted\" 🎉"
	for _, w := range []Welcome{
		{Type: TypeWelcome, Session: "new", Version: 9, Role: "view", Text: &text},
		{Type: TypeWelcome, Session: "new", Version: 9, Role: "edit"},
		{Type: TypeWelcome, Session: "new", Version: 9, Role: "edit", Ops: []OpMsg{{Version: 9, Op: ot.Op{{Insert: "x"}}, Session: "id-1", Seq: 4}}},
		{Type: TypeWelcome, Session: "new", Version: 9, Role: "edit", Ops: []OpMsg{
			{Version: 7, Op: ot.Op{{Insert: "<b>&"}}, Session: "id-1", Seq: 4},
			{Version: 8, Op: ot.Op{{Skip: 2}, {Delete: 1, DelText: "\u2028"}}, Session: "id-2", Seq: 1},
			{Version: 9, Op: ot.Op{{Insert: "🎉\""}}, Session: "id-1", Seq: 5}}},
	} {
		var textJSON []byte
		if w.Text != nil {
			textJSON = appendJSONString(nil, *w.Text) // As headTextJSON encodes it.
		}
		recs := make([]storage.OpRecord, len(w.Ops))
		for i, m := range w.Ops {
			recs[i] = storage.OpRecord{Version: m.Version, Op: m.Op, Session: m.Session, Seq: m.Seq}
		}
		// Every split of the catch-up between entries encoded by a hello's
		// goroutine and ops the room encodes, stored or in its window.
		for k := 0; k <= len(recs); k++ {
			rest := opSpan{stored: recs[k:min(k+1, len(recs))], recent: recs[min(k+1, len(recs)):]}
			ops := welcomeOps{enc: appendCatchUp(nil, opSpan{recent: recs[:k]}), rest: rest}
			got := r.encodeWelcome(&w, nil, textJSON, ops)
			w := w
			w.Peers = r.peers(nil)
			if want := encode(w); string(got) != string(want) {
				t.Errorf("welcome\n got %s\nwant %s", got, want)
			}
		}
	}
}

// TestReconnectWithinATickSendsNoLeave: a session id that leaves and joins
// again before the flush is announced by its presence alone.
func TestReconnectWithinATickSendsNoLeave(t *testing.T) {
	r := roomWithoutLoop(t, Options{})
	a, b := fakeSession(r, "a", "A"), fakeSession(r, "b", "B")
	_, _ = r.join(a, nil)
	_, _ = r.join(b, nil)
	r.flushPresence() // The timer's flush.
	a.out.take(nil)
	r.leave(b)
	b2 := fakeSession(r, "b", "B")
	b2.resumed = false
	_, _ = r.join(b2, nil)
	r.flushPresence()
	got := a.out.take(nil)
	if len(got) != 1 || msgType(got[0].data) != TypePresence {
		t.Fatalf("a got %d messages, want one presence", len(got))
	}
}

// TestPresenceRidesWithOps: a presence change waits for the timer, unless an
// op is broadcast first; then it is queued right behind the op, so both
// leave in one writer batch.
func TestPresenceRidesWithOps(t *testing.T) {
	r := roomWithoutLoop(t, Options{})
	a, b := fakeSession(r, "a", "A"), fakeSession(r, "b", "B")
	_, _ = r.join(a, nil)
	_, _ = r.join(b, nil)
	r.flushPresence()
	a.out.take(nil)
	b.presSent = time.Now().Add(-presenceInterval) // Its own interval has passed.
	v := r.head
	r.updatePresence(b, presenceUpdate{version: &v, cursor: CursorField{Set: true, Sel: &ot.Selection{Anchor: 1, Head: 1}}})
	if n := a.out.len(); n != 0 || r.presTimer == nil {
		t.Fatalf("presence change: %d queued, timer armed %v; want it waiting for the timer", n, r.presTimer != nil)
	}
	r.inflight = []*pendingOp{{rec: storage.OpRecord{Version: v + 1, Op: ot.Op{{Insert: "x"}}, Session: "b", Seq: 1}}}
	r.finishCommit(commitResult{})
	got := a.out.take(nil)
	if len(got) != 2 || msgType(got[0].data) != TypeOp || msgType(got[1].data) != TypePresence {
		t.Fatalf("a got %d messages after the op, want the op then b's presence", len(got))
	}
	if r.presTimer != nil {
		t.Error("the timer stays armed with nothing left to flush")
	}
}

// TestOpEncodingMatchesJSON: the hand-written op and ack encoders write
// exactly what encoding/json writes, HTML escaping of the op's text included.
func TestOpEncodingMatchesJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "é", "🎉", "<", ">", "&", "\u2028", "\u2029", "\"", "\\", "\n", "\t", "\x01", "ok", "\u00e2"}
	text := func() string {
		var b strings.Builder
		for range 1 + rng.IntN(6) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	for i := range 500 {
		var op ot.Op
		if rng.IntN(2) == 0 {
			op = append(op, ot.Component{Skip: 1 + rng.IntN(9)})
		}
		op = append(op, ot.Component{Insert: text()})
		if rng.IntN(2) == 0 {
			op = append(op, ot.Component{Delete: 1 + rng.IntN(5)})
		}
		if rng.IntN(3) == 0 {
			op = append(op, ot.Component{Skip: 2}, ot.Component{Delete: 2, DelText: text()[:0] + "xy"})
		}
		m := OpMsg{Version: rng.Uint64(), Op: op, Session: fmt.Sprintf("s-%d", i), Seq: uint64(i)}
		if i%2 == 0 {
			m.Type = TypeOp
		}
		if got, want := encodeOpMsg(m), encode(m); string(got) != string(want) {
			t.Fatalf("op message\n got %s\nwant %s", got, want)
		}
		if got, want := appendOpMsg([]byte(`[{"x":1}`), m), `[{"x":1}`+string(encode(m)); string(got) != want {
			t.Fatalf("op message after others\n got %s\nwant %s", got, want)
		}
		if got, want := encodeAck(m.Seq, m.Version), encode(Ack{Type: TypeAck, Seq: m.Seq, Version: m.Version}); string(got) != string(want) {
			t.Fatalf("ack\n got %s\nwant %s", got, want)
		}
	}
}

// TestOpEncodingOfMalformedOp: an op that cannot be encoded gets the
// answer encoding/json gives, also after other messages in one buffer.
func TestOpEncodingOfMalformedOp(t *testing.T) {
	m := OpMsg{Type: TypeOp, Version: 3, Op: ot.Op{{Skip: 1}, {Skip: -2}}, Session: "s", Seq: 1}
	want := encode(m)
	if got := appendOpMsg([]byte("prefix,"), m); string(got) != "prefix,"+string(want) {
		t.Fatalf("got %s, want prefix,%s", got, want)
	}
}

// TestAppendJSONStringMatchesJSON: the plain-ASCII shortcut and the
// encoding/json path agree with json.Marshal on every byte class.
func TestAppendJSONStringMatchesJSON(t *testing.T) {
	for _, s := range []string{"", "abc-123_XYZ", "a b", "'", "\x7f", "\x1f", "\"", "\\", "<", ">", "&", "é", "\u2028", "🎉", "\xff"} {
		want, _ := json.Marshal(s)
		if got := appendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("%q: got %s, want %s", s, got[1:], want)
		}
	}
}
