package client

import (
	"errors"
	"testing"
	"time"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
)

func ins(pos int, s string) ot.Op { return at(pos, ot.Component{Insert: s}) }
func del(pos, n int) ot.Op        { return at(pos, ot.Component{Delete: n}) }

func mustSubmit(t *testing.T, st *state, op ot.Op) {
	t.Helper()
	if err := st.submit(op); err != nil {
		t.Fatalf("submit %v: %v", op, err)
	}
}

// deliver hands the single queued op of from to the server and returns the
// committed op and ack.
func deliver(t *testing.T, f *fakeServer, from *state) (*collab.OpMsg, collab.Ack) {
	t.Helper()
	ops := onlyOps(takeOut(from))
	if len(ops) != 1 {
		t.Fatalf("want exactly one op in flight, got %d", len(ops))
	}
	return f.submit(from.session, ops[0])
}

func wantText(t *testing.T, st *state, want string) {
	t.Helper()
	if got := st.local.String(); got != want {
		t.Fatalf("%s local text %q, want %q", st.session, got, want)
	}
}

// TestTieBreak pins the sides: the server puts a later op's insert Left of an
// already committed insert at the same place; the client transforms its
// in-flight op Left and the incoming op Right, so both agree.
func TestTieBreak(t *testing.T) {
	f := newFakeServer(t, "xy")
	a, b := newState(), newState()
	connect(t, f, a, false)
	connect(t, f, b, false)
	mustSubmit(t, a, ins(1, "a"))
	mustSubmit(t, b, ins(1, "b🎉"))
	mustSubmit(t, b, ins(3, "c")) // Buffered behind b's in-flight op.
	if len(onlyOps(b.out)) != 1 {
		t.Fatalf("b must have one op in flight, got %v", b.out)
	}
	ca, acka := deliver(t, f, a) // a's op commits first (version 1).
	cb, ackb := deliver(t, f, b) // b's op is rebased with Left: "b🎉" goes before "a".
	if f.text != "xb🎉ay" {
		t.Fatalf("server text %q", f.text)
	}
	// a has nothing in flight: takes b's committed op as is.
	if err := a.ack(acka); err != nil {
		t.Fatal(err)
	}
	if err := a.applyOp(*cb); err != nil {
		t.Fatal(err)
	}
	wantText(t, a, "xb🎉ay")
	// b receives a's op while its own is in flight and "c" is buffered.
	if err := b.applyOp(*ca); err != nil {
		t.Fatal(err)
	}
	wantText(t, b, "xb🎉cay")
	if err := b.ack(ackb); err != nil {
		t.Fatal(err)
	}
	c2, ack2 := deliver(t, f, b) // The buffer goes out after the ack.
	if err := b.ack(ack2); err != nil {
		t.Fatal(err)
	}
	if err := a.applyOp(*c2); err != nil {
		t.Fatal(err)
	}
	for _, st := range []*state{a, b} {
		wantText(t, st, f.text)
		if !st.synced() || st.version != 3 || st.server.String() != f.text {
			t.Fatalf("%s: synced %v version %d server %q", st.session, st.synced(), st.version, st.server.String())
		}
	}
	if f.text != "xb🎉cay" {
		t.Fatalf("final %q", f.text)
	}
}

// TestResendAfterReconnect: the in-flight op is resent with the same seq and
// a base rebased over the catch-up ops.
func TestResendAfterReconnect(t *testing.T) {
	f := newFakeServer(t, "hello")
	a, b := newState(), newState()
	connect(t, f, a, false)
	connect(t, f, b, false)
	mustSubmit(t, a, ins(5, "!"))
	sent := onlyOps(takeOut(a))[0]
	a.offline() // The op was lost with the connection.
	mustSubmit(t, b, ins(0, ">"))
	if _, ackb := deliver(t, f, b); b.ack(ackb) != nil {
		t.Fatal("ack b")
	}
	mustSubmit(t, a, ins(6, "?")) // Typed while offline: buffered.
	connect(t, f, a, false)
	ops := onlyOps(takeOut(a))
	if len(ops) != 1 || ops[0].Seq != sent.Seq || *ops[0].Version != 1 {
		t.Fatalf("resend %+v, want seq %d at version 1", ops, sent.Seq)
	}
	wantText(t, a, ">hello!?")
	c, ack := f.submit(a.session, ops[0])
	if err := a.ack(ack); err != nil {
		t.Fatal(err)
	}
	if err := b.applyOp(*c); err != nil {
		t.Fatal(err)
	}
	c, ack = deliver(t, f, a)
	if err := a.ack(ack); err != nil {
		t.Fatal(err)
	}
	if err := b.applyOp(*c); err != nil {
		t.Fatal(err)
	}
	wantText(t, a, ">hello!?")
	wantText(t, b, ">hello!?")
	if f.text != ">hello!?" {
		t.Fatalf("server %q", f.text)
	}
}

