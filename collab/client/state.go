package client

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
)

// recentWindow is how many committed ops (at least) the state keeps to move
// a peer's cursor that was reported at an older version up to the current one.
const recentWindow = 64

// errGap means the server skipped a version or acknowledged out of order: the
// connection is dropped and the resync on reconnect repairs the state.
var errGap = errors.New("client: version gap in server stream")

// errResync means the server could not place an op's base version: the
// client reconnects and asks for the full text, keeping the op.
var errResync = errors.New("client: op base refused, resyncing from the full text")

// state is the client side of OT, free of I/O: the server text at version,
// the local text (server text + inflight + buffer), the single in-flight op
// and the composed buffer, and the peers' presence. All methods are called
// with Client.mu held. Outgoing messages are appended to out (the transport
// sends them in order on the current connection); callback events to events
// (the transport dispatches them from its run goroutine).
type state struct {
	session    string // Public id.
	key        string // Private key: what hello sends to resume the session.
	role       string
	hasVersion bool   // Set by the first welcome; cleared by a desync.
	version    uint64 // Server version the server text is at.
	server     *ot.Document
	local      *ot.Document

	hasInflight bool
	inflight    ot.Op // Relative to server; Left side against remote ops.
	inflightSeq uint64
	buffer      ot.Op // Relative to server+inflight; nil when empty.
	lastSeq     uint64
	limbo       *limbo // Non-nil while an in-flight op's fate is unknown.
	retries     int    // Transient refusals of the op awaiting its ack.
	internals   int    // Its refusals as internal (see retryFew).

	online      bool
	cursor      *ot.Selection // Local coordinates.
	cursorDirty bool          // Cursor changed since last sent.

	peers  peerSet        // Cursors in server coordinates at their version (>= version).
	recent []collab.OpMsg // Last 64 to 128 committed ops, oldest first.

	out    []collab.ClientMsg
	events []event
}

// eventKind says which callback an event is for.
type eventKind int

const (
	evAck eventKind = iota
	evRemoteOp
	evPresence
	evLeave
	evError
)

type event struct {
	kind     eventKind
	seq, ver uint64
	op       collab.OpMsg
	presence collab.Presence
	session  string
	err      collab.ErrorMsg
}

// freshSeq is a seq start above any a client of the same session is likely
// to have used: microseconds since 2020, below 2^53 (exact in JSON) for
// centuries.
func freshSeq() uint64 {
	return uint64(time.Since(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)).Microseconds())
}

func newState() *state {
	return &state{
		server: ot.NewDocument(""),
		local:  ot.NewDocument(""),
	}
}

// synced reports that every local change is acknowledged.
func (s *state) synced() bool {
	return !s.hasInflight && s.buffer == nil && s.limbo == nil
}

// submit applies op to the local text and queues it for the server.
func (s *state) submit(op ot.Op) error {
	if s.role == "view" {
		return ErrReadOnly
	}
	if err := ot.Check(op, s.local.Len()); err != nil {
		return fmt.Errorf("client: submit: %w", err)
	}
	op = ot.Normalize(op)
	if op.IsNoop() {
		return nil
	}
	next := op
	if s.buffer != nil {
		c, err := ot.Compose(s.buffer, op)
		if err != nil {
			return fmt.Errorf("client: compose: %w", err)
		}
		next = c
	}
	if err := s.local.Apply(op); err != nil {
		return fmt.Errorf("client: apply: %w", err)
	}
	s.buffer = next
	if s.cursor != nil {
		// The server moves stored cursors through every op the same way.
		c := ot.TransformSelection(*s.cursor, op)
		s.cursor = &c
	}
	s.flush()
	return nil
}

// setCursor records the local cursor; it is sent once nothing is pending, so
// that its version names a text the server knows (ShareDB does the same).
// Positions outside the local text are clamped to it: a caller that read the
// length before a remote op shortened the text would otherwise send a cursor
// the server refuses (invalid_message).
func (s *state) setCursor(sel *ot.Selection) {
	if sel != nil {
		n := s.local.Len()
		c := ot.Selection{Anchor: min(max(sel.Anchor, 0), n), Head: min(max(sel.Head, 0), n)}
		sel = &c
	}
	s.cursor = sel
	s.cursorDirty = true
	s.flush()
}

// flush sends what can be sent now: the buffer becomes the in-flight op when
// none is in flight, and a changed cursor goes out when nothing is pending.
func (s *state) flush() {
	if !s.online || s.limbo != nil {
		return
	}
	if !s.hasInflight && s.buffer != nil {
		s.lastSeq++
		s.retries, s.internals = 0, 0
		s.hasInflight, s.inflight, s.inflightSeq, s.buffer = true, s.buffer, s.lastSeq, nil
		s.sendOp(s.inflightSeq, s.inflight)
	}
	if s.synced() && s.cursorDirty {
		s.cursorDirty = false
		v := s.version
		s.out = append(s.out, collab.ClientMsg{Type: collab.TypePresence, Version: &v,
			Cursor: collab.CursorField{Set: true, Sel: s.cursor}})
	}
}

