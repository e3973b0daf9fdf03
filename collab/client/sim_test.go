package client

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unicode/utf8"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
)

// simClient is a state plus its two wire queues in the simulation.
type simClient struct {
	st      *state
	online  bool
	up      []collab.ClientMsg // Client to server, in order.
	down    []any              // Server to client, in order.
	retries []uint64           // Seqs to resend (rate limited).
}

// sim runs clients against a fakeServer with presence, dropping connections,
// losing queued messages, answering some reconnects with a full text (which
// puts an in-flight op in limbo) and rate limiting some ops.
type sim struct {
	t        *testing.T
	r        *rand.Rand
	f        *fakeServer
	cs       []*simClient
	presence map[string]collab.Presence // Server side, cursors at head.

	// insertOnly: every edit inserts one code point nobody else types, so
	// the final text must hold each typed one exactly once.
	insertOnly bool
	typed      []rune
}

// edit is a random op on c's local text.
func (s *sim) edit(c *simClient) ot.Op {
	n := c.st.local.Len()
	if !s.insertOnly {
		return randOp(s.r, n)
	}
	ch := rune(0x4E00 + len(s.typed))
	s.typed = append(s.typed, ch)
	return ins([...]int{0, n, n / 2, s.r.IntN(n + 1)}[s.r.IntN(4)], string(ch))
}

var pieces = []string{"a", "b", "xyz", " ", "\n", "é", "🎉", "👨‍👩‍👧‍👦", "e\u0301", "\r\n"}

func randOp(r *rand.Rand, n int) ot.Op {
	// Hot spots make concurrent inserts at one position (ties) common.
	pos := [...]int{0, n, n / 2, r.IntN(n + 1)}[r.IntN(4)]
	if n > 0 && r.IntN(3) == 0 {
		d := 1 + r.IntN(min(n-pos, 5)+1)
		d = min(d, n-pos)
		if d == 0 {
			return ins(pos, pieces[r.IntN(len(pieces))])
		}
		op := at(pos, ot.Component{Delete: d})
		if r.IntN(2) == 0 {
			op = append(op, ot.Component{Insert: pieces[r.IntN(len(pieces))]})
		}
		return op
	}
	return ins(pos, pieces[r.IntN(len(pieces))])
}

func (s *sim) connect(c *simClient) {
	h := c.st.hello(collab.User{}, "")
	w := s.f.welcome(h, s.r.IntN(3) == 0)
	for id, p := range s.presence {
		if id != w.Session {
			w.Peers = append(w.Peers, p)
		}
	}
	if err := c.st.welcome(w); err != nil {
		s.t.Fatalf("welcome: %v", err)
	}
	c.online = true
	c.up = append(c.up, takeOut(c.st)...)
}

func (s *sim) drop(c *simClient) {
	c.st.offline()
	c.online, c.up, c.down, c.retries = false, nil, nil, nil
	delete(s.presence, c.st.session)
	s.broadcast(c, collab.Leave{Type: collab.TypeLeave, Session: c.st.session})
}

func (s *sim) broadcast(from *simClient, m any) {
	for _, o := range s.cs {
		if o != from && o.online {
			o.down = append(o.down, m)
		}
	}
}

// serverRecv handles c's oldest outgoing message on the server.
func (s *sim) serverRecv(c *simClient) {
	m := c.up[0]
	c.up = c.up[1:]
	switch m.Type {
	case collab.TypeOp:
		if s.r.IntN(10) == 0 {
			c.down = append(c.down, collab.ErrorMsg{Type: collab.TypeError, Code: collab.CodeRateLimited, Seq: m.Seq})
			return
		}
		committed, ack := s.f.submit(c.st.session, m)
		c.down = append(c.down, ack)
		if committed != nil {
			for id, p := range s.presence {
				if p.Cursor != nil {
					sel := ot.TransformSelection(*p.Cursor, committed.Op)
					p.Cursor = &sel
				}
				p.Version = committed.Version
				s.presence[id] = p
			}
			s.broadcast(c, *committed)
		}
	case collab.TypePresence:
		p := collab.Presence{Type: collab.TypePresence, Session: c.st.session, Version: s.f.version()}
		if m.Cursor.Sel != nil {
			sel := *m.Cursor.Sel
			for _, op := range s.f.log[*m.Version:] {
				sel = ot.TransformSelection(sel, op.Op)
			}
			p.Cursor = &sel
		}
		s.presence[p.Session] = p
		s.broadcast(c, p)
	}
}

