package client

import (
	"fmt"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
)

// limbo holds an in-flight op whose fate became unknown because the server
// answered a reconnect with a full text instead of the ops we missed: the op
// may or may not be inside that text. The op is resent with its seq, rebased
// onto the text (sent). The server's exactly-once rule settles it: an ack at a
// version <= textVersion means it was already committed (and is inside the
// text); a later version means this resend was committed in the form sent.
// Meanwhile the local text keeps showing the user's own edits and remote ops
// only update the server text; both are merged once the answer is known: the
// buffer goes over one diff (from what the client had to the text) and then
// through the real ops committed since, transformed as usual.
type limbo struct {
	oldText     string // Server text the op was based on.
	orig        ot.Op  // The op against oldText; the buffer follows it.
	seq         uint64
	text        string  // Text of the last welcome.
	textVersion uint64  // Its version.
	ops         []ot.Op // Others' ops committed after textVersion, in order.
	sent        ot.Op   // orig rebased onto text and over ops: what the server would commit.
}

// takeText replaces the server text by a welcome's full text.
func (s *state) takeText(text string, version uint64) {
	if !s.hasInflight && s.limbo == nil {
		// Nothing unacknowledged is in doubt: rebase the buffer (never sent)
		// over the difference between the old and the new server text.
		base := s.server.String()
		s.server, s.version = ot.NewDocument(text), version
		s.recent = s.recent[:0]
		s.rebase(base, s.buffer)
		return
	}
	if s.limbo == nil {
		s.limbo = &limbo{oldText: s.server.String(), orig: s.inflight, seq: s.inflightSeq}
		s.hasInflight, s.inflight = false, nil
	}
	l := s.limbo
	l.text, l.textVersion, l.ops = text, version, nil
	l.sent = ot.Transform(l.orig, ot.Diff(l.oldText, text), ot.Left)
	s.server, s.version = ot.NewDocument(text), version
	s.recent = s.recent[:0] // They led to the old text, not to this one.
}

// rebase makes pending, an op against base, apply to the current server text
// by transforming it over Diff(base, server text), and rebuilds the local
// text from it.
func (s *state) rebase(base string, pending ot.Op) {
	if pending != nil {
		pending = ot.Transform(pending, ot.Diff(base, s.server.String()), ot.Left)
	}
	s.setPending(pending)
}

// setPending makes pending, an op against the current server text, the
// buffer and rebuilds the local text from it.
func (s *state) setPending(pending ot.Op) {
	if pending.IsNoop() {
		pending = nil
	}
	srv := s.server.String()
	next := srv
	if pending != nil {
		if t, err := ot.Apply(srv, pending); err == nil {
			next = t
		} else {
			pending = nil // Cannot happen for a transformed op; keep the server's text.
		}
	}
	if s.cursor != nil {
		c := ot.TransformSelection(*s.cursor, ot.Diff(s.local.String(), next))
		s.cursor = &c
	}
	s.local, s.buffer = ot.NewDocument(next), pending
}

// limboOp handles a committed op while in limbo.
func (s *state) limboOp(m collab.OpMsg) error {
	if err := s.server.Apply(m.Op); err != nil {
		return s.corrupt(fmt.Errorf("client: remote op %d does not fit: %w", m.Version, err))
	}
	s.committed(m)
	if m.Session == s.session && m.Seq == s.limbo.seq {
		s.limboResolved(m.Version)
		return nil
	}
	l := s.limbo
	l.ops = append(l.ops, m.Op)
	l.sent = ot.Transform(l.sent, m.Op, ot.Left)
	s.events = append(s.events, event{kind: evRemoteOp, op: m})
	return nil
}

// limboAck settles the limbo from the ack of the resent op.
func (s *state) limboAck(a collab.Ack) error {
	switch {
	case a.Seq != s.limbo.seq:
		return nil
	case a.Version <= s.limbo.textVersion:
		// Committed before the text was taken: it is inside the text.
	case a.Version == s.version+1:
		if err := s.server.Apply(s.limbo.sent); err != nil {
			return s.corrupt(fmt.Errorf("client: acked op %d does not fit: %w", a.Version, err))
		}
		s.committed(collab.OpMsg{Version: a.Version, Op: s.limbo.sent})
	case a.Version <= s.version:
		return nil // Stale; the op itself was seen in the stream.
	default:
		return fmt.Errorf("%w: ack %d after %d", errGap, a.Version, s.version)
	}
	s.limboResolved(a.Version)
	return nil
}

// limboResolved merges the buffer onto the server text, which now holds the
// op exactly once: committed at version (before or after the text).
func (s *state) limboResolved(version uint64) {
	l := s.limbo
	s.limbo = nil
	var buf ot.Op
	if version <= l.textVersion {
		// The text holds the op already: one diff from what the buffer
		// applies to, then the ops since.
		base, err := ot.Apply(l.oldText, l.orig)
		if err != nil {
			base = l.oldText
		}
		buf = ot.Transform(s.buffer, ot.Diff(base, l.text), ot.Left)
		for _, op := range l.ops {
			buf = ot.Transform(buf, op, ot.Left)
		}
	} else {
		// The resend was committed after the ops since the text: the usual
		// in-flight/buffer transforms, starting from the diff to the text.
		r0 := ot.Diff(l.oldText, l.text)
		inflight := ot.Transform(l.orig, r0, ot.Left)
		buf = ot.Transform(s.buffer, ot.Transform(r0, l.orig, ot.Right), ot.Left)
		for _, op := range l.ops {
			op, inflight = ot.Transform(op, inflight, ot.Right), ot.Transform(inflight, op, ot.Left)
			buf = ot.Transform(buf, op, ot.Left)
		}
	}
	s.setPending(buf)
	s.events = append(s.events, event{kind: evAck, seq: l.seq, ver: version})
	s.flush()
}

// limboRefused handles a refusal of the resent op: it is not committed, so
// orig and the buffer are merged onto the server text as unsent edits.
func (s *state) limboRefused() {
	l := s.limbo
	s.limbo = nil
	pending := l.orig
	if s.buffer != nil {
		if c, err := ot.Compose(l.orig, s.buffer); err == nil {
			pending = c
		}
	}
	pending = ot.Transform(pending, ot.Diff(l.oldText, l.text), ot.Left)
	for _, op := range l.ops {
		pending = ot.Transform(pending, op, ot.Left)
	}
	s.setPending(pending)
}
