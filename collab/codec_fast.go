package collab

import "github.com/foliodocs/folio/ot"

// decodeFast decodes the frames every editor sends many times a second (op,
// presence, ping) in the shape clients write them: an object with the keys
// type, seq, version, op and cursor, each at most once, spelled exactly,
// unescaped, numbers as plain integers. It gives up (ok false) on anything
// else, and decodeClient then runs encoding/json, so its answer, errors
// included, is always encoding/json's; the fuzz test checks that both agree
// wherever this one answers. It exists because encoding/json's reflection
// was a tenth of the server's CPU per received message.
func decodeFast(b []byte) (m ClientMsg, ok bool) {
	p := fastParser{b: b}
	if !p.byte('{') {
		return m, false
	}
	var seen [5]bool // type, seq, version, op, cursor
	for first := true; ; first = false {
		if p.byte('}') {
			return m, p.end() && m.Type != ""
		}
		if !first && !p.byte(',') {
			return m, false
		}
		key, ok := p.plainString()
		if !ok || !p.byte(':') {
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
func fastKey(k string) int {
	switch k {
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

type fastParser struct {
	b []byte
	i int
}

// field decodes the value of key i into m.
func (p *fastParser) field(i int, m *ClientMsg) bool {
	switch i {
	case 0:
		t, ok := p.plainString()
		if !ok || t != TypeOp && t != TypePresence && t != TypePing {
			return false
		}
		m.Type = t
	case 1:
		n, ok := p.uint()
		m.Seq = n
		return ok
	case 2:
		n, ok := p.uint()
		m.Version = &n
		return ok
	case 3:
		raw, ok := p.array()
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
	if p.literal("null") {
		return true
	}
	if !p.byte('{') || !p.key("anchor") {
		return false
	}
	a, ok := p.uint()
	if !ok || !p.byte(',') || !p.key("head") {
		return false
	}
	h, ok := p.uint()
	if !ok || !p.byte('}') {
		return false
	}
	c.Sel = &ot.Selection{Anchor: int(a), Head: int(h)}
	return true
}

func (p *fastParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte consumes c (after spaces) if it comes next.
func (p *fastParser) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports that only spaces are left.
func (p *fastParser) end() bool {
	p.space()
	return p.i == len(p.b)
}

func (p *fastParser) literal(s string) bool {
	p.space()
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// key consumes "k":.
func (p *fastParser) key(k string) bool {
	s, ok := p.plainString()
	return ok && s == k && p.byte(':')
}

// plainString reads a string of printable ASCII without escapes.
func (p *fastParser) plainString() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return string(p.b[start : p.i-1]), true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return "", false
		}
	}
	return "", false
}

// uint reads a JSON integer in [0, 10^18) without a sign, fraction or
// exponent (anything else is left to encoding/json).
func (p *fastParser) uint() (uint64, bool) {
	p.space()
	start := p.i
	var n uint64
	for ; p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9'; p.i++ {
		n = n*10 + uint64(p.b[p.i]-'0')
	}
	digits := p.i - start
	if digits == 0 || digits > 18 || digits > 1 && p.b[start] == '0' {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return n, true
}

// array returns the raw bytes of the array that comes next: brackets are
// matched outside strings, and strings end at an unescaped quote. The op
// decoder checks everything else.
func (p *fastParser) array() ([]byte, bool) {
	p.space()
	if p.i >= len(p.b) || p.b[p.i] != '[' {
		return nil, false
	}
	start, depth := p.i, 0
	for ; p.i < len(p.b); p.i++ {
		switch p.b[p.i] {
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				p.i++
				return p.b[start:p.i], true
			}
		case '"':
			for p.i++; p.i < len(p.b) && p.b[p.i] != '"'; p.i++ {
				if p.b[p.i] == '\\' {
					p.i++
				}
			}
		}
	}
	return nil, false
}