// clientRecv hands c its oldest incoming message.
func (s *sim) clientRecv(c *simClient) {
	m := c.down[0]
	c.down = c.down[1:]
	var err error
	switch m := m.(type) {
	case collab.OpMsg:
		err = c.st.applyOp(m)
	case collab.Ack:
		err = c.st.ack(m)
	case collab.ErrorMsg:
		var retry bool
		if retry, err = c.st.fail(m); retry {
			c.retries = append(c.retries, m.Seq)
		}
	case collab.Presence:
		c.st.presence(m)
	case collab.Leave:
		c.st.leave(m.Session)
	}
	if err != nil {
		s.t.Fatalf("client %s: %v", c.st.session, err)
	}
}

// step does one random action.
func (s *sim) step() {
	c := s.cs[s.r.IntN(len(s.cs))]
	switch k := s.r.IntN(100); {
	case !c.online:
		if k < 40 {
			s.connect(c)
		} else if k < 70 {
			mustSubmit(s.t, c.st, s.edit(c))
		}
	case k < 30:
		mustSubmit(s.t, c.st, s.edit(c))
	case k < 35:
		n := c.st.local.Len()
		c.st.setCursor(&ot.Selection{Anchor: s.r.IntN(n + 1), Head: s.r.IntN(n + 1)})
	case k < 60 && len(c.up) > 0:
		s.serverRecv(c)
	case k < 90 && len(c.down) > 0:
		s.clientRecv(c)
	case k < 94 && len(c.retries) > 0:
		c.st.retry(c.retries[0])
		c.retries = c.retries[1:]
	case k >= 97:
		s.drop(c)
	}
	if c.online {
		c.up = append(c.up, takeOut(c.st)...)
	}
}

// settle reconnects everyone and delivers until nothing moves.
func (s *sim) settle() {
	for _, c := range s.cs {
		if !c.online {
			s.connect(c)
		}
	}
	for moved := true; moved; {
		moved = false
		for _, c := range s.cs {
			for len(c.up) > 0 || len(c.down) > 0 || len(c.retries) > 0 {
				moved = true
				switch {
				case len(c.up) > 0:
					s.serverRecv(c)
				case len(c.down) > 0:
					s.clientRecv(c)
				default:
					c.st.retry(c.retries[0])
					c.retries = c.retries[1:]
				}
				c.up = append(c.up, takeOut(c.st)...)
			}
		}
	}
}

func TestSimConvergence(t *testing.T) {
	seeds, steps := 60, 1500
	if testing.Short() {
		seeds = 15
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runSim(t, uint64(seed), 5, steps, false) })
	}
}

// TestSimNothingLostOrDoubled: with insert-only edits of unique code points,
// every typed one is in the final text exactly once, through drops, limbo
// and retries (convergence alone would not notice an edit applied twice
// everywhere).
func TestSimNothingLostOrDoubled(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 10
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runSim(t, uint64(seed), 4, 1000, true) })
	}
}

func runSim(t *testing.T, seed uint64, clients, steps int, insertOnly bool) {
	s := &sim{t: t, r: rand.New(rand.NewPCG(seed, 7)), f: newFakeServer(t, "start🎉\n"),
		presence: map[string]collab.Presence{}, insertOnly: insertOnly}
	for range clients {
		c := &simClient{st: newState()}
		s.cs = append(s.cs, c)
		s.connect(c)
	}
	for range steps {
		s.step()
	}
	s.settle()
	if got := s.f.replay("start🎉\n"); got != s.f.text {
		t.Fatalf("log replay %q != server text %q", got, s.f.text)
	}
	if insertOnly {
		count := map[rune]int{}
		for _, ch := range s.f.text {
			count[ch]++
		}
		for _, ch := range s.typed {
			if count[ch] != 1 {
				t.Fatalf("typed %q is %d times in the final text", ch, count[ch])
			}
		}
	}
	for _, c := range s.cs {
		if !c.st.synced() {
			t.Fatalf("%s not synced", c.st.session)
		}
		if got := c.st.local.String(); got != s.f.text {
			t.Fatalf("%s: %q, server %q", c.st.session, got, s.f.text)
		}
		if c.st.version != s.f.version() || c.st.server.String() != s.f.text {
			t.Fatalf("%s: version %d server text %q", c.st.session, c.st.version, c.st.server.String())
		}
		checkPeers(t, s, c)
	}
}

// checkPeers: every peer's cursor as c sees it is where that peer has it.
func checkPeers(t *testing.T, s *sim, c *simClient) {
	t.Helper()
	n := utf8.RuneCountInString(s.f.text)
	for _, p := range c.st.peerList() {
		var owner *simClient
		for _, o := range s.cs {
			if o.st.session == p.Session {
				owner = o
			}
		}
		want := owner.st.cursor
		if (p.Cursor == nil) != (want == nil) || (want != nil && *p.Cursor != *want) {
			t.Fatalf("%s sees %s's cursor at %v, owner has %v", c.st.session, p.Session, p.Cursor, want)
		}
		if want != nil && (want.Anchor > n || want.Head > n) {
			t.Fatalf("cursor %v outside text of %d", *want, n)
		}
	}
}
