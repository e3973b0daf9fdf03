package collab

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/coder/websocket"
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
