package collab

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/foliodocs/folio/ot"
)

// FuzzDecodeClient: any frame gives a message or an *Error, never a panic;
// an accepted message has a known type, and nothing it carries was silently
// repaired (no U+FFFD that the frame did not contain).
func FuzzDecodeClient(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","session":"abc","version":3,"token":"t","user":{"name":"Ann","color":"#3366ff"}}`,
		`{"type":"op","seq":1,"version":0,"op":[3,"hé🎉",{"d":2},{"d":"xy"}]}`,
		`{"type":"presence","version":1,"cursor":{"anchor":1,"head":4},"name":"B"}`,
		`{"type":"presence","version":1,"cursor":null}`,
		`{"type":"ping"}`,
		`{"type":"op","op":["\ud83c\udf89"]}`,
		`{"type":"op","op":["\ud83c"]}`,
		`{"type":"presence","name":"\\ud800"}`,
		"{\"type\":\"ping\",\"x\":\"\xff\"}",
		`{"type":"op","op":[0]}`, `[]`, `null`, `{"type":1}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, e := decodeClient(websocket.MessageText, data)
		if e != nil {
			if m != nil || e.Code == "" || !utf8.ValidString(e.Message) {
				t.Fatalf("bad refusal %v %+v", m, e)
			}
			return
		}
		switch m.Type {
		case TypeHello, TypeOp, TypePresence, TypePing:
		default:
			t.Fatalf("accepted type %q", m.Type)
		}
		if strings.Contains(string(data), `\u`) || strings.ContainsRune(string(data), utf8.RuneError) {
			return // Escapes may legitimately spell U+FFFD.
		}
		b, _ := json.Marshal(m)
		if strings.ContainsRune(string(b), utf8.RuneError) {
			t.Fatalf("decoder introduced U+FFFD: %q -> %s", data, b)
		}
	})
}

// TestDecodeKeysExact: keys are matched exactly, a key given twice is
// invalid_message, other keys are ignored, and a cursor needs both anchor
// and head; the same whichever decoder answers (decodeFast gives up on all
// of these but the first, and FuzzDecodeFast checks the two agree).
func TestDecodeKeysExact(t *testing.T) {
	one := uint64(1)
	for _, c := range []struct {
		frame string
		want  *ClientMsg // nil: refused with invalid_message
	}{
		{`{"type":"presence","cursor":{"head":2,"anchor":1}}`,
			&ClientMsg{Type: TypePresence, Cursor: CursorField{Set: true, Sel: &ot.Selection{Anchor: 1, Head: 2}}}},
		{`{"type":"presence","cursor":{"anchor":1,"head":2,"radius":3}}`,
			&ClientMsg{Type: TypePresence, Cursor: CursorField{Set: true, Sel: &ot.Selection{Anchor: 1, Head: 2}}}},
		{`{"type":"ping","future":{"x":1,"x":2}}`, &ClientMsg{Type: TypePing}},
		{`{"type":"op","Seq":1,"version":1}`, &ClientMsg{Type: TypeOp, Version: &one}},
		{`{"type":"op","SEQ":"not a number","version":1}`, &ClientMsg{Type: TypeOp, Version: &one}},
		{`{"type":"ping","Type":"op"}`, &ClientMsg{Type: TypePing}},
		{`{"Type":"ping"}`, nil}, // No type.
		{`{"type":"hello","Token":"t","user":{"Name":"Ann","color":"#3366ff"}}`,
			&ClientMsg{Type: TypeHello, User: &User{Color: "#3366ff"}}},
		{`{"type":"hello","\u0074oken":"t"}`, &ClientMsg{Type: TypeHello, Token: "t"}}, // Escaped, still exact.
		{`{"type":"op","seq":1,"seq":2,"version":1}`, nil},
		{`{"type":"op","seq":1,"\u0073eq":2,"version":1}`, nil},
		{`{"type":"ping","type":"ping"}`, nil},
		{`{"type":"ping","x":1,"x":1}`, nil},
		{`{"type":"hello","user":{"name":"a","name":"b"}}`, nil},
		{`{"type":"presence","cursor":{"anchor":1}}`, nil},
		{`{"type":"presence","cursor":{"head":1}}`, nil},
		{`{"type":"presence","cursor":{}}`, nil},
		{`{"type":"presence","cursor":{"anchor":1,"Head":2}}`, nil},
		{`{"type":"presence","cursor":{"anchor":1,"head":2,"anchor":3}}`, nil},
		{`{"type":"ping"} {"type":"ping"}`, nil},
	} {
		m, e := decodeClient(websocket.MessageText, []byte(c.frame))
		switch {
		case c.want == nil && (e == nil || e.Code != CodeInvalidMessage):
			t.Errorf("%s: got %+v, %v; want invalid_message", c.frame, m, e)
		case c.want != nil && e != nil:
			t.Errorf("%s: refused: %v", c.frame, e)
		case c.want != nil && !reflect.DeepEqual(*m, *c.want):
			t.Errorf("%s:\n got %+v\nwant %+v", c.frame, *m, *c.want)
		}
	}
}

// TestOpSeqKeysExact: the seq an op frame's error carries is read by the
// same rule: a differently-cased or repeated type or seq names no op.
func TestOpSeqKeysExact(t *testing.T) {
	for frame, want := range map[string]uint64{
		`{"type":"op","seq":4,"op":[0]}`:          4,
		`{"type":"op","Seq":4,"op":[0]}`:          0,
		`{"TYPE":"op","seq":4,"op":[0]}`:          0,
		`{"type":"op","seq":4,"seq":5,"op":[0]}`:  0,
		`{"type":"op","seq":4,"op":[0],"op":[1]}`: 4,
		`{"type":"ping","type":"op","seq":4}`:     0,
	} {
		if got := opSeq([]byte(frame)); got != want {
			t.Errorf("opSeq(%s) = %d, want %d", frame, got, want)
		}
	}
}

// TestCheckKeys: a REST body follows a frame's key rule (exact, once, in
// nested objects too) and its unknown keys are refused rather than ignored;
// what is no JSON object is left to encoding/json.
func TestCheckKeys(t *testing.T) {
	type body struct {
		Version *uint64 `json:"version"`
		User    User    `json:"user"`
	}
	for b, want := range map[string]string{ // "": accepted
		`{"version":1,"user":{"name":"Ann"}}`: "",
		`{"\u0076ersion":1}`:                  "",
		`not json`:                            "",
		`{"Version":1}`:                       `body has the unknown key "Version" (keys match exactly: "version")`,
		`{"version":1,"seq":2}`:               `body has the unknown key "seq"`,
		`{"version":1,"version":2}`:           `body has the key "version" twice`,
		`{"user":{"name":"a","Name":"b"}}`:    `user has the unknown key "Name" (keys match exactly: "name")`,
		`{"user":{"name":"a","name":"b"}}`:    `user has the key "name" twice`,
	} {
		e := CheckKeys([]byte(b), &body{})
		switch {
		case want == "" && e != nil:
			t.Errorf("%s: refused: %v", b, e)
		case want != "" && (e == nil || e.Code != CodeInvalidMessage || e.Message != want):
			t.Errorf("%s: got %v, want invalid_message: %s", b, e, want)
		}
	}
}
