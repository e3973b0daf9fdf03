package client

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/collab/internal/jsonscan"
	"github.com/foliodocs/folio/ot"
)

// Decoding and encoding the frequent messages without reflection.
//
// Every delivery a client receives is an op, an ack, a presence or a leave,
// and encoding/json spends most of a small client's CPU on them (the load
// generator runs a thousand clients beside the server). decodeFast reads the
// plain, canonical form of those four by hand; anything else — another type,
// an unknown or repeated key, an escape in a string, a number that is not a
// plain non-negative integer, null — makes it give up, and decodeSlow (the
// encoding/json path) decodes the frame instead. So whenever decodeFast
// answers, its answer is exactly encoding/json's (a test checks this on
// random and fuzzed frames), and frames it declines are handled as before.

// serverMsg is one decoded server message: which fields are meaningful
// depends on typ.
type serverMsg struct {
	typ   string          // One of the collab.Type* constants, or another type (ignored).
	op    collab.OpMsg    // typ op; an ack's Seq and Version.
	pres  collab.Presence // typ presence.
	leave string          // typ leave: the session that left.
	err   collab.ErrorMsg // typ error.
	bad   bool            // Undecodable advisory message (presence, leave, error): ignored.
}

// decodeSlow decodes b with encoding/json, as the client always did: op and
// ack frames are decoded once as an OpMsg (an ack's fields are a subset of
// an op's), the others again into their own type.
func decodeSlow(b []byte) (serverMsg, error) {
	var m serverMsg
	if err := json.Unmarshal(b, &m.op); err != nil {
		var h struct{ Type string }
		if json.Unmarshal(b, &h) != nil || h.Type == collab.TypeOp {
			return m, fmt.Errorf("client: bad server message: %w", err)
		}
		m.op = collab.OpMsg{Type: h.Type}
	}
	m.typ = m.op.Type
	if m.typ != collab.TypeOp && m.typ != collab.TypeAck {
		m.op = collab.OpMsg{} // Only its Type was of use.
	}
	switch m.typ {
	case collab.TypeAck:
		m.op = collab.OpMsg{Type: m.typ, Seq: m.op.Seq, Version: m.op.Version}
	case collab.TypePresence:
		m.bad = json.Unmarshal(b, &m.pres) != nil
	case collab.TypeLeave:
		var l collab.Leave
		m.bad = json.Unmarshal(b, &l) != nil
		m.leave = l.Session
	case collab.TypeError:
		m.bad = json.Unmarshal(b, &m.err) != nil
	}
	return m, nil
}

// Keys decodeFast knows, as bits of a seen-set.
const (
	keyType = 1 << iota
	keyVersion
	keySeq
	keySession
	keyOp
	keyName
	keyColor
	keyCursor
)

// decodeFast decodes an op, ack, presence or leave frame in its plain form
// into m; false means "not sure, use decodeSlow" and leaves m unspecified.
func decodeFast(b []byte, m *serverMsg) bool {
	p := scanner{jsonscan.Scanner{B: b}}
	var (
		typ, session, name, color string
		version, seq              uint64
		op                        ot.Op
		cursor                    *ot.Selection
		seen                      int
	)
	if !p.Byte('{') {
		return false
	}
	for first := true; ; first = false {
		if p.Byte('}') {
			break
		}
		if !first && !p.Byte(',') {
			return false
		}
		key, ok := p.Str()
		if !ok || !p.Byte(':') {
			return false
		}
		bit, ok := 0, false
		switch string(key) {
		case "type":
			bit, ok = keyType, p.typ(&typ)
		case "version":
			bit, ok = keyVersion, p.uint(&version)
		case "seq":
			bit, ok = keySeq, p.uint(&seq)
		case "session":
			bit, ok = keySession, p.text(&session)
		case "op":
			bit, ok = keyOp, p.op(&op)
		case "name":
			bit, ok = keyName, p.text(&name)
		case "color":
			bit, ok = keyColor, p.text(&color)
		case "cursor":
			bit, ok = keyCursor, p.cursor(&cursor)
		}
		if !ok || seen&bit != 0 {
			return false // Unknown key, odd value, or a repeat (encoding/json merges those).
		}
		seen |= bit
	}
	if !p.End() {
		return false
	}
	*m = serverMsg{typ: typ}
	switch typ {
	case collab.TypeOp:
		m.op = collab.OpMsg{Type: typ, Version: version, Op: op, Session: session, Seq: seq}
	case collab.TypeAck:
		m.op = collab.OpMsg{Type: typ, Version: version, Seq: seq}
	case collab.TypePresence:
		m.pres = collab.Presence{Type: typ, Session: session, Name: name, Color: color, Cursor: cursor, Version: version}
	case collab.TypeLeave:
		m.leave = session
	default:
		return false
	}
	return true
}

