package client

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
)

// BenchmarkHandleRemoteOp measures what a client spends on one broadcast op:
// decoding the frame, transforming it over an in-flight op and a buffer,
// applying it to both texts (10k code points) and moving 10 peers' cursors.
// This is the per-editor cost the load generator pays for every delivery.
func BenchmarkHandleRemoteOp(b *testing.B) {
	frames := make([][]byte, 1000)
	for i := range frames {
		m := collab.OpMsg{Type: collab.TypeOp, Version: uint64(i + 1), Op: ins(7*i%9000, "ab"),
			Session: "other", Seq: uint64(i + 1)}
		frames[i], _ = json.Marshal(m)
	}
	c := &Client{st: benchState(b)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(frames) == 0 && i > 0 {
			b.StopTimer()
			c.st = benchState(b) // Replay the same frames from version 0.
			b.StartTimer()
		}
		if err := c.handle(nil, frames[i%len(frames)]); err != nil {
			b.Fatal(err)
		}
	}
}

func benchState(b *testing.B) *state {
	st := newState()
	text := strings.Repeat("lorem ipsum 🎉 dolor\n", 500)
	if err := st.welcome(collab.Welcome{Session: "me", Text: &text, Role: "edit"}); err != nil {
		b.Fatal(err)
	}
	for i := range 10 {
		st.presence(collab.Presence{Session: string(rune('a' + i)), Cursor: &ot.Selection{Anchor: i * 100, Head: i * 100}})
	}
	for _, op := range []ot.Op{ins(5000, "typed"), ins(5005, "more")} {
		if err := st.submit(op); err != nil {
			b.Fatal(err)
		}
	}
	if !st.hasInflight || st.buffer == nil {
		b.Fatal("want an op in flight and a buffer")
	}
	st.out, st.events = nil, nil
	return st
}

// BenchmarkDecode compares the hand decoder with encoding/json on the
// frames a client in a busy room mostly receives: ops, acks and presence.
func BenchmarkDecode(b *testing.B) {
	frames := [][]byte{
		[]byte(`{"type":"op","version":1234,"op":[517,"e"],"session":"k3J9x0aQ2mZr","seq":77}`),
		[]byte(`{"type":"ack","seq":78,"version":1235}`),
		[]byte(`{"type":"presence","session":"k3J9x0aQ2mZr","name":"bench 17","color":"#3366ff","cursor":{"anchor":518,"head":518},"version":1235}`),
	}
	for _, bc := range []struct {
		name   string
		decode func([]byte) bool
	}{
		{"fast", func(f []byte) bool { var m serverMsg; return decodeFast(f, &m) }},
		{"encoding-json", func(f []byte) bool { _, err := decodeSlow(f); return err == nil }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if !bc.decode(frames[i%len(frames)]) {
					b.Fatal("not decoded")
				}
			}
		})
	}
}