// TestCatchUpContainsOwnOp: an op committed just before the drop shows up in
// the welcome's catch-up with our session and seq; it counts as the ack and
// is never resent.
func TestCatchUpContainsOwnOp(t *testing.T) {
	f := newFakeServer(t, "ab")
	a := newState()
	connect(t, f, a, false)
	mustSubmit(t, a, ins(1, "X"))
	deliver(t, f, a) // Committed, but the ack is lost with the connection.
	a.offline()
	mustSubmit(t, a, ins(0, "Y"))
	connect(t, f, a, false)
	if !containsEvent(a.events, evAck) {
		t.Fatalf("no ack event from catch-up: %+v", a.events)
	}
	ops := onlyOps(takeOut(a))
	if len(ops) != 1 || ops[0].Seq != 2 {
		t.Fatalf("want only the buffer sent as seq 2, got %+v", ops)
	}
	if _, ack := f.submit(a.session, ops[0]); a.ack(ack) != nil {
		t.Fatal("ack")
	}
	wantText(t, a, "YaXb")
	if f.text != "YaXb" || len(f.log) != 2 {
		t.Fatalf("server %q with %d ops", f.text, len(f.log))
	}
}

func containsEvent(evs []event, k eventKind) bool {
	for _, e := range evs {
		if e.kind == k {
			return true
		}
	}
	return false
}

// TestTieBreakBuffer: buffered ops are also on the Left of an incoming op, so
// the outcome does not depend on whether "1" and "2" went out as one op or as
// an in-flight op plus a buffer.
func TestTieBreakBuffer(t *testing.T) {
	f := newFakeServer(t, "")
	a, b := newState(), newState()
	connect(t, f, a, false)
	connect(t, f, b, false)
	mustSubmit(t, a, ins(0, "a"))
	mustSubmit(t, b, ins(0, "1"))
	mustSubmit(t, b, ins(1, "2"))
	ca, acka := deliver(t, f, a)
	if err := a.ack(acka); err != nil {
		t.Fatal(err)
	}
	if err := b.applyOp(*ca); err != nil {
		t.Fatal(err)
	}
	wantText(t, b, "12a")
	cb, ackb := deliver(t, f, b)
	if err := b.ack(ackb); err != nil {
		t.Fatal(err)
	}
	cb2, ackb2 := deliver(t, f, b)
	if err := b.ack(ackb2); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*collab.OpMsg{cb, cb2} {
		if err := a.applyOp(*m); err != nil {
			t.Fatal(err)
		}
	}
	if f.text != "12a" {
		t.Fatalf("server %q", f.text)
	}
	wantText(t, a, "12a")
	wantText(t, b, "12a")
}

// limboSetup: a's op "X" is in flight when the connection drops; b then
// edits; a reconnects and the server answers with a full text, so a cannot
// know whether "X" is in it. committed says whether "X" reached the server
// before the drop.
func limboSetup(t *testing.T, committed bool) (*fakeServer, *state, *state) {
	f := newFakeServer(t, "0123")
	a, b := newState(), newState()
	connect(t, f, a, false)
	connect(t, f, b, false)
	mustSubmit(t, a, ins(2, "X"))
	if committed {
		c, _ := deliver(t, f, a) // Committed; the ack is lost.
		if err := b.applyOp(*c); err != nil {
			t.Fatal(err)
		}
	}
	a.offline()
	mustSubmit(t, b, ins(0, "b"))
	if _, ack := deliver(t, f, b); b.ack(ack) != nil {
		t.Fatal("ack b")
	}
	connect(t, f, a, true)
	if a.limbo == nil || a.synced() {
		t.Fatal("a is not in limbo")
	}
	mustSubmit(t, a, ins(4, "Y")) // Typed during limbo, after "01X2".
	wantText(t, a, "01X2Y3")      // Remote changes wait until the limbo ends.
	return f, a, b
}