func (s *state) sendOp(seq uint64, op ot.Op) {
	v := s.version
	s.out = append(s.out, collab.ClientMsg{Type: collab.TypeOp, Seq: seq, Version: &v, Op: op})
}

// hello is the first message on every connection. It names the session by
// its key (Dial draws one) and, once known, by its id too, which a server
// that predates keys resumes by (it ignores the key; a welcome of such a
// server echoes none, and the id alone is sent from then on). The id also
// tells the server the client had the document, so that one deleted
// meanwhile is not created again, even by a hello without a version (after
// a desync, asking for the text).
func (s *state) hello(user collab.User, token string) collab.ClientMsg {
	m := collab.ClientMsg{Type: collab.TypeHello, Key: s.key, Session: s.session, Token: token, User: &user}
	if s.hasVersion {
		v := s.version
		m.Version = &v
	}
	return m
}

// offline marks the connection gone; nothing is sent until the next welcome.
func (s *state) offline() {
	s.online = false
	s.out = s.out[:0]
}

// welcome applies the server's answer to hello: catch up through its ops (or
// take its text), then resend the in-flight op with the same seq.
func (s *state) welcome(w collab.Welcome) error {
	s.session, s.key, s.role = w.Session, w.Key, w.Role // No key back: the server predates keys.
	if w.Text != nil {
		s.takeText(*w.Text, w.Version)
	} else {
		// A catch-up that does not fit means the server and this client
		// disagree on history: ask for the full text next time.
		for _, m := range w.Ops {
			if err := s.applyOp(m); err != nil {
				return s.corrupt(err)
			}
		}
		if s.version != w.Version {
			return s.corrupt(fmt.Errorf("%w: welcome at %d, caught up to %d", errGap, w.Version, s.version))
		}
	}
	s.hasVersion = true
	old := s.peers
	s.peers = peerSet{}
	for _, p := range w.Peers {
		s.presence(p)
	}
	for i := range old.list {
		if id := old.list[i].info.Session; !s.peers.has(id) { // Left while we were away.
			s.events = append(s.events, event{kind: evLeave, session: id})
		}
	}
	s.online = true
	switch {
	case s.limbo != nil:
		s.sendOp(s.limbo.seq, s.limbo.sent)
	case s.hasInflight:
		s.sendOp(s.inflightSeq, s.inflight)
	}
	s.cursorDirty = s.cursorDirty || s.cursor != nil // The server forgot us on disconnect.
	s.flush()
	return nil
}

// applyOp handles a committed op from a broadcast or a welcome catch-up.
func (s *state) applyOp(m collab.OpMsg) error {
	if m.Version <= s.version && s.hasVersion {
		return nil // Already have it.
	}
	if m.Version != s.version+1 {
		return fmt.Errorf("%w: op %d after %d", errGap, m.Version, s.version)
	}
	if s.limbo != nil {
		return s.limboOp(m)
	}
	if s.hasInflight && m.Session == s.session && m.Seq == s.inflightSeq {
		return s.ackInflight(m.Version)
	}
	if err := s.server.Apply(m.Op); err != nil {
		return s.corrupt(fmt.Errorf("client: remote op %d does not fit: %w", m.Version, err))
	}
	op := m.Op
	if s.hasInflight {
		s.inflight, op = ot.Transform(s.inflight, op, ot.Left), ot.Transform(op, s.inflight, ot.Right)
	}
	if s.buffer != nil {
		s.buffer, op = ot.Transform(s.buffer, op, ot.Left), ot.Transform(op, s.buffer, ot.Right)
	}
	if err := s.local.Apply(op); err != nil {
		return s.corrupt(fmt.Errorf("client: transformed remote op %d does not fit: %w", m.Version, err))
	}
	if s.cursor != nil {
		c := ot.TransformSelection(*s.cursor, op)
		s.cursor = &c
	}
	s.committed(m)
	s.events = append(s.events, event{kind: evRemoteOp, op: m})
	return nil
}

// committed advances the version and moves peers' cursors through op.
func (s *state) committed(m collab.OpMsg) {
	s.version = m.Version
	s.peers.moveThrough(m.Op, m.Version)
	if len(s.recent) == 2*recentWindow { // Amortized: one copy per window.
		s.recent = append(s.recent[:0], s.recent[recentWindow:]...)
	}
	s.recent = append(s.recent, collab.OpMsg{Version: m.Version, Op: m.Op})
}

// corrupt handles an op that cannot apply where OT says it must: the texts
// can no longer be trusted, so the next hello asks for the full text (the
// pending edits then go through the text-welcome path).
func (s *state) corrupt(err error) error {
	s.hasVersion = false
	return err
}

