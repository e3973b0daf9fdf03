package client

import (
	"fmt"
	"testing"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
)

// fakeServer is an in-memory, single-threaded model of the collab server's
// ordering rules: an op based on version b is transformed with side Left over
// every op committed after b; a (session, seq) already committed is acked
// again with its original version and not applied twice.
type fakeServer struct {
	t    *testing.T
	text string
	log  []collab.OpMsg // log[i] produced version i+1.
	seen map[string]map[uint64]uint64
	next int // Session id counter.
}

func newFakeServer(t *testing.T, text string) *fakeServer {
	return &fakeServer{t: t, text: text, seen: map[string]map[uint64]uint64{}}
}

func (f *fakeServer) version() uint64 { return uint64(len(f.log)) }

// welcome answers hello; withText forces a full text even when the client
// named a version. As the server does, a hello with a key gets the id
// derived from it and the key echoed, one with a session id alone (a legacy
// client) resumes that id, and one with neither gets a new legacy id.
func (f *fakeServer) welcome(h collab.ClientMsg, withText bool) collab.Welcome {
	session, key := h.Session, h.Key
	if session == "" && key == "" {
		f.next++
		session = fmt.Sprintf("fake-session-%c", 'A'-1+f.next)
	}
	if key != "" {
		session = collab.SessionID(key)
	}
	w := collab.Welcome{Type: collab.TypeWelcome, Session: session, Key: key, Version: f.version(), Role: "edit"}
	if h.Version == nil || withText {
		t := f.text
		w.Text = &t
	} else {
		w.Ops = append([]collab.OpMsg{}, f.log[*h.Version:]...)
	}
	return w
}

// submit handles an op message from session. It returns the committed op
// (nil for a duplicate) and the ack for the author.
func (f *fakeServer) submit(session string, m collab.ClientMsg) (*collab.OpMsg, collab.Ack) {
	f.t.Helper()
	if v, ok := f.seen[session][m.Seq]; ok {
		return nil, collab.Ack{Type: collab.TypeAck, Seq: m.Seq, Version: v}
	}
	op := m.Op
	for _, c := range f.log[*m.Version:] {
		op = ot.Transform(op, c.Op, ot.Left)
	}
	text, err := ot.Apply(f.text, op)
	if err != nil {
		// Errorf, not Fatalf: the WebSocket fake calls this off the test goroutine.
		f.t.Errorf("server: op %v from %s seq %d at %d does not fit %q: %v", m.Op, session, m.Seq, *m.Version, f.text, err)
		return nil, collab.Ack{}
	}
	f.text = text
	c := collab.OpMsg{Type: collab.TypeOp, Version: f.version() + 1, Op: op, Session: session, Seq: m.Seq}
	f.log = append(f.log, c)
	if f.seen[session] == nil {
		f.seen[session] = map[uint64]uint64{}
	}
	f.seen[session][m.Seq] = c.Version
	return &c, collab.Ack{Type: collab.TypeAck, Seq: m.Seq, Version: c.Version}
}

// replay applies the whole log to the initial text.
func (f *fakeServer) replay(initial string) string {
	f.t.Helper()
	s := initial
	for _, c := range f.log {
		var err error
		if s, err = ot.Apply(s, c.Op); err != nil {
			f.t.Fatalf("replay op %d: %v", c.Version, err)
		}
	}
	return s
}

// connect runs a hello/welcome exchange between st and f.
func connect(t *testing.T, f *fakeServer, st *state, withText bool) {
	t.Helper()
	h := st.hello(collab.User{Name: "t"}, "")
	if err := st.welcome(f.welcome(h, withText)); err != nil {
		t.Fatalf("welcome: %v", err)
	}
}

// takeOut removes the state's outgoing messages.
func takeOut(st *state) []collab.ClientMsg {
	out := append([]collab.ClientMsg{}, st.out...)
	st.out = st.out[:0]
	return out
}

// onlyOps filters op messages.
func onlyOps(ms []collab.ClientMsg) []collab.ClientMsg {
	var ops []collab.ClientMsg
	for _, m := range ms {
		if m.Type == collab.TypeOp {
			ops = append(ops, m)
		}
	}
	return ops
}
