package ot

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONNumber bounds skip and delete lengths in JSON: the largest integer
// a JavaScript number holds exactly.
const maxJSONNumber = 1<<53 - 1

// MarshalJSON encodes op in the ot-text-unicode form: N, "text", {"d":N},
// {"d":"text"}. The nil op encodes as []. A malformed component is an error
// wrapping ErrMalformed; the op is encoded as given, so normalize it first if
// it may not be in normal form (the decoder requires normal form).
func (op Op) MarshalJSON() ([]byte, error) {
	return AppendJSON(make([]byte, 0, JSONSizeHint(op)), op)
}

// JSONSizeHint is about how many bytes op's JSON takes: exact for ops of
// short skips and deletes and text without escapes.
func JSONSizeHint(op Op) int {
	n := 2 + 8*len(op)
	for _, c := range op {
		n += len(c.Insert) + len(c.DelText)
	}
	return n
}

// AppendJSON appends op as MarshalJSON encodes it to buf, so that a message
// holding an op is encoded in one buffer. On error buf is returned as given.
func AppendJSON(buf []byte, op Op) ([]byte, error) {
	if err := checkShape(op); err != nil {
		return buf, err
	}
	buf = append(buf, '[')
	for i, c := range op {
		if i > 0 {
			buf = append(buf, ',')
		}
		switch c.kind() {
		case kindSkip:
			buf = strconv.AppendInt(buf, int64(c.Skip), 10)
		case kindInsert:
			buf = appendJSONString(buf, c.Insert)
		case kindDelete:
			buf = append(buf, `{"d":`...)
			if c.DelText != "" {
				buf = appendJSONString(buf, c.DelText)
			} else {
				buf = strconv.AppendInt(buf, int64(c.Delete), 10)
			}
			buf = append(buf, '}')
		}
	}
	return append(buf, ']'), nil
}

// appendJSONString appends s (valid UTF-8) as a JSON string, escaping only
// what JSON requires.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b == '"' || b == '\\':
			buf = append(buf, '\\', b)
		case b == '\n':
			buf = append(buf, '\\', 'n')
		case b == '\r':
			buf = append(buf, '\\', 'r')
		case b == '\t':
			buf = append(buf, '\\', 't')
		case b < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
		default:
			buf = append(buf, b)
		}
	}
	return append(buf, '"')
}

// UnmarshalJSON decodes an op in the ot-text-unicode form, strictly: invalid
// UTF-8, lone surrogate escapes such as "\ud800", numbers that are not
// positive integers (or exceed 2^53-1), empty inserts or deletes, objects
// other than {"d": N|"text"}, and ops not in normal form (see Validate) are
// errors wrapping ErrMalformed. Text is never altered (encoding/json would
// silently replace bad UTF-8 with U+FFFD). A JSON null leaves op unchanged,
// as encoding/json's convention for Unmarshalers asks.
func (op *Op) UnmarshalJSON(b []byte) error {
	d := decoder{data: b}
	d.ws()
	if d.literal("null") {
		d.ws()
		if d.pos == len(d.data) {
			return nil
		}
		return d.fail("unexpected data after null")
	}
	out, err := d.op()
	if err != nil {
		return err
	}
	if err := Validate(out); err != nil {
		return err
	}
	if out == nil {
		out = Op{}
	}
	*op = out
	return nil
}

// decoder is a strict parser for the JSON form of an op.
type decoder struct {
	data []byte
	pos  int
}

func (d *decoder) fail(format string, args ...any) error {
	return fmt.Errorf("%w: json at offset %d: %s", ErrMalformed, d.pos, fmt.Sprintf(format, args...))
}

func (d *decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) literal(s string) bool {
	if len(d.data)-d.pos >= len(s) && string(d.data[d.pos:d.pos+len(s)]) == s {
		d.pos += len(s)
		return true
	}
	return false
}

// expect consumes byte c after optional whitespace.
func (d *decoder) expect(c byte) error {
	d.ws()
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return nil
	}
	if d.pos >= len(d.data) {
		return d.fail("unexpected end of input, want %q", c)
	}
	return d.fail("unexpected %q, want %q", d.data[d.pos], c)
}

