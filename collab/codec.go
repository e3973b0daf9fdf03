package collab

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// wireMsg decodes a ClientMsg with its op kept raw, so that a bad op is
// reported as invalid_op rather than invalid_message.
type wireMsg struct {
	ClientMsg
	Op json.RawMessage `json:"op"`
}

// decodeClient checks and decodes one client frame. Go's encoding/json turns
// invalid UTF-8 and lone surrogate escapes into U+FFFD silently; both are
// refused here first so that no text differs between server and browser.
func decodeClient(typ websocket.MessageType, data []byte) (*ClientMsg, *Error) {
	if typ != websocket.MessageText {
		return nil, errorf(CodeInvalidMessage, "binary messages are not supported")
	}
	if !utf8.Valid(data) {
		return nil, errorf(CodeInvalidMessage, "invalid UTF-8")
	}
	if HasLoneSurrogate(data) {
		return nil, errorf(CodeInvalidMessage, "lone surrogate escape")
	}
	if m, ok := decodeFast(data); ok {
		return &m, nil
	}
	return decodeJSON(data)
}

// decodeJSON is decodeClient's general path, through encoding/json, with
// the protocol's key rules (clientKeys) applied first.
func decodeJSON(data []byte) (*ClientMsg, *Error) {
	data, e := clientKeys.strict(data, "message", false)
	if e != nil {
		return nil, e
	}
	var w wireMsg
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, errorf(CodeInvalidMessage, clip("malformed message: "+err.Error()))
	}
	m := w.ClientMsg
	switch m.Type {
	case TypeHello, TypeOp, TypePresence, TypePing:
	case "":
		return nil, errorf(CodeInvalidMessage, "missing type")
	default:
		return nil, errorf(CodeInvalidMessage, "unknown type")
	}
	if len(w.Op) > 0 && string(w.Op) != "null" {
		if err := json.Unmarshal(w.Op, &m.Op); err != nil {
			return nil, &Error{Code: CodeInvalidOp, Message: clip(err.Error())}
		}
	}
	return &m, nil
}

// opSeq is the seq of an op frame that decodeClient refused (a malformed or
// non-normalized op, say), so that the error names the op the client waits
// to hear about; 0 when the frame is no op or its seq cannot be read.
func opSeq(data []byte) uint64 {
	keys, vals, ok := members(data)
	if !ok {
		return 0
	}
	var typ string
	var seq uint64
	var types, seqs int
	for i, k := range keys {
		switch k {
		case "type":
			types++
			_ = json.Unmarshal(vals[i], &typ)
		case "seq":
			seqs++
			_ = json.Unmarshal(vals[i], &seq)
		}
	}
	if types != 1 || seqs != 1 || typ != TypeOp {
		return 0 // Keys are matched exactly; a repeated type or seq names no op.
	}
	return seq
}

// HasLoneSurrogate reports a \uD800-\uDFFF escape in JSON text b that is not
// a valid pair: encoding/json would turn it into U+FFFD silently, so that the
// text stored would not be the text sent.
func HasLoneSurrogate(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		i++ // The escaped character.
		if i >= len(b) || b[i] != 'u' {
			continue
		}
		r, ok := hex4(b, i+1)
		if !ok {
			continue // encoding/json reports it.
		}
		i += 4
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			if i+2 >= len(b) || b[i+1] != '\\' || b[i+2] != 'u' {
				return true
			}
			lo, ok := hex4(b, i+3)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 6
		}
	}
	return false
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// clip shortens an error message to a safe length on a rune boundary.
func clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}

var pongBytes = encode(Pong{Type: TypePong})

// encode marshals a server message. Every server message is a plain struct
// of strings, numbers and ops already validated, so failure is a bug; the
// client then sees an internal error rather than a broken frame.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"type":"error","code":"internal","message":"internal error"}`)
	}
	return b
}

// MarshalJSON writes "ops":[] for an empty catch-up, so that exactly one of
// text and ops is always present.
func (w Welcome) MarshalJSON() ([]byte, error) {
	type plain Welcome
	if w.Text != nil {
		return json.Marshal(plain(w))
	}
	ops := w.Ops
	if ops == nil {
		ops = []OpMsg{}
	}
	return json.Marshal(struct {
		plain
		Ops []OpMsg `json:"ops"`
	}{plain(w), ops})
}