// ack handles the server's acknowledgement of an op.
func (s *state) ack(a collab.Ack) error {
	if s.limbo != nil {
		return s.limboAck(a)
	}
	if !s.hasInflight || a.Seq != s.inflightSeq {
		return nil // Stale: already learnt from a catch-up.
	}
	if a.Version <= s.version {
		// The server has this seq committed long ago, so our op was never
		// applied: the seq was used before by another client resuming this
		// session. Treat it as a refusal and continue with fresh seqs.
		s.lastSeq = max(s.lastSeq, freshSeq())
		_, err := s.fail(collab.ErrorMsg{Type: collab.TypeError, Code: collab.CodeSeqNotIncreasing,
			Message: "seq already used in this session", Seq: a.Seq})
		return err
	}
	if a.Version != s.version+1 {
		return fmt.Errorf("%w: ack %d after %d", errGap, a.Version, s.version)
	}
	return s.ackInflight(a.Version)
}

func (s *state) ackInflight(version uint64) error {
	if err := s.server.Apply(s.inflight); err != nil {
		return s.corrupt(fmt.Errorf("client: acked op %d does not fit: %w", version, err))
	}
	seq := s.inflightSeq
	s.committed(collab.OpMsg{Version: version, Op: s.inflight})
	s.hasInflight, s.inflight = false, nil
	s.events = append(s.events, event{kind: evAck, seq: seq, ver: version})
	s.flush()
	return nil
}

// fail handles an error message. About the op awaiting its ack, by
// actionFor of its code:
//   - retryLater (collab.Retryable: rate_limited, unavailable, conflict, ...)
//     and the first maxInternal internal refusals: retry is true and the op
//     is resent with its seq after a delay (or after the reconnect, when
//     the server is going away);
//   - resync (version_too_old, version_ahead): the server cannot place the
//     op's base, so the client reconnects for the full text (err) and keeps
//     the op;
//   - anything else refuses the op for good: it is dropped and the local
//     text becomes server text + rebased buffer (seq_not_increasing also
//     moves later seqs past the clock).
func (s *state) fail(e collab.ErrorMsg) (retry bool, err error) {
	s.events = append(s.events, event{kind: evError, err: e})
	if e.Seq == 0 || e.Seq != s.pendingSeq() {
		return false, nil
	}
	switch actionFor(e.Code) {
	case retryLater:
		s.retries++
		return true, nil
	case retryFew:
		if s.internals < maxInternal {
			s.internals++
			s.retries++
			return true, nil
		}
	case resync:
		return false, s.corrupt(fmt.Errorf("%w: %s", errResync, e.Code))
	}
	if e.Code == collab.CodeSeqNotIncreasing {
		s.lastSeq = max(s.lastSeq, freshSeq())
	}
	if s.limbo != nil {
		s.limboRefused()
	} else {
		base, _ := ot.Apply(s.server.String(), s.inflight)
		s.hasInflight, s.inflight = false, nil
		s.rebase(base, s.buffer)
	}
	s.flush()
	return false, nil
}

// retry resends the in-flight op (transformed since) with its seq.
func (s *state) retry(seq uint64) {
	if !s.online {
		return
	}
	switch {
	case s.limbo != nil && s.limbo.seq == seq:
		s.sendOp(seq, s.limbo.sent)
	case s.hasInflight && s.inflightSeq == seq:
		s.sendOp(seq, s.inflight)
	}
}

// pendingSeq is the seq of the op whose ack is awaited, 0 if none.
func (s *state) pendingSeq() uint64 {
	if s.limbo != nil {
		return s.limbo.seq
	}
	if s.hasInflight {
		return s.inflightSeq
	}
	return 0
}

// presence stores a peer's presence, moved up to the current version through
// the recent ops when it was reported at an older one.
func (s *state) presence(p collab.Presence) {
	if p.Session == s.session {
		return
	}
	if p.Cursor != nil && p.Version < s.version {
		c := *p.Cursor
		for _, m := range s.recent {
			if m.Version > p.Version {
				c = ot.TransformSelection(c, m.Op)
			}
		}
		p.Cursor = &c
	}
	p.Type, p.Version = "", max(p.Version, s.version)
	s.peers.put(p)
	s.events = append(s.events, event{kind: evPresence, presence: p})
}

func (s *state) leave(session string) {
	if !s.peers.remove(session) {
		return
	}
	s.events = append(s.events, event{kind: evLeave, session: session})
}

// peerList returns the peers sorted by session, cursors in local coordinates.
func (s *state) peerList() []collab.Presence {
	ps := make([]collab.Presence, 0, s.peers.len())
	n := s.local.Len()
	for i := range s.peers.list {
		p := s.peers.list[i].presence()
		if p.Cursor != nil {
			c := *p.Cursor
			if s.limbo == nil {
				if s.hasInflight {
					c = ot.TransformSelection(c, s.inflight)
				}
				if s.buffer != nil {
					c = ot.TransformSelection(c, s.buffer)
				}
			}
			c.Anchor, c.Head = min(c.Anchor, n), min(c.Head, n)
			p.Cursor = &c
		}
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Session < ps[j].Session })
	return ps
}
