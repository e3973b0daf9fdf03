package client

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
)

// wireSeeds are server frames in the forms the server sends and in forms it
// does not (escapes, odd numbers, repeated keys, other types), which
// decodeFast must either decode exactly as decodeSlow does or decline.
var wireSeeds = []string{
	`{"type":"op","version":7,"op":[3,"ab",{"d":2}],"session":"s1","seq":4}`,
	`{"type":"op","version":7,"op":["🎉👨‍👩‍👧‍👦"],"session":"s1","seq":4}`,
	` { "type" : "op" , "version" : 1 , "op" : [ "x\"y\\z\n" ] , "session" : "s" , "seq" : 1 } `,
	`{"type":"op","version":7,"op":[{"d":"tëxt"}],"session":"s1","seq":4}`,
	`{"type":"op","version":7,"op":[],"session":"s1","seq":4}`,
	`{"type":"op","version":7,"op":null,"session":"s1","seq":4}`,
	`{"type":"op","version":7,"op":[0],"session":"s1","seq":4}`,
	`{"type":"op","version":7,"op":[1],"session":"s1","seq":4}`,
	`{"type":"op","version":7,"op":[3,"a"],"session":"s1","seq":4,"extra":true}`,
	`{"type":"op","version":7,"version":8,"op":["a"],"session":"s1","seq":4}`,
	`{"type":"op","version":7.0,"op":["a"],"session":"s1","seq":4}`,
	`{"type":"op","version":-1,"op":["a"],"session":"s1","seq":4}`,
	`{"type":"op","version":07,"op":["a"],"session":"s1","seq":4}`,
	`{"type":"op","version":18446744073709551615,"op":["a"],"session":"s1","seq":4}`,
	`{"type":"op","version":1e3,"op":["a"],"session":"s1","seq":4}`,
	`{"type":"op","version":7,"op":["a"],"session":"s\u0031","seq":4}`,
	`{"type":"op","version":7,"op":["a"],"session":null,"seq":4}`,
	`{"type":"op","version":7,"op":["a"],"session":"s1","seq":4}x`,
	`{"type":"op","version":7,"op":["a"],"session":"s1","seq":4`,
	`{"Type":"op","version":7,"op":["a"],"session":"s1","seq":4}`,
	`{"type":"op","version":7,"op":["\ud83c\udf89"],"session":"s1","seq":4}`,
	`{"type":"op","version":7,"op":["\ud800"],"session":"s1","seq":4}`,
	"{\"type\":\"op\",\"version\":7,\"op\":[\"a\"],\"session\":\"\xff\",\"seq\":4}",
	`{"type":"ack","seq":4,"version":9}`,
	`{"type":"ack","seq":4,"version":9,"op":"bad"}`,
	`{"type":"ack","seq":"4","version":9}`,
	`{"type":"presence","session":"p","name":"Ann","color":"#f00","cursor":{"anchor":3,"head":5},"version":9}`,
	`{"type":"presence","session":"p","name":"Ånn 🎉","color":"#f00","cursor":null,"version":9}`,
	`{"type":"presence","session":"p","name":"Ann","color":"#f00","cursor":{"head":5},"version":9}`,
	`{"type":"presence","session":"p","name":"Ann","color":"#f00","cursor":{"anchor":-3,"head":5},"version":9}`,
	`{"type":"presence","session":"p","name":"Ann","color":"#f00","cursor":{"anchor":3,"anchor":4,"head":5},"version":9}`,
	`{"type":"presence","session":"p","name":"Ann","color":"#f00","cursor":{"anchor":3,"head":5,"x":1},"version":9}`,
	`{"type":"presence","session":"p","name":"A\u003cnn","color":"#f00","cursor":null,"version":9}`,
	`{"type":"presence","session":"p","name":"Ann","color":"#f00","cursor":[1,2],"version":9}`,
	`{"type":"presence","session":"p","cursor":{"anchor":1,"head":2}}`,
	`{"type":"leave","session":"p"}`,
	`{"type":"leave","session":7}`,
	`{"type":"pong"}`,
	`{"type":"error","code":"rate_limited","message":"slow down","seq":3}`,
	`{"type":"welcome","session":"s","version":1,"role":"edit","peers":[],"ops":[]}`,
	`{"type":"mystery","version":1}`,
	`{}`,
	`[]`,
	``,
	`{"type":"op","version":7,"op":[3,"a"],"session":"s1","seq":4,}`,
	`{"type":"op","version":7,"op":[3,"a"]"session":"s1","seq":4}`,
}