// scanner is a jsonscan.Scanner with the values decodeFast knows.
type scanner struct{ jsonscan.Scanner }

func (p *scanner) text(dst *string) bool {
	s, ok := p.Str()
	if ok {
		*dst = string(s)
	}
	return ok
}

// typ reads the message type; the frequent ones are the package's constants,
// so reading them allocates nothing.
func (p *scanner) typ(dst *string) bool {
	s, ok := p.Str()
	if !ok {
		return false
	}
	switch string(s) {
	case collab.TypeOp:
		*dst = collab.TypeOp
	case collab.TypeAck:
		*dst = collab.TypeAck
	case collab.TypePresence:
		*dst = collab.TypePresence
	case collab.TypeLeave:
		*dst = collab.TypeLeave
	default:
		*dst = string(s)
	}
	return true
}

func (p *scanner) uint(dst *uint64) bool {
	v, ok := p.Digits()
	*dst = v
	return ok
}

// op reads an op array with ot's strict decoder.
func (p *scanner) op(dst *ot.Op) bool {
	raw, ok := p.Array()
	return ok && dst.UnmarshalJSON(raw) == nil
}

// cursor reads null or {"anchor":N,"head":N} (each key at most once).
func (p *scanner) cursor(dst **ot.Selection) bool {
	if p.Literal("null") {
		*dst = nil
		return true
	}
	if !p.Byte('{') {
		return false
	}
	var sel ot.Selection
	var seen int
	for first := true; ; first = false {
		if p.Byte('}') {
			break
		}
		if !first && !p.Byte(',') {
			return false
		}
		key, ok := p.Str()
		if !ok || !p.Byte(':') {
			return false
		}
		v, ok := p.Digits()
		bit := 0
		switch string(key) {
		case "anchor":
			bit, sel.Anchor = 1, int(v)
		case "head":
			bit, sel.Head = 2, int(v)
		}
		if !ok || bit == 0 || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
	*dst = &sel
	return true
}

// encodeClient encodes a message to the server. The op and presence
// messages the state sends are written by hand, with the fields, order and
// values encoding/json gives them (the op through ot's own encoder); any
// other message goes through encoding/json.
func encodeClient(buf []byte, m *collab.ClientMsg) ([]byte, error) {
	if (m.Type != collab.TypeOp && m.Type != collab.TypePresence) || m.Version == nil ||
		m.Session != "" || m.Token != "" || m.User != nil || m.Name != nil || m.Color != nil {
		b, err := json.Marshal(m)
		return append(buf, b...), err
	}
	buf = append(buf, `{"type":"`...)
	buf = append(buf, m.Type...)
	buf = append(buf, `","version":`...)
	buf = strconv.AppendUint(buf, *m.Version, 10)
	if m.Seq != 0 {
		buf = append(buf, `,"seq":`...)
		buf = strconv.AppendUint(buf, m.Seq, 10)
	}
	if len(m.Op) > 0 {
		ob, err := m.Op.MarshalJSON()
		if err != nil {
			return buf, err
		}
		buf = append(append(buf, `,"op":`...), ob...)
	}
	buf = append(buf, `,"cursor":`...)
	if c := m.Cursor.Sel; c == nil {
		buf = append(buf, "null"...)
	} else {
		buf = append(buf, `{"anchor":`...)
		buf = strconv.AppendInt(buf, int64(c.Anchor), 10)
		buf = append(buf, `,"head":`...)
		buf = strconv.AppendInt(buf, int64(c.Head), 10)
		buf = append(buf, '}')
	}
	return append(buf, '}'), nil
}
