package client

import (
	"encoding/json"
	"fmt"
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

// BenchmarkHandleRemoteOpLongDocument is BenchmarkHandleRemoteOp in texts
// of 10k and 1M code points, with the ops spread over the whole text, and
// the acknowledgement of the client's own op (which applies it to the
// server text and sends the buffer): neither should grow with the length.
func BenchmarkHandleRemoteOpLongDocument(b *testing.B) {
	for _, lines := range []int{500, 50_000} {
		text := strings.Repeat("lorem ipsum 🎉 dolor\n", lines) // 20 code points a line.
		b.Run(fmt.Sprintf("size=%d/remote-op", 20*lines), func(b *testing.B) {
			frames := make([][]byte, 1000)
			for i := range frames {
				m := collab.OpMsg{Type: collab.TypeOp, Version: uint64(i + 1), Op: ins(7919*i%(18*lines), "ab"),
					Session: "other", Seq: uint64(i + 1)}
				frames[i], _ = json.Marshal(m)
			}
			c := &Client{st: benchStateOf(b, text)}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if i%len(frames) == 0 && i > 0 {
					b.StopTimer()
					c.st = benchStateOf(b, text)
					b.StartTimer()
				}
				if err := c.handle(nil, frames[i%len(frames)]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("size=%d/ack", 20*lines), func(b *testing.B) {
			c := &Client{st: benchStateOf(b, text)}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				st := c.st
				ack := fmt.Appendf(nil, `{"type":"ack","seq":%d,"version":%d}`, st.inflightSeq, st.version+1)
				if err := c.handle(nil, ack); err != nil || !st.hasInflight { // The buffer went out.
					b.Fatal(err)
				}
				b.StopTimer()
				st.out, st.events = st.out[:0], st.events[:0]
				if err := st.submit(ins(7919*i%(18*lines), "typed")); err != nil { // The next buffer.
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

func benchState(b *testing.B) *state {
	return benchStateOf(b, strings.Repeat("lorem ipsum 🎉 dolor\n", 500))
}

// benchStateOf is a state holding text, with ten peers' cursors, an op in
// flight and a buffer.
func benchStateOf(b *testing.B, text string) *state {
	st := newState()
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
