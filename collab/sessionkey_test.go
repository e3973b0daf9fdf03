package collab

import (
	"context"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// TestPublicIDCannotTakeOver: with open access (every participant an
// unnamed editor, which the holder checks cannot tell apart), a hello with
// another session's public id does not close that session with 4003, which
// the browser editor takes as final. Its own key takes it over.
func TestPublicIDCannotTakeOver(t *testing.T) {
	ts := newTestServer(t, Options{})
	ann := dialTest(t, ts.url+"d")
	w := ann.hello(ClientMsg{})

	eve := dialTest(t, ts.url+"d")
	eve.send(ClientMsg{Type: TypeHello, Session: w.Session})
	eve.expectError(CodeForbidden)
	if code := eve.closed(); code != websocket.StatusPolicyViolation {
		t.Fatalf("refused hello closed with %d", code)
	}
	ann.sendRaw(`{"type":"ping"}`)
	ann.expect(TypePong) // Still connected.

	again := dialTest(t, ts.url+"d")
	if w2 := again.hello(ClientMsg{Key: w.Key}); w2.Session != w.Session || w2.Key != w.Key {
		t.Fatalf("resume with the key: %+v, want session %s", w2, w.Session)
	}
	if code := ann.closed(); code != CloseReplaced {
		t.Fatalf("the key's takeover closed the old connection with %d", code)
	}
}

// TestPublicIDCannotResume: with open access, while a session's client is
// offline, a hello with its public id cannot resume it: it would take the
// owner's next seq, and the owner's resend of that seq would be answered as
// a duplicate and dropped. The owner resumes with its key and its resent op
// is committed once.
func TestPublicIDCannotResume(t *testing.T) {
	ts := newTestServer(t, Options{})
	ann := dialTest(t, ts.url+"d")
	w := ann.hello(ClientMsg{})
	ann.sendRaw(opJSON(1, 0, `["A"]`))
	ann.expect(TypeAck)
	ann.close() // Offline, about to send seq 2.

	eve := dialTest(t, ts.url+"d")
	eve.send(ClientMsg{Type: TypeHello, Session: w.Session, Version: u64(1)})
	if b := eve.next(); msgType(b) != TypeError {
		eve.sendRaw(opJSON(2, 1, `["E"]`)) // Ann's seq 2.
		eve.expect(TypeAck)
		t.Errorf("resumed by its public id: %s", b)
	} else if !strings.Contains(string(b), `"code":"forbidden"`) {
		t.Fatalf("refusal %s", b)
	}

	back := dialTest(t, ts.url+"d")
	if w2 := back.hello(ClientMsg{Key: w.Key, Version: u64(1)}); w2.Session != w.Session {
		t.Fatalf("resume with the key: %+v", w2)
	}
	back.sendRaw(opJSON(2, 1, `[1,"n"]`))
	var ack Ack
	back.expectInto(TypeAck, &ack)
	if ack.Seq != 2 || ack.Version != 2 {
		t.Fatalf("ack %+v", ack)
	}
	if text, v := textOf(t, ts.db, "d"); text != "An" || v != 2 {
		t.Fatalf("text %q at %d, want \"An\" at 2", text, v)
	}
}

// TestLegacySessionHello: a hello with a session id and no key (a client
// built before keys, e.g. a tab open across the upgrade, holding a UUID from
// the old server) still resumes that session exactly-once; one naming an id
// derived from a key, or a REST idempotency session, is refused: those ids
// are public.
func TestLegacySessionHello(t *testing.T) {
	ts := newTestServer(t, Options{})
	if _, err := ts.hub.Create(context.Background(), "d", ""); err != nil {
		t.Fatal(err)
	}
	const id = "0b7d3f0e-7d1f-4b8e-9d7e-2f0c1a9b6e11"
	a := dialTest(t, ts.url+"d")
	if w := a.hello(ClientMsg{Session: id, Version: u64(0)}); w.Session != id || w.Key != "" {
		t.Fatalf("legacy welcome %+v", w)
	}
	a.sendRaw(opJSON(1, 0, `["x"]`))
	a.expect(TypeAck)
	a.close()
	b := dialTest(t, ts.url+"d")
	if w := b.hello(ClientMsg{Session: id, Version: u64(0)}); w.Session != id || len(w.Ops) != 1 {
		t.Fatalf("legacy resume %+v", w)
	}
	b.sendRaw(opJSON(1, 0, `["x"]`))
	var ack Ack
	b.expectInto(TypeAck, &ack)
	if ack.Seq != 1 || ack.Version != 1 {
		t.Fatalf("resent op: %+v", ack)
	}
	if text, _ := textOf(t, ts.db, "d"); text != "x" {
		t.Fatalf("text %q", text)
	}

	for name, public := range map[string]string{
		"derived":     SessionID("a-key-of-someone-else"),
		"idempotency": "idem-0123456789abcdef0123456789abcdef",
	} {
		t.Run(name, func(t *testing.T) {
			c := dialTest(t, ts.url+"d")
			c.send(ClientMsg{Type: TypeHello, Session: public})
			if e := c.expectError(CodeForbidden); !strings.Contains(e.Message, "key") {
				t.Errorf("message %q does not say to resume with the key", e.Message)
			}
			if code := c.closed(); code != websocket.StatusPolicyViolation {
				t.Errorf("closed with %d", code)
			}
		})
	}
}

// TestHelloKeyChecked: a malformed key, or a key with a session not its id, is an
// invalid_message that leaves the connection open for a proper hello.
func TestHelloKeyChecked(t *testing.T) {
	ts := newTestServer(t, Options{})
	c := dialTest(t, ts.url+"d")
	for _, h := range []ClientMsg{
		{Key: strings.Repeat("k", 15)},
		{Key: strings.Repeat("k", 65)},
		{Key: "has a space in it, sixteen+"},
		{Key: "ключ-ключ-ключ-ключ"},
		{Key: strings.Repeat("k", 16), Session: "0b7d3f0e-7d1f-4b8e-9d7e-2f0c1a9b6e11"},
	} {
		h.Type = TypeHello
		c.send(h)
		c.expectError(CodeInvalidMessage)
	}
	key := "0123456789abcdef_-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrst" // The longest.
	if w := c.hello(ClientMsg{Key: key}); w.Session != SessionID(key) || w.Key != key {
		t.Fatalf("welcome %+v", w)
	}
	// With its own id as well (what a server before keys resumes by).
	again := dialTest(t, ts.url+"d")
	if w := again.hello(ClientMsg{Key: key, Session: SessionID(key)}); w.Session != SessionID(key) || w.Key != key {
		t.Fatalf("welcome to key and id %+v", w)
	}
}

// TestHelloWithoutKey: a client that names neither a key nor a session (one
// built before keys, which takes its id from the welcome) gets a fresh
// legacy session: a random UUID it may resume by, and no key.
func TestHelloWithoutKey(t *testing.T) {
	ts := newTestServer(t, Options{})
	seen := map[string]bool{}
	for range 2 {
		c := dialTest(t, ts.url+"d")
		c.send(ClientMsg{Type: TypeHello})
		var w Welcome
		c.expectInto(TypeWelcome, &w)
		if w.Key != "" || !ValidID(w.Session) || publicOnlyID(w.Session) || len(w.Session) != 36 || seen[w.Session] {
			t.Fatalf("welcome %+v", w)
		}
		seen[w.Session] = true
	}
}

// TestKeyOnlyInItsWelcome: the key goes to its own connection, in welcome,
// and nowhere else: not in the others' welcome peers, presence, ops or leave.
func TestKeyOnlyInItsWelcome(t *testing.T) {
	ts := newTestServer(t, Options{})
	ann := dialTest(t, ts.url+"d")
	w := ann.hello(ClientMsg{User: &User{Name: "Ann"}})
	if w.Key == "" || w.Session != SessionID(w.Key) {
		t.Fatalf("welcome %+v", w)
	}
	bob := dialTest(t, ts.url+"d")
	bob.send(ClientMsg{Type: TypeHello})
	seen := []string{string(bob.expectExactly(TypeWelcome))}
	until := func(typ string) {
		t.Helper()
		for {
			b := bob.next()
			seen = append(seen, string(b))
			if msgType(b) == typ && strings.Contains(string(b), w.Session) {
				return
			}
		}
	}
	ann.sendRaw(`{"type":"presence","version":0,"cursor":{"anchor":0,"head":0}}`)
	ann.sendRaw(opJSON(1, 0, `["A"]`))
	until(TypeOp)
	ann.close()
	until(TypeLeave)
	again := dialTest(t, ts.url+"d")
	again.hello(ClientMsg{Key: w.Key, Version: u64(1)})
	until(TypePresence)
	carl := dialTest(t, ts.url+"d")
	carl.send(ClientMsg{Type: TypeHello})
	seen = append(seen, string(carl.expectExactly(TypeWelcome)))
	if !strings.Contains(seen[0], w.Session) || !strings.Contains(seen[len(seen)-1], w.Session) {
		t.Fatalf("the welcomes do not list Ann: %s", seen)
	}
	for _, m := range seen {
		if strings.Contains(m, w.Key) {
			t.Errorf("another participant got the key: %s", m)
		}
	}
}