func TestLimboOpWasCommitted(t *testing.T) {
	f, a, _ := limboSetup(t, true)
	ops := onlyOps(takeOut(a))
	if len(ops) != 1 || ops[0].Seq != 1 {
		t.Fatalf("want the in-flight op resent as seq 1, got %+v", ops)
	}
	committed, ack := f.submit(a.session, ops[0])
	if committed != nil || ack.Version != 1 {
		t.Fatalf("the server must dedupe the resend: %+v %+v", committed, ack)
	}
	if err := a.ack(ack); err != nil {
		t.Fatal(err)
	}
	wantText(t, a, "b01X2Y3")
	if _, ack := deliver(t, f, a); a.ack(ack) != nil {
		t.Fatal("ack")
	}
	if f.text != "b01X2Y3" || !a.synced() || a.server.String() != f.text {
		t.Fatalf("server %q, a synced %v", f.text, a.synced())
	}
}

func TestLimboOpWasLost(t *testing.T) {
	f, a, b := limboSetup(t, false)
	ops := onlyOps(takeOut(a))
	if len(ops) != 1 || ops[0].Seq != 1 || *ops[0].Version != 1 {
		t.Fatalf("want seq 1 rebased onto version 1, got %+v", ops)
	}
	// Someone else commits before the resend arrives.
	mustSubmit(t, b, ins(5, "!"))
	cb, ackb := deliver(t, f, b)
	if b.ack(ackb) != nil || a.applyOp(*cb) != nil {
		t.Fatal("b's op")
	}
	committed, ack := f.submit(a.session, ops[0])
	if committed == nil || ack.Version != 3 {
		t.Fatalf("the resend must commit: %+v", ack)
	}
	if err := a.ack(ack); err != nil {
		t.Fatal(err)
	}
	if err := b.applyOp(*committed); err != nil {
		t.Fatal(err)
	}
	cy, acky := deliver(t, f, a)
	if a.ack(acky) != nil || b.applyOp(*cy) != nil {
		t.Fatal("buffer")
	}
	for _, st := range []*state{a, b} {
		wantText(t, st, f.text)
	}
	if f.text != "b01X2Y3!" {
		t.Fatalf("server %q", f.text)
	}
}

// TestRefusedOpReverts: an in-flight op the server refuses for good leaves
// the local text as server text + buffer.
func TestRefusedOpReverts(t *testing.T) {
	f := newFakeServer(t, "abc")
	a := newState()
	connect(t, f, a, false)
	mustSubmit(t, a, ins(1, "X"))
	mustSubmit(t, a, ins(3, "Y"))
	takeOut(a)
	if retry, err := a.fail(collab.ErrorMsg{Code: collab.CodeInvalidOp, Seq: 1}); retry || err != nil {
		t.Fatalf("invalid_op must drop the op: retry %v, err %v", retry, err)
	}
	wantText(t, a, "abYc")
	ops := onlyOps(takeOut(a))
	if len(ops) != 1 || ops[0].Seq != 2 {
		t.Fatalf("the buffer goes out with a new seq: %+v", ops)
	}
}

// TestRateLimitedResendsSameSeq: rate_limited keeps the op and its seq.
func TestRateLimitedResendsSameSeq(t *testing.T) {
	f := newFakeServer(t, "")
	a, b := newState(), newState()
	connect(t, f, a, false)
	connect(t, f, b, false)
	mustSubmit(t, a, ins(0, "a"))
	takeOut(a)
	if retry, err := a.fail(collab.ErrorMsg{Code: collab.CodeRateLimited, Seq: 1}); !retry || err != nil {
		t.Fatalf("rate_limited must be retried: retry %v, err %v", retry, err)
	}
	mustSubmit(t, b, ins(0, "b"))
	cb, _ := deliver(t, f, b)
	if err := a.applyOp(*cb); err != nil {
		t.Fatal(err)
	}
	a.retry(1)
	ops := onlyOps(takeOut(a))
	if len(ops) != 1 || ops[0].Seq != 1 || *ops[0].Version != 1 {
		t.Fatalf("want seq 1 at version 1, got %+v", ops)
	}
	if _, ack := f.submit(a.session, ops[0]); a.ack(ack) != nil {
		t.Fatal("ack")
	}
	wantText(t, a, f.text)
}

