package collab

import (
	"github.com/foliodocs/folio/collab/internal/jsonscan"
	"github.com/foliodocs/folio/ot"
)

// decodeFast decodes the frames every editor sends many times a second (op,
// presence, ping) in the shape clients write them: an object with the keys
// type, seq, version, op and cursor, each at most once, spelled exactly,
// unescaped, numbers as plain integers. It gives up (ok false) on anything
// else, and decodeClient then runs decodeJSON (encoding/json under the
// protocol's key rules, codec_keys.go), so its answer, errors included, is
// always decodeJSON's; the fuzz test checks that both agree wherever this
// one answers. It exists because encoding/json's reflection
// was a tenth of the server's CPU per received message.
func decodeFast(b []byte) (m ClientMsg, ok bool) {
	p := fastParser{jsonscan.Scanner{B: b}}
	if !p.Byte('{') {
		return m, false
	}
	var seen [5]bool // type, seq, version, op, cursor
	for first := true; ; first = false {
		if p.Byte('}') {
			return m, p.End() && m.Type != ""
		}
		if !first && !p.Byte(',') {
			return m, false
		}
		key, ok := p.Str()
		if !ok || !p.Byte(':') {
			return m, false
		}
		i := fastKey(key)
		if i < 0 || seen[i] {
			return m, false
		}
		seen[i] = true
		if !p.field(i, &m) {
			return m, false
		}
	}
}

// fastKey is the index of a key decodeFast knows, or -1.
func fastKey(k []byte) int {
	switch string(k) {
	case "type":
		return 0
	case "seq":
		return 1
	case "version":
		return 2
	case "op":
		return 3
	case "cursor":
		return 4
	}
	return -1
}

// fastParser is a jsonscan.Scanner with the fields decodeFast knows.
type fastParser struct{ jsonscan.Scanner }

// field decodes the value of key i into m.
func (p *fastParser) field(i int, m *ClientMsg) bool {
	switch i {
	case 0:
		t, ok := p.Str()
		if !ok {
			return false
		}
		switch string(t) {
		case TypeOp:
			m.Type = TypeOp
		case TypePresence:
			m.Type = TypePresence
		case TypePing:
			m.Type = TypePing
		default:
			return false
		}
	case 1:
		n, ok := p.Digits()
		m.Seq = n
		return ok
	case 2:
		n, ok := p.Digits()
		m.Version = &n
		return ok
	case 3:
		raw, ok := p.Array()
		if !ok || m.Op.UnmarshalJSON(raw) != nil {
			return false
		}
	case 4:
		return p.cursor(&m.Cursor)
	}
	return true
}

// cursor decodes null or {"anchor":n,"head":n}, in that order.
func (p *fastParser) cursor(c *CursorField) bool {
	c.Set = true
	if p.Literal("null") {
		return true
	}
	if !p.Byte('{') || !p.key("anchor") {
		return false
	}
	a, ok := p.Digits()
	if !ok || !p.Byte(',') || !p.key("head") {
		return false
	}
	h, ok := p.Digits()
	if !ok || !p.Byte('}') {
		return false
	}
	c.Sel = &ot.Selection{Anchor: int(a), Head: int(h)}
	return true
}

// key consumes "k":.
func (p *fastParser) key(k string) bool {
	s, ok := p.Str()
	return ok && string(s) == k && p.Byte(':')
}
