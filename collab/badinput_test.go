package collab

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/foliodocs/folio/storage"
)

// TestBadInput sends each kind of bad message to a joined session and checks
// the error code, that the document did not change and that the connection
// still works.
func TestBadInput(t *testing.T) {
	ts := newTestServer(t, Options{})
	cases := []struct {
		name  string
		setup []string // Sent first; each must be acknowledged.
		raw   string
		code  Code
	}{
		{name: "invalid JSON", raw: `{"type":"op",`, code: CodeInvalidMessage},
		{name: "not an object", raw: `[1,2]`, code: CodeInvalidMessage},
		{name: "invalid UTF-8", raw: "{\"type\":\"presence\",\"name\":\"a\xff\"}", code: CodeInvalidMessage},
		{name: "lone high surrogate", raw: `{"type":"op","seq":1,"version":0,"op":["\ud83c"]}`, code: CodeInvalidMessage},
		{name: "lone low surrogate", raw: `{"type":"presence","name":"x\udf89"}`, code: CodeInvalidMessage},
		{name: "reversed pair", raw: `{"type":"presence","name":"\udf89\ud83c"}`, code: CodeInvalidMessage},
		{name: "unknown type", raw: `{"type":"bogus"}`, code: CodeInvalidMessage},
		{name: "missing type", raw: `{"seq":1}`, code: CodeInvalidMessage},
		{name: "op past the end", raw: opJSON(1, 0, `[5,"x"]`), code: CodeInvalidOp},
		{name: "delete past the end", raw: opJSON(1, 0, `[{"d":1}]`), code: CodeInvalidOp},
		{name: "zero component", raw: opJSON(1, 0, `[0,"x"]`), code: CodeInvalidOp},
		{name: "negative component", raw: opJSON(1, 0, `[-1,"x"]`), code: CodeInvalidOp},
		{name: "fractional component", raw: opJSON(1, 0, `[1.5,"x"]`), code: CodeInvalidOp},
		{name: "unknown component", raw: opJSON(1, 0, `[{"x":1}]`), code: CodeInvalidOp},
		{name: "empty insert", raw: opJSON(1, 0, `[""]`), code: CodeInvalidOp},
		{name: "mismatched deleted text", setup: []string{`["abc"]`}, raw: opJSON(3, 1, `[{"d":"abd"}]`), code: CodeInvalidOp},
		// The mismatch is in text that a later op deleted: the rebased op no
		// longer names it, so it must be checked at the op's base.
		{name: "stale mismatched deleted text", setup: []string{`["abc"]`, `[{"d":1}]`}, raw: opJSON(4, 1, `[{"d":"axc"}]`), code: CodeInvalidOp},
		{name: "version ahead", raw: opJSON(1, 7, `["x"]`), code: CodeVersionAhead},
		{name: "seq not increasing", setup: []string{`["a"]`, `["b"]`}, raw: opJSON(1, 2, `["c"]`), code: CodeSeqNotIncreasing},
		{name: "seq missing", raw: `{"type":"op","version":0,"op":["x"]}`, code: CodeInvalidMessage},
		{name: "version missing", raw: `{"type":"op","seq":1,"op":["x"]}`, code: CodeInvalidMessage},
		{name: "second hello", raw: `{"type":"hello"}`, code: CodeInvalidMessage},
		{name: "cursor outside", raw: `{"type":"presence","version":0,"cursor":{"anchor":0,"head":3}}`, code: CodeInvalidMessage},
		{name: "cursor version ahead", raw: `{"type":"presence","version":9,"cursor":{"anchor":0,"head":0}}`, code: CodeVersionAhead},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := "bad" + string(rune('a'+i))
			c := dialTest(t, ts.url+id)
			c.hello(ClientMsg{})
			for j, op := range tc.setup {
				c.sendRaw(opJSON(uint64(j+2), uint64(j), op)) // Seq 1 stays unused.
				c.expect(TypeAck)
			}
			before, v := textOf(t, ts.db, id)
			c.sendRaw(tc.raw)
			c.expectError(tc.code)
			c.sendRaw(`{"type":"ping"}`)
			c.expect(TypePong)
			if after, v2 := textOf(t, ts.db, id); after != before || v2 != v {
				t.Fatalf("document changed: %q@%d -> %q@%d", before, v, after, v2)
			}
		})
	}
}

