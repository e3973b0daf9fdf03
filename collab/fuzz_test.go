package collab

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// FuzzDecodeFrame feeds arbitrary frames to the WebSocket message decoder
// (seeds in testdata/fuzz/FuzzDecodeFrame, plus FuzzDecodeClient's in
// codec_test.go). Properties:
//   - binary frames are always refused;
//   - a refusal is an *Error with a client-facing code (invalid_message or
//     invalid_op) and a short, valid UTF-8 message;
//   - an accepted message is stable: encoding it and decoding it again gives
//     the same message, so what the server acted on is exactly what it would
//     log or relay;
//   - an accepted frame has no key twice at its top level (docs/protocol.md's
//     key rule; TestDecodeKeysExact has the rest of it).
func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte(`{"type":"op","seq":2,"version":1,"op":[1,{"d":"é"},"👍🏽"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, e := decodeClient(websocket.MessageBinary, data); m != nil || e == nil {
			t.Fatalf("binary frame accepted: %+v", m)
		}
		m, e := decodeClient(websocket.MessageText, data)
		if e != nil {
			if m != nil || e.Code != CodeInvalidMessage && e.Code != CodeInvalidOp ||
				!utf8.ValidString(e.Message) || len(e.Message) > 256 {
				t.Fatalf("refusal %v %+v", m, e)
			}
			return
		}
		if k, ok := repeatedKey(data); ok {
			t.Fatalf("%q accepted with the key %q twice", data, k)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", m, err)
		}
		m2, e2 := decodeClient(websocket.MessageText, b)
		if e2 != nil {
			t.Fatalf("%q accepted, its re-encoding %s refused: %v", data, b, e2)
		}
		if a, b2 := comparable(*m), comparable(*m2); !reflect.DeepEqual(a, b2) {
			t.Fatalf("unstable decoding of %q:\n%+v\n%+v", data, a, b2)
		}
	})
}

// repeatedKey is a key given twice at the top level of JSON object data.
func repeatedKey(data []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		k, _ := t.(string)
		if seen[k] {
			return k, true
		}
		seen[k] = true
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return "", false
		}
	}
	return "", false
}

// comparable erases what encoding cannot carry: an empty op and an empty
// one are both absent, and an absent cursor re-encodes as null.
func comparable(m ClientMsg) ClientMsg {
	if len(m.Op) == 0 {
		m.Op = nil
	}
	if m.Cursor.Sel == nil {
		m.Cursor.Set = false
	}
	return m
}

// FuzzDecodeFast: wherever the hand-written decoder answers, encoding/json
// accepts the same frame and decodes the same message.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range []string{
		`{"type":"op","seq":2,"version":1,"op":[1,{"d":"é"},"👍🏽"]}`,
		`{"version":7,"op":["a\"]b",3],"type":"op","seq":12}`,
		`{"type":"presence","version":3,"cursor":{"anchor":1,"head":2}}`,
		`{"type":"presence","version":3,"cursor":null}`,
		`{"type":"ping"}`,
		` { "type" : "op" , "seq" : 1 , "version" : 0 , "op" : [ "x" ] } `,
		`{"type":"op","seq":01,"version":0,"op":["x"]}`,
		`{"type":"op","seq":1,"seq":2,"version":0,"op":["x"]}`,
		`{"type":"op","Seq":1,"version":0,"op":["x"]}`,
		`{"type":"op","seq":1.0,"version":0,"op":["x"]}`,
		`{"type":"op","seq":1,"version":0,"op":[{"d":1}]}`,
		`{"type":"presence","cursor":{"head":2,"anchor":1}}`,
		`{"type":"op","seq":1,"version":0,"op":["x"]}x`,
		`{"type":"op","seq":1,"version":0,"op":["x"],"SEQ":2}`,
		`{"type":"op","seq":1,"version":0,"op":["x"],"Op":["y"]}`,
		`{"type":"presence","cursor":{"anchor":1}}`,
		`{"type":"presence","cursor":{"anchor":1,"Head":2}}`,
		`{"type":"presence","cursor":{"anchor":1,"head":2,"head":3}}`,
		`{"type":"presence","cursor":{"anchor":1,"head":2},"cursor":null}`,
		`{"type":"ping","type":"ping"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) || HasLoneSurrogate(data) {
			return // decodeClient refuses these before either decoder.
		}
		fast, ok := decodeFast(data)
		if !ok {
			return
		}
		slow, e := decodeJSON(data)
		if e != nil {
			t.Fatalf("%q: fast path accepted, encoding/json refused: %v", data, e)
		}
		if !reflect.DeepEqual(fast, *slow) {
			t.Fatalf("%q decodes differently:\nfast %+v\njson %+v", data, fast, *slow)
		}
	})
}

// TestDecodeFastTakesTheCommonFrames: the frames the clients send most are
// decoded by the fast path (the fuzz test covers that it agrees).
func TestDecodeFastTakesTheCommonFrames(t *testing.T) {
	for _, s := range []string{
		`{"type":"op","seq":2,"version":1,"op":[1,{"d":"é"},"👍🏽"]}`,
		`{"type":"presence","version":3,"cursor":{"anchor":1,"head":2}}`,
		`{"type":"presence","version":3,"cursor":null}`,
		`{"type":"ping"}`,
	} {
		if _, ok := decodeFast([]byte(s)); !ok {
			t.Errorf("fast path gave up on %s", s)
		}
	}
	for _, s := range []string{
		`{"type":"hello","token":"x"}`, `{"type":"op","seq":1,"seq":2}`, `{"Type":"op"}`,
		`{"type":"op","seq":-1}`, `{"type":"op","seq":1e2}`, `{"type":"op"} x`, `{"seq":1}`,
	} {
		if _, ok := decodeFast([]byte(s)); ok {
			t.Errorf("fast path took %s, which is encoding/json's", s)
		}
	}
}
