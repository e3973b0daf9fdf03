package ot

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestConcurrentTraces replays the two concurrent traces as a central-server
// OT session (see the traces README): every client applies its own txns at
// the recorded positions, the server orders txns by index, and each
// client/server pair runs Jupiter's two-party protocol: the side that
// receives an op transforms it over the ops it sent that the sender had not
// yet seen. At the end every client and the server must hold endContent.
func TestConcurrentTraces(t *testing.T) {
	for _, name := range []string{"friendsforever", "clownschool"} {
		t.Run(name, func(t *testing.T) {
			if testing.Short() {
				t.Skip("long replay skipped under -short")
			}
			tr := loadTrace(t, filepath.Join(tracesDir(t), "concurrent_traces", name+".json.gz"))
			clients, server := replayConcurrent(t, tr, Left)
			for a, text := range clients {
				if text != tr.EndContent {
					t.Errorf("client %d: %s", a, firstDiff(text, tr.EndContent))
				}
			}
			if server != tr.EndContent {
				t.Errorf("server: %s", firstDiff(server, tr.EndContent))
			}
			// With the other tie-break every end must still agree.
			clients, server = replayConcurrent(t, tr, Right)
			for a, text := range clients {
				if text != server {
					t.Errorf("sides swapped: client %d and server diverge: %s", a, firstDiff(text, server))
				}
			}
		})
	}
}

// message is an op sent over one connection, stamped with how many messages
// the sender had received on that connection when it sent it.
type message struct {
	op   Op
	seen int
}

// endpoint is one end of a client/server connection: the ops it sent that the
// other end may not have seen yet, and counts of messages sent and received.
type endpoint struct {
	sent     int       // messages sent
	received int       // messages received
	unseen   []message // sent messages, op in the current context; seen holds the sequence number
	inbox    []message // messages in flight towards this end
}

// send records op as sent by e and returns the message for the other end.
func (e *endpoint) send(op Op) message {
	e.unseen = append(e.unseen, message{op: op, seen: e.sent})
	e.sent++
	return message{op: op, seen: e.received}
}

// receive transforms m's op over the ops e sent that the other end had not
// seen, and returns it ready to apply. mine is the side of e's own ops.
func (e *endpoint) receive(m message, mine Side) Op {
	for len(e.unseen) > 0 && e.unseen[0].seen < m.seen {
		e.unseen = e.unseen[1:]
	}
	op := m.op
	theirs := Right
	if mine == Right {
		theirs = Left
	}
	for i := range e.unseen {
		u := &e.unseen[i]
		op, u.op = Transform(op, u.op, theirs), Transform(u.op, op, mine)
	}
	e.received++
	return op
}

type simClient struct {
	doc  *Document
	conn endpoint // client end
}

// replayConcurrent runs the session and returns each client's final text and
// the server's. clientSide is the side of a client's op against a concurrent
// server op, the same on both ends of a connection so that both compute the
// same pair of transformed ops. ShareDB's choice is Left (transformX in its
// client, transform(op, applied, 'left') on its server), and it reproduces
// endContent. With Right every end still converges, but friendsforever ends
// differently: it has concurrent inserts that meet at one position after a
// concurrent delete, so the tie-break decides their order.
func replayConcurrent(t *testing.T, tr *trace, clientSide Side) (clients []string, server string) {
	serverSide := Left
	if clientSide == Left {
		serverSide = Right
	}
	n := tr.NumAgents
	sims := make([]*simClient, n)
	serverEnds := make([]*endpoint, n) // server end of each connection
	for a := range sims {
		sims[a] = &simClient{doc: NewDocument("")}
		serverEnds[a] = &endpoint{}
	}
	srv := NewDocument("")
	ks := othersSeen(tr)

	deliverToClient := func(a int) {
		c := sims[a]
		m := c.conn.inbox[0]
		c.conn.inbox = c.conn.inbox[1:]
		op := c.conn.receive(m, clientSide)
		if err := c.doc.Apply(op); err != nil {
			t.Fatalf("client %d applying server op: %v", a, err)
		}
	}

	for i, tx := range tr.Txns {
		a := tx.Agent
		c := sims[a]
		for c.conn.received < ks[i] {
			if len(c.conn.inbox) == 0 {
				t.Fatalf("txn %d: client %d has %d server ops, needs %d", i, a, c.conn.received, ks[i])
			}
			deliverToClient(a)
		}
		// The client types txn i at the recorded positions.
		for j, p := range tx.Patches {
			if p.Pos+p.Del > c.doc.Len() {
				t.Fatalf("txn %d patch %d [%d %d %q] does not fit client %d's text of length %d",
					i, j, p.Pos, p.Del, p.Ins, a, c.doc.Len())
			}
		}
		op := txnOp(t, tx)
		if err := c.doc.Apply(op); err != nil {
			t.Fatalf("txn %d: client %d: %v", i, a, err)
		}
		m := c.conn.send(op)

		// The server integrates it at position i and broadcasts it.
		sop := serverEnds[a].receive(m, serverSide)
		if err := srv.Apply(sop); err != nil {
			t.Fatalf("txn %d: server: %v", i, err)
		}
		for b := range sims {
			if b != a {
				sims[b].conn.inbox = append(sims[b].conn.inbox, serverEnds[b].send(sop))
			}
		}
	}
	for a, c := range sims {
		for len(c.conn.inbox) > 0 {
			deliverToClient(a)
		}
		clients = append(clients, c.doc.String())
	}
	return clients, srv.String()
}

// firstDiff describes where got first differs from want.
func firstDiff(got, want string) string {
	g, w := []rune(got), []rune(want)
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	around := func(rs []rune) string { return string(rs[max(0, i-20):min(len(rs), i+20)]) }
	return fmt.Sprintf("text differs from endContent at %d: %q, want %q (lengths %d, %d)", i, around(g), around(w), len(g), len(w))
}

// othersSeen returns k_i for each txn i: how many txns of other agents its
// author had received, in index order, when typing it. Its ancestors are the
// author's earlier txns plus the first k_i txns of other agents, so k_i is the
// largest count that any parent contributes: k_p for a parent by the same
// agent, and the number of other agents' txns up to and including p otherwise.
func othersSeen(tr *trace) []int {
	ks := make([]int, len(tr.Txns))
	// byOthers[a][i]: number of txns not by agent a with index < i.
	byOthers := make([][]int, tr.NumAgents)
	for a := range byOthers {
		byOthers[a] = make([]int, len(tr.Txns)+1)
		for i, tx := range tr.Txns {
			byOthers[a][i+1] = byOthers[a][i]
			if tx.Agent != a {
				byOthers[a][i+1]++
			}
		}
	}
	for i, tx := range tr.Txns {
		for _, p := range tx.Parents {
			k := byOthers[tx.Agent][p+1]
			if tr.Txns[p].Agent == tx.Agent {
				k = ks[p]
			}
			ks[i] = max(ks[i], k)
		}
	}
	return ks
}