func (d *decoder) peek() byte {
	d.ws()
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

// op parses the whole input as an array of components.
func (d *decoder) op() (Op, error) {
	if err := d.expect('['); err != nil {
		return nil, err
	}
	var out Op
	if d.peek() == ']' {
		d.pos++
	} else {
		for {
			c, err := d.component()
			if err != nil {
				return nil, err
			}
			out = append(out, c)
			if d.peek() == ',' {
				d.pos++
				continue
			}
			if err := d.expect(']'); err != nil {
				return nil, err
			}
			break
		}
	}
	d.ws()
	if d.pos != len(d.data) {
		return nil, d.fail("unexpected data after op")
	}
	return out, nil
}

func (d *decoder) component() (Component, error) {
	switch c := d.peek(); {
	case c == '"':
		s, err := d.str()
		if err != nil {
			return Component{}, err
		}
		if s == "" {
			return Component{}, d.fail("empty insert")
		}
		return Component{Insert: s}, nil
	case c == '{':
		return d.deleteObject()
	case c == '-' || (c >= '0' && c <= '9'):
		n, err := d.number()
		if err != nil {
			return Component{}, err
		}
		return Component{Skip: n}, nil
	case c == 0:
		return Component{}, d.fail("unexpected end of input")
	default:
		return Component{}, d.fail("unexpected %q: a component is a number, a string or {\"d\": ...}", c)
	}
}

// deleteObject parses {"d": N} or {"d": "text"}.
func (d *decoder) deleteObject() (Component, error) {
	d.pos++ // '{'
	if d.peek() != '"' {
		return Component{}, d.fail("a delete is {\"d\": N} or {\"d\": \"text\"}")
	}
	key, err := d.str()
	if err != nil {
		return Component{}, err
	}
	if key != "d" {
		return Component{}, d.fail("unknown key %q in delete component", key)
	}
	if err := d.expect(':'); err != nil {
		return Component{}, err
	}
	var c Component
	switch v := d.peek(); {
	case v == '"':
		s, err := d.str()
		if err != nil {
			return Component{}, err
		}
		if s == "" {
			return Component{}, d.fail("empty delete")
		}
		c = Component{Delete: utf8.RuneCountInString(s), DelText: s}
	case v == '-' || (v >= '0' && v <= '9'):
		n, err := d.number()
		if err != nil {
			return Component{}, err
		}
		c = Component{Delete: n}
	default:
		return Component{}, d.fail("delete value must be a positive integer or a non-empty string")
	}
	if err := d.expect('}'); err != nil {
		return Component{}, err
	}
	return c, nil
}

// number parses a positive integer without fraction or exponent.
func (d *decoder) number() (int, error) {
	start := d.pos
	for d.pos < len(d.data) {
		b := d.data[d.pos]
		if !(b >= '0' && b <= '9' || b == '-' || b == '+' || b == '.' || b == 'e' || b == 'E') {
			break
		}
		d.pos++
	}
	text := string(d.data[start:d.pos])
	for i := 0; i < len(text); i++ {
		if text[i] < '0' || text[i] > '9' {
			d.pos = start
			return 0, d.fail("number %s is not a positive integer", text)
		}
	}
	if len(text) > 1 && text[0] == '0' {
		d.pos = start
		return 0, d.fail("number %s has a leading zero", text)
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n > maxJSONNumber {
		d.pos = start
		return 0, d.fail("number %s is too large", text)
	}
	if n == 0 {
		d.pos = start
		return 0, d.fail("zero-length component")
	}
	return int(n), nil
}

var errLoneSurrogate = errors.New("lone surrogate escape")

// str parses a JSON string starting at '"'. It rejects invalid UTF-8, raw
// control characters and escapes of lone surrogates.
func (d *decoder) str() (string, error) {
	d.pos++ // opening quote
	var out []byte
	start := d.pos
	for d.pos < len(d.data) {
		b := d.data[d.pos]
		switch {
		case b == '"':
			s := d.data[start:d.pos]
			d.pos++
			if out == nil {
				return string(s), nil
			}
			return string(append(out, s...)), nil
		case b == '\\':
			out = append(out, d.data[start:d.pos]...)
			var err error
			if out, err = d.escape(out); err != nil {
				return "", err
			}
			start = d.pos
		case b < 0x20:
			return "", d.fail("control character %#x in string", b)
		case b < utf8.RuneSelf:
			d.pos++
		default:
			r, size := utf8.DecodeRune(d.data[d.pos:])
			if r == utf8.RuneError && size <= 1 {
				return "", d.fail("invalid UTF-8 in string")
			}
			d.pos += size
		}
	}
	return "", d.fail("unterminated string")
}

// escape decodes one escape sequence at d.pos (the backslash) onto out.
func (d *decoder) escape(out []byte) ([]byte, error) {
	if d.pos+1 >= len(d.data) {
		return nil, d.fail("unterminated escape")
	}
	c := d.data[d.pos+1]
	if simple, ok := simpleEscapes[c]; ok {
		d.pos += 2
		return append(out, simple), nil
	}
	if c != 'u' {
		return nil, d.fail("invalid escape \\%c", c)
	}
	r, err := d.hex4(d.pos + 2)
	if err != nil {
		return nil, err
	}
	d.pos += 6
	switch {
	case utf16.IsSurrogate(r) && r < 0xdc00:
		// A high surrogate must be followed by an escaped low surrogate.
		if d.pos+1 < len(d.data) && d.data[d.pos] == '\\' && d.data[d.pos+1] == 'u' {
			lo, err := d.hex4(d.pos + 2)
			if err != nil {
				return nil, err
			}
			if lo >= 0xdc00 && lo <= 0xdfff {
				d.pos += 6
				return utf8.AppendRune(out, utf16.DecodeRune(r, lo)), nil
			}
		}
		d.pos -= 6
		return nil, d.fail("%v \\u%04x", errLoneSurrogate, r)
	case utf16.IsSurrogate(r):
		d.pos -= 6
		return nil, d.fail("%v \\u%04x", errLoneSurrogate, r)
	}
	return utf8.AppendRune(out, r), nil
}

var simpleEscapes = map[byte]byte{
	'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t',
}

func (d *decoder) hex4(at int) (rune, error) {
	if at+4 > len(d.data) {
		return 0, d.fail("short \\u escape")
	}
	var r rune
	for _, b := range d.data[at : at+4] {
		r <<= 4
		switch {
		case b >= '0' && b <= '9':
			r |= rune(b - '0')
		case b >= 'a' && b <= 'f':
			r |= rune(b - 'a' + 10)
		case b >= 'A' && b <= 'F':
			r |= rune(b - 'A' + 10)
		default:
			return 0, d.fail("invalid \\u escape")
		}
	}
	return r, nil
}
