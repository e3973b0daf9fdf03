package client

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/foliodocs/folio/collab"
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
	p := scanner{b: b}
	var (
		typ, session, name, color string
		version, seq              uint64
		op                        ot.Op
		cursor                    *ot.Selection
		seen                      int
	)
	if !p.byte('{') {
		return false
	}
	for first := true; ; first = false {
		if p.byte('}') {
			break
		}
		if !first && !p.byte(',') {
			return false
		}
		key, ok := p.str()
		if !ok || !p.byte(':') {
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
	p.ws()
	if p.i != len(b) {
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

// scanner reads the plain JSON decodeFast accepts.
type scanner struct {
	b []byte
	i int
}

func (p *scanner) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte consumes c after optional whitespace.
func (p *scanner) byte(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string without escapes or control characters, in valid UTF-8
// (the only strings whose bytes are their value), and returns its bytes.
func (p *scanner) str() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start, ascii := p.i, true
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

func (p *scanner) text(dst *string) bool {
	s, ok := p.str()
	if ok {
		*dst = string(s)
	}
	return ok
}

// typ reads the message type; the frequent ones are the package's constants,
// so reading them allocates nothing.
func (p *scanner) typ(dst *string) bool {
	s, ok := p.str()
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

// digits reads a plain non-negative integer: no sign, fraction, exponent or
// leading zero, and small enough for 63 bits.
func (p *scanner) digits() (uint64, bool) {
	p.ws()
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	n := p.i - start
	if n == 0 || n > 18 || (n > 1 && p.b[start] == '0') {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	v, err := strconv.ParseUint(string(p.b[start:p.i]), 10, 64)
	return v, err == nil
}

func (p *scanner) uint(dst *uint64) bool {
	v, ok := p.digits()
	*dst = v
	return ok
}

// op reads an op array with ot's strict decoder.
func (p *scanner) op(dst *ot.Op) bool {
	p.ws()
	start := p.i
	if !p.skipArray() {
		return false
	}
	return dst.UnmarshalJSON(p.b[start:p.i]) == nil
}

// skipArray moves past a JSON array, minding strings and their escapes; the
// array's content is checked by whoever parses it.
func (p *scanner) skipArray() bool {
	if p.i >= len(p.b) || p.b[p.i] != '[' {
		return false
	}
	depth := 0
	for ; p.i < len(p.b); p.i++ {
		switch p.b[p.i] {
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				p.i++
				return true
			}
		case '"':
			for p.i++; p.i < len(p.b) && p.b[p.i] != '"'; p.i++ {
				if p.b[p.i] == '\\' {
					p.i++
				}
			}
		}
	}
	return false
}

// cursor reads null or {"anchor":N,"head":N} (each key at most once).
func (p *scanner) cursor(dst **ot.Selection) bool {
	p.ws()
	if len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
		p.i += 4
		*dst = nil
		return true
	}
	if !p.byte('{') {
		return false
	}
	var sel ot.Selection
	var seen int
	for first := true; ; first = false {
		if p.byte('}') {
			break
		}
		if !first && !p.byte(',') {
			return false
		}
		key, ok := p.str()
		if !ok || !p.byte(':') {
			return false
		}
		v, ok := p.digits()
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