// TestSeqReusedByResumedSession: an ack naming an old version for the
// in-flight seq means another client of this session used the seq; the op
// was not applied, so it is dropped and later seqs jump past the clock.
func TestSeqReusedByResumedSession(t *testing.T) {
	f := newFakeServer(t, "")
	a := newState()
	connect(t, f, a, false)
	mustSubmit(t, a, ins(0, "first"))
	if _, ack := deliver(t, f, a); a.ack(ack) != nil {
		t.Fatal("ack")
	}
	b := newState() // Resumes a's session (Options.Key) without knowing its seqs.
	b.key, b.session = a.key, a.session
	connect(t, f, b, false)
	mustSubmit(t, b, ins(0, "second"))
	committed, ack := deliver(t, f, b)
	if committed != nil {
		t.Fatal("fake server should see a duplicate")
	}
	if err := b.ack(ack); err != nil {
		t.Fatal(err)
	}
	if b.hasInflight || b.lastSeq < freshSeq()-uint64(time.Minute/time.Microsecond) {
		t.Fatalf("in flight %v, last seq %d", b.hasInflight, b.lastSeq)
	}
	wantText(t, b, "first")
}

// TestCorruptStreamForcesFullText: an op that cannot apply makes the next
// hello ask for the full text, and the pending edit survives through it.
func TestCorruptStreamForcesFullText(t *testing.T) {
	f := newFakeServer(t, "abc")
	a := newState()
	connect(t, f, a, false)
	mustSubmit(t, a, ins(3, "!"))
	bad := collab.OpMsg{Version: 1, Op: del(0, 10), Session: "zz", Seq: 1}
	if err := a.applyOp(bad); err == nil {
		t.Fatal("an op deleting past the end was applied")
	}
	a.offline()
	if h := a.hello(collab.User{}, ""); h.Version != nil {
		t.Fatalf("hello after a corrupt op names version %d", *h.Version)
	}
	connect(t, f, a, false) // The fake sends the text because hello has no version.
	ops := onlyOps(takeOut(a))
	if len(ops) != 1 {
		t.Fatalf("want the in-flight op resent, got %+v", ops)
	}
	_, ack := f.submit(a.session, ops[0])
	if err := a.ack(ack); err != nil {
		t.Fatal(err)
	}
	wantText(t, a, "abc!")
	if f.text != "abc!" || !a.synced() {
		t.Fatalf("server %q synced %v", f.text, a.synced())
	}
}

// TestVersionTooOldResyncs: an op whose base the server cannot rebase from is
// kept; the client asks for the full text and resends it from there.
func TestVersionTooOldResyncs(t *testing.T) {
	f := newFakeServer(t, "abc")
	a := newState()
	connect(t, f, a, false)
	mustSubmit(t, a, ins(3, "!"))
	takeOut(a)
	retry, err := a.fail(collab.ErrorMsg{Code: collab.CodeVersionTooOld, Seq: 1})
	if retry || !errors.Is(err, errResync) {
		t.Fatalf("retry %v, err %v", retry, err)
	}
	a.offline()
	if h := a.hello(collab.User{}, ""); h.Version != nil {
		t.Fatal("hello still names a version")
	}
	connect(t, f, a, false)
	ops := onlyOps(takeOut(a))
	if len(ops) != 1 || ops[0].Seq != 1 {
		t.Fatalf("want the op resent as seq 1, got %+v", ops)
	}
	if _, ack := f.submit(a.session, ops[0]); a.ack(ack) != nil {
		t.Fatal("ack")
	}
	wantText(t, a, "abc!")
}

