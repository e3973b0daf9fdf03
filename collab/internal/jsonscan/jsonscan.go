package jsonscan

import "unicode/utf8"

// Scanner reads B from I on.
type Scanner struct {
	B []byte
	I int
}

// WS skips JSON whitespace.
func (p *Scanner) WS() {
	for p.I < len(p.B) {
		switch p.B[p.I] {
		case ' ', '\t', '\n', '\r':
			p.I++
		default:
			return
		}
	}
}

// Byte consumes c after optional whitespace.
func (p *Scanner) Byte(c byte) bool {
	p.WS()
	if p.I < len(p.B) && p.B[p.I] == c {
		p.I++
		return true
	}
	return false
}

// Literal consumes s (null, true, false) after optional whitespace.
func (p *Scanner) Literal(s string) bool {
	p.WS()
	if len(p.B)-p.I >= len(s) && string(p.B[p.I:p.I+len(s)]) == s {
		p.I += len(s)
		return true
	}
	return false
}

// End reports that only whitespace is left.
func (p *Scanner) End() bool {
	p.WS()
	return p.I == len(p.B)
}

// Str reads a string without escapes or control characters, in valid UTF-8
// (the only strings whose bytes are their value), and returns its bytes.
func (p *Scanner) Str() ([]byte, bool) {
	if !p.Byte('"') {
		return nil, false
	}
	start, ascii := p.I, true
	for ; p.I < len(p.B); p.I++ {
		switch c := p.B[p.I]; {
		case c == '"':
			s := p.B[start:p.I]
			p.I++
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// Digits reads a plain non-negative integer below 10^18: no sign, fraction,
// exponent or leading zero.
func (p *Scanner) Digits() (uint64, bool) {
	p.WS()
	start := p.I
	var n uint64
	for ; p.I < len(p.B) && p.B[p.I] >= '0' && p.B[p.I] <= '9'; p.I++ {
		n = n*10 + uint64(p.B[p.I]-'0')
	}
	digits := p.I - start
	if digits == 0 || digits > 18 || digits > 1 && p.B[start] == '0' {
		return 0, false
	}
	if p.I < len(p.B) {
		switch p.B[p.I] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return n, true
}

// Array returns the raw bytes of the array that comes next: brackets are
// matched outside strings, and strings end at an unescaped quote. Whoever
// parses the array checks everything else.
func (p *Scanner) Array() ([]byte, bool) {
	p.WS()
	if p.I >= len(p.B) || p.B[p.I] != '[' {
		return nil, false
	}
	start, depth := p.I, 0
	for ; p.I < len(p.B); p.I++ {
		switch p.B[p.I] {
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				p.I++
				return p.B[start:p.I], true
			}
		case '"':
			for p.I++; p.I < len(p.B) && p.B[p.I] != '"'; p.I++ {
				if p.B[p.I] == '\\' {
					p.I++
				}
			}
		}
	}
	return nil, false
}
