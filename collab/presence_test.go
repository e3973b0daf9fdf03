package collab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

func TestPresenceCursorsFollowEdits(t *testing.T) {
	ts := newTestServer(t, Options{})
	a := dialTest(t, ts.url+"pres")
	wa := a.hello(ClientMsg{User: &User{Name: "Ann"}})
	a.sendRaw(opJSON(1, 0, `["hello world"]`))
	a.expect(TypeAck)
	b := dialTest(t, ts.url+"pres")
	wb := b.hello(ClientMsg{User: &User{Name: "  Bob\u0007 ", Color: "red; background:url(x)"}})

	// A puts its cursor on "world" (6..11) at version 1.
	a.sendRaw(`{"type":"presence","version":1,"cursor":{"anchor":6,"head":11}}`)
	var p Presence
	b.expectInto(TypePresence, &p)
	if p.Session != wa.Session || p.Cursor == nil || *p.Cursor != (ot.Selection{Anchor: 6, Head: 11}) {
		t.Fatalf("presence %+v", p)
	}
	// B inserts at the start: A's stored cursor moves with the text.
	b.sendRaw(opJSON(1, 1, `["¡"]`))
	b.expect(TypeAck)
	c := dialTest(t, ts.url+"pres")
	wc := c.hello(ClientMsg{})
	var ann, bob *Presence
	for i := range wc.Peers {
		switch wc.Peers[i].Session {
		case wa.Session:
			ann = &wc.Peers[i]
		case wb.Session:
			bob = &wc.Peers[i]
		}
	}
	if ann == nil || ann.Cursor == nil || *ann.Cursor != (ot.Selection{Anchor: 7, Head: 12}) || ann.Version != 2 {
		t.Fatalf("A's cursor not transformed: %+v", wc.Peers)
	}
	if bob == nil || bob.Name != "Bob" || !colorPattern.MatchString(bob.Color) {
		t.Fatalf("B's name/colour not cleaned: %+v", bob)
	}
	// A cursor sent at an older version is moved to the head too.
	a.sendRaw(`{"type":"presence","version":1,"cursor":{"anchor":1,"head":1},"name":"` + strings.Repeat("n", 5000) + `"}`)
	c.expectInto(TypePresence, &p)
	for p.Session != wa.Session || p.Cursor == nil || p.Cursor.Head != 2 { // The join presence of others may come first.
		c.expectInto(TypePresence, &p)
	}
	if len([]rune(p.Name)) != maxNameRunes || p.Version != 2 {
		t.Fatalf("presence %+v", p)
	}
	// Closing a tab sends leave at once.
	a.close()
	var l Leave
	for {
		b2 := c.next()
		if msgType(b2) == TypeLeave {
			_ = json.Unmarshal(b2, &l)
			break
		}
	}
	if l.Session != wa.Session {
		t.Fatalf("leave %+v", l)
	}
	eventually(t, "participants", func() bool {
		ps, _ := ts.hub.Participants(context.Background(), "pres")
		return len(ps) == 2
	})
}