// checkFastMatchesSlow fails when decodeFast answers b differently from
// decodeSlow.
func checkFastMatchesSlow(t *testing.T, b []byte) {
	t.Helper()
	var fast serverMsg
	if !decodeFast(b, &fast) {
		return
	}
	slow, err := decodeSlow(b)
	if err != nil {
		t.Fatalf("decodeFast accepted %q, decodeSlow refused it: %v", b, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%q:\nfast %+v\nslow %+v", b, fast, slow)
	}
}

func TestDecodeFastMatchesEncodingJSON(t *testing.T) {
	accepted := 0
	for _, s := range wireSeeds {
		checkFastMatchesSlow(t, []byte(s))
		var m serverMsg
		if decodeFast([]byte(s), &m) {
			accepted++
		}
	}
	if accepted < 8 {
		t.Fatalf("decodeFast accepted only %d seeds; the fast path is not being used", accepted)
	}
}

// TestDecodeFastTakesServerFrames checks that what the server actually
// encodes (encoding/json of the collab structs) takes the fast path.
func TestDecodeFastTakesServerFrames(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		var v any
		text := randText(r) // The one string field that is not an op.
		switch i % 4 {
		case 0:
			v = collab.OpMsg{Type: collab.TypeOp, Version: r.Uint64N(1 << 40), Op: randOp(r, 50), Session: "s-" + text, Seq: r.Uint64N(1 << 50)}
		case 1:
			v, text = collab.Ack{Type: collab.TypeAck, Seq: r.Uint64N(1 << 50), Version: r.Uint64N(1 << 40)}, ""
		case 2:
			p := collab.Presence{Type: collab.TypePresence, Session: "p", Name: text, Color: "#123456", Version: r.Uint64N(1000)}
			if r.IntN(2) == 0 {
				p.Cursor = &ot.Selection{Anchor: r.IntN(100), Head: r.IntN(100)}
			}
			v = p
		case 3:
			v = collab.Leave{Type: collab.TypeLeave, Session: "s-" + text}
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m serverMsg
		plain := !strings.ContainsAny(text, `"<&`) // encoding/json escapes these.
		if ok := decodeFast(b, &m); ok != plain {
			t.Fatalf("decodeFast(%s) = %v, want %v", b, ok, plain)
		}
		checkFastMatchesSlow(t, b)
	}
}

// randText is a short string of letters, emoji, HTML characters and quotes
// (the last two are escaped by encoding/json).
func randText(r *rand.Rand) string {
	const pieces = "ab🎉é<&\"x"
	rs := []rune(pieces)
	var sb strings.Builder
	for range r.IntN(5) {
		sb.WriteRune(rs[r.IntN(len(rs))])
	}
	return sb.String()
}

func FuzzDecodeFast(f *testing.F) {
	for _, s := range wireSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastMatchesSlow(t, b)
	})
}

// TestEncodeClientMatchesEncodingJSON: what encodeClient writes decodes to
// the same message as encoding/json's encoding, and is byte for byte the
// same when no character needs an HTML-safe escape.
func TestEncodeClientMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	v := uint64(42)
	name := "n"
	msgs := []collab.ClientMsg{
		{Type: collab.TypeHello, Session: "s", Token: "t", User: &collab.User{Name: "a", Color: "b"}},
		{Type: collab.TypeHello, Version: &v},
		{Type: collab.TypePresence, Version: &v, Cursor: collab.CursorField{Set: true}},
		{Type: collab.TypePresence, Version: &v, Cursor: collab.CursorField{Set: true, Sel: &ot.Selection{Anchor: 1, Head: 9}}},
		{Type: collab.TypePresence, Version: &v, Name: &name},
		{Type: collab.TypeOp, Seq: 3, Version: &v, Op: ot.Op{{Insert: "<a&b>\u2028\"\\\n"}}},
		{Type: collab.TypePing},
	}
	for range 300 {
		w := r.Uint64N(1 << 50)
		msgs = append(msgs, collab.ClientMsg{Type: collab.TypeOp, Seq: r.Uint64N(1 << 50), Version: &w, Op: randOp(r, 40)})
	}
	for _, m := range msgs {
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeClient([]byte("junk"), &m)
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		if string(got[:4]) != "junk" {
			t.Fatalf("encodeClient did not append: %q", got)
		}
		got = got[4:]
		var a, b collab.ClientMsg
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		if err := json.Unmarshal(want, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("encodeClient %s\nencoding/json %s", got, want)
		}
		if !strings.ContainsAny(string(want), `\`) && string(got) != string(want) {
			t.Fatalf("bytes differ:\nencodeClient  %s\nencoding/json %s", got, want)
		}
	}
}