func TestBinaryFrameRefused(t *testing.T) {
	ts := newTestServer(t, Options{})
	c := dialTest(t, ts.url+"bin")
	c.hello(ClientMsg{})
	if err := c.conn.Write(context.Background(), websocket.MessageBinary, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	c.expectError(CodeInvalidMessage)
}

func TestValidSurrogatePairAccepted(t *testing.T) {
	ts := newTestServer(t, Options{})
	c := dialTest(t, ts.url+"pair")
	c.hello(ClientMsg{})
	c.sendRaw(opJSON(1, 0, `["\ud83c\udf89\\ud800"]`)) // 🎉 then the literal text \ud800
	c.expect(TypeAck)
	if text, _ := textOf(t, ts.db, "pair"); text != `🎉\ud800` {
		t.Fatalf("text %q", text)
	}
}

func TestBeforeHello(t *testing.T) {
	ts := newTestServer(t, Options{})
	c := dialTest(t, ts.url+"early")
	c.sendRaw(opJSON(1, 0, `["x"]`))
	if e := c.expectError(CodeHelloRequired); e.Seq != 1 {
		t.Fatalf("error without seq: %+v", e)
	}
	c.sendRaw(`{"type":"ping"}`) // Allowed before hello.
	c.expect(TypePong)
	w := c.hello(ClientMsg{})
	if w.Version != 0 {
		t.Fatalf("welcome %+v", w)
	}
}

func TestRepeatedErrorsClose(t *testing.T) {
	ts := newTestServer(t, Options{})
	c := dialTest(t, ts.url+"noisy")
	c.hello(ClientMsg{})
	for i := 0; i < 30; i++ {
		if err := c.conn.Write(context.Background(), websocket.MessageText, []byte(`{"type":"nope"}`)); err != nil {
			break // Closed already.
		}
	}
	if code := c.closed(); code != CloseProtocol {
		t.Fatalf("close code %d, want %d", code, CloseProtocol)
	}
}

func TestHelloTimeout(t *testing.T) {
	ts := newTestServer(t, Options{HelloTimeout: 100 * time.Millisecond})
	c := dialTest(t, ts.url+"quiet")
	if code := c.closed(); code != CloseHelloTimeout {
		t.Fatalf("close code %d", code)
	}
}

func TestMessageTooBig(t *testing.T) {
	ts := newTestServer(t, Options{MaxMessageBytes: 1 << 20})
	c := dialTest(t, ts.url+"big")
	c.hello(ClientMsg{})
	// A paste just under the limit is fine.
	paste := strings.Repeat("é", (1<<20-100)/2)
	c.sendRaw(opJSON(1, 0, `["`+paste+`"]`))
	c.expect(TypeAck)
	// One byte over closes with 1009, without reading the whole frame.
	big := `{"type":"ping","pad":"` + strings.Repeat("x", 1<<20) + `"}`
	_ = c.conn.Write(context.Background(), websocket.MessageText, []byte(big))
	if code := c.closed(); code != websocket.StatusMessageTooBig {
		t.Fatalf("close code %d", code)
	}
}

func TestConnectionRefusals(t *testing.T) {
	t.Run("no subprotocol", func(t *testing.T) {
		ts := newTestServer(t, Options{})
		c := dialProto(t, ts.url+"x", nil)
		c.expectError(CodeInvalidMessage)
		if code := c.closed(); code != CloseProtocol {
			t.Fatalf("close code %d", code)
		}
	})
	t.Run("invalid id", func(t *testing.T) {
		ts := newTestServer(t, Options{})
		c := dialTest(t, ts.url+strings.Repeat("a", 65))
		if code := c.closed(); code != CloseInvalidID {
			t.Fatalf("close code %d", code)
		}
	})
	t.Run("not found without auto-create", func(t *testing.T) {
		ts := newTestServer(t, Options{NoAutoCreate: true})
		c := dialTest(t, ts.url+"missing")
		c.send(ClientMsg{Type: TypeHello})
		c.expectError(CodeNotFound)
		if code := c.closed(); code != CloseNotFound {
			t.Fatalf("close code %d", code)
		}
	})
	t.Run("too many connections", func(t *testing.T) {
		ts := newTestServer(t, Options{MaxConnsPerDoc: 2})
		for i := 0; i < 2; i++ {
			dialTest(t, ts.url+"full").hello(ClientMsg{})
		}
		c := dialTest(t, ts.url+"full")
		c.send(ClientMsg{Type: TypeHello})
		c.expectError(CodeTooManyConnections)
		if code := c.closed(); code != websocket.StatusTryAgainLater {
			t.Fatalf("close code %d", code)
		}
	})
	t.Run("refused token", func(t *testing.T) {
		ts := newTestServer(t, Options{})
		ts.peer.Authorize = func(token string) (Grant, error) {
			if token == "good" {
				return Grant{Role: RoleView, Name: "Token Name"}, nil
			}
			return Grant{}, errors.New("bad signature")
		}
		// Only a grant with Create, of an editor, creates a missing document.
		for _, g := range []Grant{{Role: RoleView}, {Role: RoleView, Create: true}, {Role: RoleEdit}} {
			ts.peer.Authorize = func(string) (Grant, error) { return g, nil }
			v := dialTest(t, ts.url+"auth")
			v.send(ClientMsg{Type: TypeHello})
			v.expectError(CodeNotFound)
			if _, err := ts.db.Meta(context.Background(), "auth"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("after a hello with %+v for a missing document: %v", g, err)
			}
		}
		ts.peer.Authorize = func(string) (Grant, error) { return Grant{Role: RoleEdit, Create: true}, nil }
		dialTest(t, ts.url+"created").hello(ClientMsg{})
		if _, err := ts.db.Meta(context.Background(), "created"); err != nil {
			t.Fatalf("an editor with Create did not create: %v", err)
		}
		if _, err := ts.db.Create(context.Background(), "auth", ""); err != nil {
			t.Fatal(err)
		}
		ts.peer.Authorize = func(token string) (Grant, error) {
			if token == "good" {
				return Grant{Role: RoleView, Name: "Token Name"}, nil
			}
			return Grant{}, errors.New("bad signature")
		}
		c := dialTest(t, ts.url+"auth")
		c.send(ClientMsg{Type: TypeHello, Token: "bad"})
		c.expectError(CodeForbidden)
		if code := c.closed(); code != websocket.StatusPolicyViolation {
			t.Fatalf("close code %d", code)
		}
		v := dialTest(t, ts.url+"auth")
		w := v.hello(ClientMsg{Token: "good", User: &User{Name: "Mallory"}})
		if w.Role != "view" {
			t.Fatalf("role %q", w.Role)
		}
		v.sendRaw(opJSON(1, 0, `["x"]`))
		if e := v.expectError(CodeForbidden); e.Seq != 1 {
			t.Fatalf("forbidden without seq %+v", e)
		}
		e := dialTest(t, ts.url+"auth")
		w = e.hello(ClientMsg{Token: "good"})
		if len(w.Peers) != 1 || w.Peers[0].Name != "Token Name" {
			t.Fatalf("token name not used: %+v", w.Peers)
		}
	})
}

func TestRateLimit(t *testing.T) {
	ts := newTestServer(t, Options{OpsPerSecond: 0.001, OpBurst: 2})
	c := dialTest(t, ts.url+"rl")
	c.hello(ClientMsg{})
	c.sendRaw(opJSON(1, 0, `["a"]`))
	c.expect(TypeAck)
	c.sendRaw(opJSON(2, 1, `["b"]`))
	c.expect(TypeAck)
	for seq := uint64(3); seq < 30; seq++ { // Not a disconnect, however many.
		c.sendRaw(opJSON(seq, 2, `["c"]`))
		if e := c.expectError(CodeRateLimited); e.Seq != seq {
			t.Fatalf("seq %d: %+v", seq, e)
		}
	}
	c.sendRaw(`{"type":"ping"}`)
	c.expect(TypePong)
	if text, v := textOf(t, ts.db, "rl"); text != "ba" || v != 2 {
		t.Fatalf("%q@%d", text, v)
	}
}

// TestFullDocumentDoesNotCut: a client typing on in a full document is told
// doc_too_large for each op, and stays connected: it is not a protocol
// error.
func TestFullDocumentDoesNotCut(t *testing.T) {
	ts := newTestServer(t, Options{MaxDocLen: 3, OpsPerSecond: 1000, OpBurst: 1000})
	c := dialTest(t, ts.url+"full")
	c.hello(ClientMsg{})
	c.sendRaw(opJSON(1, 0, `["abc"]`))
	c.expect(TypeAck)
	for seq := uint64(2); seq < 40; seq++ {
		c.sendRaw(opJSON(seq, 1, `["x"]`))
		if e := c.expectError(CodeDocTooLarge); e.Seq != seq {
			t.Fatalf("seq %d: %+v", seq, e)
		}
	}
	c.sendRaw(`{"type":"ping"}`)
	c.expect(TypePong)
}

// TestRefusedOpNamesItsSeq: an op frame that does not decode (not in
// normal form, a lone surrogate, a malformed component) is refused with its
// seq, so a client with that op in flight learns its fate.
func TestRefusedOpNamesItsSeq(t *testing.T) {
	ts := newTestServer(t, Options{})
	c := dialTest(t, ts.url+"refused")
	c.hello(ClientMsg{})
	for seq, op := range map[uint64]string{
		1: `[1,"x",2]`, 2: `["a","b"]`, 3: `[{"d":1},{"d":1}]`, 4: `["\ud800"]`, 5: `[0]`, 6: `[{"x":1}]`,
	} {
		c.sendRaw(opJSON(seq, 0, op))
		var e ErrorMsg
		c.expectInto(TypeError, &e)
		if e.Seq != seq || (e.Code != CodeInvalidOp && e.Code != CodeInvalidMessage) {
			t.Errorf("op %s: error %+v, want invalid_op or invalid_message with seq %d", op, e, seq)
		}
	}
	c.sendRaw(opJSON(7, 0, `["ok"]`))
	c.expect(TypeAck)
}

// TestClosingConnectionActsOnNothing: once the server has decided to close a
// connection (a refused connection, an exhausted error budget), what the
// client sends before the close takes effect is not acted on: a hello on a
// connection without the subprotocol does not join or create the document,
// an op after the error that closes the connection is not committed. The
// client sends right behind the refusal; each round is a race the server
// must never lose.
func TestClosingConnectionActsOnNothing(t *testing.T) {
	ts := newTestServer(t, Options{})
	write := func(c *testClient, s string) {
		_ = c.conn.Write(context.Background(), websocket.MessageText, []byte(s)) // May be closed already.
	}
	t.Run("no subprotocol", func(t *testing.T) {
		for i := range 200 {
			id := fmt.Sprintf("nosub%d", i)
			c := dialProto(t, ts.url+id, nil)
			write(c, `{"type":"hello"}`)
			write(c, opJSON(1, 0, `["x"]`))
			if code := c.closed(); code != CloseProtocol {
				t.Fatalf("close code %d", code)
			}
			c.close()
			if m, err := ts.db.Meta(context.Background(), id); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("refused connection's hello reached the document: %+v, %v", m, err)
			}
		}
	})
	t.Run("error budget", func(t *testing.T) {
		for i := range 50 {
			id := fmt.Sprintf("budget%d", i)
			c := dialTest(t, ts.url+id)
			c.hello(ClientMsg{})
			for range 11 {
				write(c, `{"type":"nope"}`)
			}
			write(c, opJSON(1, 0, `["x"]`))
			if code := c.closed(); code != CloseProtocol {
				t.Fatalf("close code %d", code)
			}
			c.close()
			if text, v := textOf(t, ts.db, id); v != 0 {
				t.Fatalf("op after the closing error committed: %q@%d", text, v)
			}
		}
	})
}

// TestRefusedOpsCounted: folio_ops_rejected_total counts every op frame
// refused, by its code, whether it fails to decode, lacks its seq or
// version, or does not fit the text: the same invalid_op must not be counted
// in one case and not in another.
func TestRefusedOpsCounted(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	ts := newTestServer(t, Options{Metrics: m})
	c := dialTest(t, ts.url+"counted")
	c.hello(ClientMsg{})
	for i, op := range []string{`[0,"x"]`, `[{"x":1}]`, `[5,"x"]`} {
		c.sendRaw(opJSON(uint64(i+1), 0, op))
		c.expectError(CodeInvalidOp)
	}
	c.sendRaw(`{"type":"op","seq":9,"op":["x"]}`)
	c.expectError(CodeInvalidMessage)
	for code, want := range map[Code]float64{CodeInvalidOp: 3, CodeInvalidMessage: 1} {
		if got := counterValue(m.opsRejected.WithLabelValues(string(code))); got != want {
			t.Errorf("folio_ops_rejected_total{reason=%q} = %v, want %v", code, got, want)
		}
	}
}