func TestPresenceCoalesced(t *testing.T) {
	ts := newTestServer(t, Options{})
	a := dialTest(t, ts.url+"burst")
	wa := a.hello(ClientMsg{})
	a.sendRaw(opJSON(1, 0, `["`+strings.Repeat("x", 100)+`"]`))
	a.expect(TypeAck)
	b := dialTest(t, ts.url+"burst")
	b.hello(ClientMsg{})
	const n = 60
	for i := 1; i <= n; i++ {
		a.sendRaw(`{"type":"presence","version":1,"cursor":{"anchor":` + itoa(i) + `,"head":` + itoa(i) + `}}`)
	}
	got := 0
	for {
		var p Presence
		b.expectInto(TypePresence, &p)
		if p.Session != wa.Session {
			continue
		}
		got++
		if p.Cursor != nil && p.Cursor.Head == n {
			break // The last state always arrives.
		}
	}
	if got >= n/2 {
		t.Fatalf("%d presence messages for %d updates: not coalesced", got, n)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestSlowConsumerIsCut(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	ts := newTestServer(t, Options{SendQueue: 4, Metrics: m, OpsPerSecond: 1000, OpBurst: 1000, MaxDocLen: 1 << 30})
	fast := dialTest(t, ts.url+"slow")
	fast.hello(ClientMsg{})
	stalled := dialTest(t, ts.url+"slow")
	ws := stalled.hello(ClientMsg{})
	stalled.stopReading()
	// Each broadcast is 256 KiB; socket buffers fill, then the 4-slot queue.
	big := strings.Repeat("z", 256<<10)
	var seq uint64
	var v uint64
	for counterValue(m.slowDrops) == 0 {
		if seq == 200 {
			t.Fatal("stalled client never cut")
		}
		seq++
		fast.sendRaw(opJSON(seq, v, `["`+big+`"]`))
		var ack Ack
		fast.expectInto(TypeAck, &ack) // The fast client is never held up.
		v = ack.Version
	}
	var l Leave
	for {
		b := fast.next()
		if msgType(b) == TypeLeave {
			_ = json.Unmarshal(b, &l)
			break
		}
	}
	if l.Session != ws.Session {
		t.Fatalf("leave %+v", l)
	}
}

func TestSubscribe(t *testing.T) {
	ts := newTestServer(t, Options{OpWindow: 2, CatchUpLimit: 2, SendQueue: 3})
	ctx := context.Background()
	if _, err := ts.hub.Create(ctx, "sse", "ab"); err != nil {
		t.Fatal(err)
	}
	sub, err := ts.hub.Subscribe(ctx, "sse", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ev, _ := sub.Next(ctx)
	if ev.Kind != EventSnapshot || ev.Text != "ab" || ev.Version != 0 {
		t.Fatalf("first event %+v", ev)
	}
	for i := 0; i < 3; i++ {
		if _, err := ts.hub.Submit(ctx, "sse", Submission{Base: uint64(i), Op: ot.Op{{Insert: "x"}}}); err != nil {
			t.Fatal(err)
		}
	}
	for want := uint64(1); want <= 3; want++ {
		ev, err := sub.Next(ctx)
		if err != nil || ev.Kind != EventOp || ev.Version != want || ev.Op.Type != TypeOp {
			t.Fatalf("event %d: %+v %v", want, ev, err)
		}
	}
	// Resume within reach: the ops after the version.
	s2, err := ts.hub.Subscribe(ctx, "sse", u64(2))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if ev, _ := s2.Next(ctx); ev.Kind != EventOp || ev.Version != 3 {
		t.Fatalf("resume %+v", ev)
	}
	// Too old: a snapshot instead. Ahead: an error.
	s3, err := ts.hub.Subscribe(ctx, "sse", u64(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if ev, _ := s3.Next(ctx); ev.Kind != EventSnapshot || ev.Text != "xxxab" || ev.Version != 3 {
		t.Fatalf("too old %+v", ev)
	}
	if _, err := ts.hub.Subscribe(ctx, "sse", u64(9)); AsError(err).Code != CodeVersionAhead {
		t.Fatalf("ahead: %v", err)
	}
	// A subscriber that does not read is dropped; it gets what was queued, then an error.
	for i := 3; i < 8; i++ {
		if _, err := ts.hub.Submit(ctx, "sse", Submission{Base: uint64(i), Op: ot.Op{{Insert: "y"}}}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for {
		_, err := s2.Next(ctx)
		if err != nil {
			if AsError(err).Code != CodeSlowConsumer {
				t.Fatalf("ended with %v", err)
			}
			break
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d events before the drop, want the queue size 3", n)
	}
}

func TestReplaceText(t *testing.T) {
	ts := newTestServer(t, Options{})
	ctx := context.Background()
	a := dialTest(t, ts.url+"put")
	a.hello(ClientMsg{})
	a.sendRaw(opJSON(1, 0, `["hello world"]`))
	a.expect(TypeAck)
	a.sendRaw(`{"type":"presence","version":1,"cursor":{"anchor":11,"head":11}}`)
	eventually(t, "cursor stored", func() bool {
		ps, _ := ts.hub.Participants(ctx, "put")
		return len(ps) == 1 && ps[0].Cursor != nil
	})
	if _, err := ts.hub.ReplaceText(ctx, "put", "x", u64(0), "api"); AsError(err).Code != CodePreconditionFailed {
		t.Fatalf("stale If-Match: %v", err)
	}
	v, err := ts.hub.ReplaceText(ctx, "put", "hello, brave world", u64(1), "api")
	if err != nil || v != 2 {
		t.Fatalf("replace: %d %v", v, err)
	}
	var op OpMsg
	a.expectInto(TypeOp, &op)
	got, _ := ot.Apply("hello world", op.Op)
	if got != "hello, brave world" || op.Version != 2 {
		t.Fatalf("editor got %+v -> %q", op, got)
	}
	ps, _ := ts.hub.Participants(ctx, "put")
	if ps[0].Cursor.Head != 18 {
		t.Fatalf("cursor not moved: %+v", ps[0].Cursor)
	}
	if v, err := ts.hub.ReplaceText(ctx, "put", "hello, brave world", nil, "api"); err != nil || v != 2 {
		t.Fatalf("no-op replace: %d %v", v, err)
	}
}

// TestReplaceTextDeletesByCount: the op that ReplaceText commits deletes by
// count, so the replaced text is neither sent to the participants nor
// stored in the log again, and it still turns every copy into the new text.
func TestReplaceTextDeletesByCount(t *testing.T) {
	ts := newTestServer(t, Options{})
	ctx := context.Background()
	if _, err := ts.db.Create(ctx, "cut", "keep this, drop that secret, keep"); err != nil {
		t.Fatal(err)
	}
	a := dialTest(t, ts.url+"cut")
	a.hello(ClientMsg{})
	if _, err := ts.hub.ReplaceText(ctx, "cut", "keep this, keep", nil, "api"); err != nil {
		t.Fatal(err)
	}
	raw := a.expect(TypeOp)
	if bytes.Contains(raw, []byte("secret")) {
		t.Fatalf("the broadcast carries the deleted text: %s", raw)
	}
	var op OpMsg
	if err := json.Unmarshal(raw, &op); err != nil {
		t.Fatal(err)
	}
	if got, _ := ot.Apply("keep this, drop that secret, keep", op.Op); got != "keep this, keep" {
		t.Fatalf("broadcast op gives %q", got)
	}
	recs, err := ts.db.Ops(ctx, "cut", 0, 1)
	if err != nil || len(recs) != 1 {
		t.Fatalf("log: %v %v", recs, err)
	}
	for _, c := range recs[0].Op {
		if c.DelText != "" {
			t.Fatalf("the log keeps the deleted text: %+v", recs[0].Op)
		}
	}
}

// TestReplaceTextWhileTyping: whatever edits land while ReplaceText diffs
// (outside the room, retried when the head moved), the text at the version
// it returns is exactly the text it was given, and no edit is lost after it.
func TestReplaceTextWhileTyping(t *testing.T) {
	ts := newTestServer(t, Options{OpsPerSecond: 100000, OpBurst: 100000})
	ctx := context.Background()
	if _, err := ts.db.Create(ctx, "busy", "start"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // An integration that keeps appending.
		for {
			select {
			case <-stop:
				return
			default:
			}
			v, err := ts.hub.Submit(ctx, "busy", Submission{Op: ot.Op{{Insert: "."}}})
			if err != nil || v == 0 {
				t.Errorf("submit: %d %v", v, err)
				return
			}
		}
	})
	for i := range 20 {
		want := fmt.Sprintf("replaced %d: %s", i, strings.Repeat("long line of text\n", 200*i))
		v, err := ts.hub.ReplaceText(ctx, "busy", want, nil, "api")
		if err != nil {
			t.Fatal(err)
		}
		got, err := ts.db.TextAt(ctx, "busy", v)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("replace %d: text at its version %d differs (%d code points, want %d)", i, v, len(got), len(want))
		}
	}
	close(stop)
	wg.Wait()
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

func TestDeadPeerDropped(t *testing.T) {
	ts := newTestServer(t, Options{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond})
	alive := dialTest(t, ts.url+"hb")
	alive.hello(ClientMsg{})
	dead := dialTest(t, ts.url+"hb")
	wd := dead.hello(ClientMsg{})
	dead.stopReading()              // A reader that stopped answers no pings...
	dead.sendRaw(`{"type":"ping"}`) // ...once the frame it is blocked on (this pong) arrives.
	var l Leave
	for {
		b := alive.next() // The live client keeps answering pings in its reader.
		if msgType(b) == TypeLeave {
			_ = json.Unmarshal(b, &l)
			break
		}
	}
	if l.Session != wd.Session {
		t.Fatalf("leave %+v", l)
	}
	dead.resumeReading()
	if code := dead.closed(); code != ClosePingTimeout {
		t.Fatalf("close code %d", code)
	}
	alive.sendRaw(`{"type":"ping"}`)
	alive.expect(TypePong)
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	ts := newTestServer(t, Options{Metrics: m})
	c := dialTest(t, ts.url+"met")
	c.hello(ClientMsg{})
	c.sendRaw(opJSON(1, 0, `["a"]`))
	c.expect(TypeAck)
	c.sendRaw(opJSON(2, 5, `["b"]`))
	c.expectError(CodeVersionAhead)
	if g := gaugeValue(m.connections); g != 1 {
		t.Fatalf("connections %v", g)
	}
	if g := gaugeValue(m.openDocs); g != 1 {
		t.Fatalf("open documents %v", g)
	}
	if n := counterValue(m.opsApplied); n != 1 {
		t.Fatalf("applied %v", n)
	}
	if n := counterValue(m.opsRejected.WithLabelValues(string(CodeVersionAhead))); n != 1 {
		t.Fatalf("rejected %v", n)
	}
	c.close()
	eventually(t, "connection gauge", func() bool { return gaugeValue(m.connections) == 0 })
	families, err := reg.Gather()
	if err != nil || len(families) < 5 {
		t.Fatalf("gather: %d families, %v", len(families), err)
	}
}

func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	_ = g.Write(&m)
	return m.GetGauge().GetValue()
}

// TestCleanName: names lose control and bidirectional formatting characters
// (no "Ann" that shows as someone else's), keep emoji sequences, and are
// never empty.
func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"  Ann  ":               "Ann",
		"A\x00n\x1bn":           "Ann",
		"Ann\u202e)renwo(":      "Ann)renwo(",
		"\u200fBob\u2066\u2069": "Bob",
		"Ev\u061ce\u200e":       "Eve",
		"dev 👩\u200d💻 ❤\ufe0f":  "dev 👩\u200d💻 ❤\ufe0f",
		"\u202a\u202c":          "Anonymous",
		"\ufffd":                "Anonymous",
	} {
		if got := cleanName(in); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNoGhostFromWelcome: a session that a joiner's welcome lists before the
// presence flush announced it, and that leaves before that flush, is still
// followed by a leave; so is an announced session that reconnects and drops
// again within one flush.
func TestNoGhostFromWelcome(t *testing.T) {
	ts := newTestServer(t, Options{})
	x := dialTest(t, ts.url+"ghost")
	wx := x.hello(ClientMsg{})
	y := dialTest(t, ts.url+"ghost")
	y.hello(ClientMsg{}) // Lists x, most likely not yet announced.
	x.conn.Close(websocket.StatusNormalClosure, "")
	expectAbout(t, y, TypeLeave, wx.Session)

	// Announced, then back and gone again within one flush.
	z := dialTest(t, ts.url+"ghost")
	wz := z.hello(ClientMsg{})
	expectAbout(t, y, TypePresence, wz.Session)
	z.conn.Close(websocket.StatusNormalClosure, "")
	z2 := dialTest(t, ts.url+"ghost")
	z2.hello(ClientMsg{Key: wz.Key})
	z2.conn.Close(websocket.StatusNormalClosure, "")
	expectAbout(t, y, TypeLeave, wz.Session)
}

// expectAbout reads c's messages until one of type typ about session.
func expectAbout(t *testing.T, c *testClient, typ, session string) {
	t.Helper()
	for {
		var m struct {
			Type, Session string
		}
		if err := json.Unmarshal(c.next(), &m); err != nil {
			t.Fatal(err)
		}
		if m.Type == typ && m.Session == session {
			return
		}
	}
}

// TestNoGhostAfterReplace: an announced session replaced by a reconnect
// with its id while still attached (its leave then finds it gone), whose
// new connection drops before the next flush, is still followed by a leave.
func TestNoGhostAfterReplace(t *testing.T) {
	ts := newTestServer(t, Options{})
	y := dialTest(t, ts.url+"replace")
	y.hello(ClientMsg{})
	z := dialTest(t, ts.url+"replace")
	wz := z.hello(ClientMsg{})
	expectAbout(t, y, TypePresence, wz.Session)
	z2 := dialTest(t, ts.url+"replace")
	z2.hello(ClientMsg{Key: wz.Key}) // z is still attached: replaced.
	z2.conn.Close(websocket.StatusNormalClosure, "")
	expectAbout(t, y, TypeLeave, wz.Session)
}

// committedStore lets an Append reach storage, then holds its return (after
// arm) until release: the store holds the op while the room's commit of it
// has not ended.
type committedStore struct {
	*storage.DB
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (c *committedStore) Append(ctx context.Context, id string, recs []storage.OpRecord, n int, snap *storage.Snapshot) error {
	err := c.DB.Append(ctx, id, recs, n, snap)
	if c.armed.CompareAndSwap(true, false) {
		close(c.entered)
		<-c.release
	}
	return err
}

// TestSubscribeAtVersionBeingCommitted: a poller that read version 1 from
// storage while the room's commit of it had not ended follows from there:
// no version_ahead, and op 1 is not sent to it again.
func TestSubscribeAtVersionBeingCommitted(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "f.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	cs := &committedStore{DB: db, entered: make(chan struct{}), release: make(chan struct{})}
	h := NewHub(cs, Options{Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Error(err)
		}
		db.Close()
	})
	ctx := context.Background()
	if _, err := h.Create(ctx, "d", ""); err != nil {
		t.Fatal(err)
	}
	cs.armed.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := h.Submit(ctx, "d", Submission{Base: 0, Op: ot.Op{{Insert: "x"}}})
		done <- err
	}()
	<-cs.entered // Version 1 is in storage; the room's head is still 0.
	sub, err := h.Subscribe(ctx, "d", u64(1))
	close(cs.release)
	if err != nil {
		t.Fatalf("subscribe at a version in storage: %v", err)
	}
	defer sub.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := h.Submit(ctx, "d", Submission{Base: 1, Op: ot.Op{{Insert: "y"}}}); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == EventPresence {
			continue
		}
		if ev.Kind != EventOp || ev.Version != 2 {
			t.Fatalf("first event %s at version %d, want the op of version 2", ev.Kind, ev.Version)
		}
		return
	}
}

// TestPresenceOlderThanWindowRefused: a cursor at a version the op window
// no longer holds is refused (version_too_old) instead of moved over ops
// read from storage on the room goroutine, which a viewer sending such
// presence at its message rate could keep busy for everyone. The
// connection stays usable.
func TestPresenceOlderThanWindowRefused(t *testing.T) {
	ts := newTestServer(t, Options{OpWindow: 2, CatchUpLimit: 100})
	a := dialTest(t, ts.url+"oldpres")
	a.hello(ClientMsg{})
	for i := uint64(0); i < 6; i++ {
		a.sendRaw(opJSON(i+1, i, `["x"]`))
		a.expect(TypeAck)
	}
	b := dialTest(t, ts.url+"oldpres")
	b.hello(ClientMsg{})
	a.sendRaw(`{"type":"presence","version":1,"cursor":{"anchor":1,"head":1}}`)
	a.expectError(CodeVersionTooOld)
	// At a version the window holds it is moved to the head and broadcast.
	a.sendRaw(`{"type":"presence","version":5,"cursor":{"anchor":5,"head":5}}`)
	var p Presence
	for p.Cursor == nil {
		b.expectInto(TypePresence, &p)
	}
	if *p.Cursor != (ot.Selection{Anchor: 6, Head: 6}) || p.Version != 6 {
		t.Fatalf("presence %+v, want the cursor moved to 6 at version 6", p)
	}
}

// TestPresenceSaysWhoOnlyViews: a session that may only read, by its grant
// or because its hello asked for read-only, is "role":"view" in its
// presence, so that the others can list it as a viewer; an editor's
// presence is as it always was, without the key. Asking for read-only
// gives the view role even with an edit grant: its ops are refused.
func TestPresenceSaysWhoOnlyViews(t *testing.T) {
	ts := newTestServer(t, Options{})
	ts.peer.Authorize = func(token string) (Grant, error) {
		if token == "view" {
			return Grant{Role: RoleView}, nil
		}
		return Grant{Role: RoleEdit, Create: true}, nil
	}
	ann := dialTest(t, ts.url+"roles")
	wa := ann.hello(ClientMsg{User: &User{Name: "Ann"}})
	vera := dialTest(t, ts.url+"roles")
	wv := vera.hello(ClientMsg{ReadOnly: true, User: &User{Name: "Vera"}})
	if wv.Role != string(RoleView) {
		t.Fatalf("welcome of a read-only hello with an edit grant: role %q, want view", wv.Role)
	}
	vera.sendRaw(opJSON(1, wv.Version, `["typed"]`))
	vera.expectError(CodeForbidden)
	// Ann hears of Vera as a viewer; Vera's welcome lists Ann as before.
	for {
		b := ann.expect(TypePresence)
		var p Presence
		_ = json.Unmarshal(b, &p)
		if p.Session != wv.Session {
			continue
		}
		if p.Role != "view" || !strings.Contains(string(b), `,"role":"view"}`) {
			t.Fatalf("Vera's presence %s, want role view", b)
		}
		break
	}
	if len(wv.Peers) != 1 || wv.Peers[0].Session != wa.Session || wv.Peers[0].Role != "" {
		t.Fatalf("Vera's welcome peers %+v, want Ann without a role", wv.Peers)
	}
	tok := dialTest(t, ts.url+"roles")
	wt := tok.hello(ClientMsg{Token: "view"})
	if wt.Role != string(RoleView) {
		t.Fatalf("view grant: role %q", wt.Role)
	}
	last := dialTest(t, ts.url+"roles")
	raw := func() []byte {
		last.send(ClientMsg{Type: TypeHello, Key: NewKey()})
		return last.expect(TypeWelcome)
	}()
	var wl Welcome
	_ = json.Unmarshal(raw, &wl)
	roles := map[string]string{}
	for _, p := range wl.Peers {
		roles[p.Session] = p.Role
	}
	if want := map[string]string{wa.Session: "", wv.Session: "view", wt.Session: "view"}; fmt.Sprint(roles) != fmt.Sprint(want) {
		t.Fatalf("welcome peers' roles %v, want %v", roles, want)
	}
	// The cached encoding is encoding/json's, with and without the role.
	for _, p := range []Presence{{Session: "s", Name: "Vera", Color: "#123456", Version: 3, Role: "view"},
		{Session: "s", Name: "Ann", Color: "#123456", Cursor: &ot.Selection{Anchor: 1, Head: 2}, Version: 3}} {
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(appendPresenceEntry(nil, &p)); got != string(want) {
			t.Errorf("presence entry %s, encoding/json %s", got, want)
		}
	}
}
