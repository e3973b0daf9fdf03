package storage

import (
	"bytes"
	"compress/flate"
	"math"
	"runtime"
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

// TestSnapshotEncodingCopiesLittle: encoding a large snapshot that
// compresses well allocates a small part of its text, not spare copies of
// it (a room passes one about every DefaultSnapshotEvery ops), and its
// bytes are those one DEFLATE write of the whole text gives.
func TestSnapshotEncodingCopiesLittle(t *testing.T) {
	text := strings.Repeat("lorem ipsum 🎉 dolor\n", 50_000) // A million code points.
	var enc []byte
	least := uint64(math.MaxUint64)
	// The least of ten: the pool may drop the writer (it does at random under
	// -race, and at two GC cycles between a Put and a Get). No runtime.GC
	// here: TotalAlloc is exact without one, and one call may run two cycles
	// (finishing one under way first), which empties the pool every time.
	for range 10 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		enc = encodeSnapshot(text)
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	if least > uint64(len(text))/4 {
		t.Errorf("encoding %d bytes into %d allocated %d bytes", len(text), len(enc), least)
	}
	var ref bytes.Buffer
	zw, _ := flate.NewWriter(&ref, flate.BestSpeed)
	zw.Write([]byte(text))
	zw.Close()
	if !bytes.HasSuffix(enc, ref.Bytes()) {
		t.Error("snapshot does not end with the DEFLATE stream of one write")
	}
	if got, err := decodeSnapshot(enc); err != nil || got != text {
		t.Fatalf("decodes to %d bytes, %v", len(got), err)
	}
}
