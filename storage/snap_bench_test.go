package storage

import (
	"bytes"
	"compress/flate"
	"strings"
	"testing"
)

// BenchmarkEncodeSnapshot: a 2,000-character document's snapshot, as a room
// passes one to Append every DefaultSnapshotEvery ops.
func BenchmarkEncodeSnapshot(b *testing.B) {
	text := strings.Repeat("the quick brown fox jumps over the lazy dog ", 46)[:2000]
	b.ReportAllocs()
	for b.Loop() {
		encodeSnapshot(text)
	}
}

// TestPooledSnapshotWriter: a recycled DEFLATE writer writes exactly what a
// fresh one writes, and the snapshot decodes to the text.
func TestPooledSnapshotWriter(t *testing.T) {
	for i, text := range []string{strings.Repeat("abc ", 300), strings.Repeat("héllo 🎉 wörld ", 100), strings.Repeat("x", 5000)} {
		first, second := encodeSnapshot(text), encodeSnapshot(text)
		if string(first) != string(second) {
			t.Fatalf("text %d: a recycled writer wrote different bytes", i)
		}
		var ref bytes.Buffer
		zw, _ := flate.NewWriter(&ref, flate.BestSpeed)
		zw.Write([]byte(text))
		zw.Close()
		if !bytes.HasSuffix(first, ref.Bytes()) {
			t.Fatalf("text %d: snapshot does not end with a fresh writer's DEFLATE stream", i)
		}
		if got, err := decodeSnapshot(first); err != nil || got != text {
			t.Fatalf("text %d: decodes to %d bytes, %v", i, len(got), err)
		}
	}
}