// TestPeerCursorVersions: a presence reported at an older version is moved
// through the ops since; one reported ahead of us is not moved again by the
// op that it already includes.
func TestPeerCursorVersions(t *testing.T) {
	f := newFakeServer(t, "abcdef")
	a, b := newState(), newState()
	connect(t, f, a, false)
	connect(t, f, b, false)
	var ops []*collab.OpMsg
	for range 2 {
		mustSubmit(t, b, ins(0, "xy"))
		c, ack := deliver(t, f, b)
		if err := b.ack(ack); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, c)
	}
	// Old: reported at version 0 and delivered after both ops.
	if err := a.applyOp(*ops[0]); err != nil {
		t.Fatal(err)
	}
	a.presence(collab.Presence{Session: "old", Cursor: &ot.Selection{Anchor: 3, Head: 4}, Version: 0})
	// Ahead: reported at version 2, delivered before op 2.
	a.presence(collab.Presence{Session: "ahead", Cursor: &ot.Selection{Anchor: 7, Head: 7}, Version: 2})
	if err := a.applyOp(*ops[1]); err != nil {
		t.Fatal(err)
	}
	want := map[string]ot.Selection{"old": {Anchor: 7, Head: 8}, "ahead": {Anchor: 7, Head: 7}}
	for _, p := range a.peerList() {
		if w, ok := want[p.Session]; ok && *p.Cursor != w {
			t.Fatalf("%s at %v, want %v", p.Session, *p.Cursor, w)
		}
	}
	wantText(t, a, "xyxyabcdef")
}

// TestCursorClamped: a cursor past the end of the text (read before a remote
// op shortened it) goes out clamped, as a cursor the server accepts.
func TestCursorClamped(t *testing.T) {
	f := newFakeServer(t, "hello")
	a, b := newState(), newState()
	connect(t, f, a, false)
	connect(t, f, b, false)
	mustSubmit(t, b, del(0, 4))
	cb, ackb := deliver(t, f, b)
	if err := b.ack(ackb); err != nil {
		t.Fatal(err)
	}
	if err := a.applyOp(*cb); err != nil {
		t.Fatal(err)
	}
	takeOut(a)
	a.setCursor(&ot.Selection{Anchor: 5, Head: -1}) // The caller saw "hello".
	out := takeOut(a)
	if len(out) != 1 || out[0].Type != collab.TypePresence || out[0].Cursor.Sel == nil ||
		*out[0].Cursor.Sel != (ot.Selection{Anchor: 1, Head: 0}) || *out[0].Version != 1 {
		t.Fatalf("sent %+v", out)
	}
}

// TestHelloResumesByKey: the hello names the session by its key, before
// and after a welcome that echoes it, and by its id too once known (what a
// server from before keys resumes by, and what tells the server the client
// had the document); after a welcome without a key (such a server) it names
// the id alone. After a desync it asks for the text without a version, its
// session still named.
func TestHelloResumesByKey(t *testing.T) {
	text := ""
	key := "0123456789abcdef0123456789abcdef"
	s := newState()
	s.key = key // As Dial draws it.
	if h := s.hello(collab.User{}, ""); h.Key != key || h.Session != "" || h.Version != nil {
		t.Fatalf("first hello %+v", h)
	}
	if err := s.welcome(collab.Welcome{Session: collab.SessionID(key), Key: key, Role: "edit", Text: &text}); err != nil {
		t.Fatal(err)
	}
	if h := s.hello(collab.User{}, ""); h.Key != key || h.Session != collab.SessionID(key) || h.Version == nil {
		t.Fatalf("resuming hello %+v", h)
	}
	_ = s.corrupt(errGap)
	if h := s.hello(collab.User{}, ""); h.Key != key || h.Session != collab.SessionID(key) || h.Version != nil {
		t.Fatalf("hello after a desync %+v", h)
	}
	old := newState()
	if err := old.welcome(collab.Welcome{Session: "0b7d3f0e-7d1f-4b8e-9d7e-2f0c1a9b6e11", Role: "edit", Text: &text}); err != nil {
		t.Fatal(err)
	}
	if h := old.hello(collab.User{}, ""); h.Key != "" || h.Session != "0b7d3f0e-7d1f-4b8e-9d7e-2f0c1a9b6e11" {
		t.Fatalf("hello to a server without keys %+v", h)
	}
}
