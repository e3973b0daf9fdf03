package storage

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/foliodocs/folio/ot"
)

func TestSnapshotCodec(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	var random strings.Builder
	for range 3000 {
		random.WriteString(alphabet[rng.IntN(len(alphabet))])
	}
	for name, text := range map[string]string{
		"empty": "", "short": "héllo 🎉", "repetitive": strings.Repeat("lorem ipsum ", 1000),
		"random unicode": random.String(),
	} {
		enc := encodeSnapshot(text)
		got, err := decodeSnapshot(enc)
		if err != nil || got != text {
			t.Errorf("%s: round trip: %v", name, err)
		}
		if name == "repetitive" && len(enc) > len(text)/10 {
			t.Errorf("%s: %d bytes encoded from %d", name, len(enc), len(text))
		}
		// A truncated header, or compressed text, never decodes.
		for cut := 0; cut < len(enc); cut += 1 + len(enc)/50 {
			if cut >= 2 && enc[1] == snapRaw {
				break
			}
			if _, err := decodeSnapshot(enc[:cut]); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: truncated to %d: %v", name, cut, err)
			}
		}
	}
	if _, err := decodeSnapshot([]byte{snapV1, snapRaw, 0xff}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("invalid UTF-8 snapshot: %v", err)
	}
}

func randomRecords(rng *rand.Rand, n int) []OpRecord {
	recs := make([]OpRecord, n)
	for i := range recs {
		recs[i] = OpRecord{
			Version: 41 + uint64(i), Op: randomOp(rng, 20), Seq: rng.Uint64N(1 << 40),
			Session: []string{"", "a", "session-b", "🎉"}[rng.IntN(4)], Author: []string{"Ada", "", "Zoë"}[rng.IntN(3)],
			Time: time.Unix(1700000000+rng.Int64N(1000)-500, rng.Int64N(1e9)).UTC(),
		}
	}
	recs[0].Op = append(recs[0].Op, ot.Component{Delete: 3, DelText: "a🎉b"})
	return recs
}

func TestChunkCodec(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, n := range []int{1, 2, 17, maxChunk} {
		recs := randomRecords(rng, n)
		enc := encodeChunk(recs)
		got, err := decodeChunk(41, enc)
		if err != nil || !recordsEqual(got, recs) {
			t.Fatalf("n=%d: round trip: %v", n, err)
		}
		if c, err := chunkCount(enc); c != n || err != nil {
			t.Fatalf("chunkCount = %d, %v", c, err)
		}
		for cut := 0; cut < len(enc); cut += 1 + cut/128 { // Every cut of small chunks.
			if _, err := decodeChunk(41, enc[:cut]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("n=%d truncated to %d: %v", n, cut, err)
			}
		}
	}
}

// FuzzDecodeChunk: any bytes decode to records or an error, never a panic,
// and whatever decodes encodes back to a chunk that decodes the same.
func FuzzDecodeChunk(f *testing.F) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{1, 3, 10} {
		f.Add(encodeChunk(randomRecords(rng, n)))
	}
	f.Add([]byte{chunkV1, 1, 0, 1, 0, 1, 0, 0, 1, compInsert, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := decodeChunk(1, b)
		if err != nil {
			return
		}
		again, err := decodeChunk(1, encodeChunk(recs))
		if err != nil || !recordsEqual(again, recs) {
			t.Fatalf("re-encoding changed the records: %v", err)
		}
	})
}

// FuzzDecodeSnapshot: any bytes decode to valid UTF-8 text or ErrCorrupt,
// never a panic or a huge allocation.
func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(encodeSnapshot(strings.Repeat("abc🎉", 300)))
	f.Add(encodeSnapshot("short"))
	f.Add([]byte{snapV1, snapDeflate, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		text, err := decodeSnapshot(b)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error not ErrCorrupt: %v", err)
		}
		if err == nil && !utf8.ValidString(text) {
			t.Fatal("invalid UTF-8 decoded")
		}
	})
}

// TestMetaCodec: a meta round-trips; one based at 0 keeps format 1 (what
// older builds read), one with a Base uses format 2; a Base the rest of the
// meta contradicts is ErrCorrupt.
func TestMetaCodec(t *testing.T) {
	at := time.Unix(1700000000, 5).UTC()
	for _, m := range []metaRec{
		{Meta: Meta{ID: "d", Version: 9, Length: 3, CreatedAt: at, UpdatedAt: at}, flushed: 4, tail: 77},
		{Meta: Meta{ID: "d", Version: 9, Base: 4, Length: 3, CreatedAt: at, UpdatedAt: at}, flushed: 4, tail: 77},
		{Meta: Meta{ID: "d", Version: 4, Base: 4, CreatedAt: at, UpdatedAt: at}, flushed: 4},
	} {
		b := encodeMeta(m)
		if want := byte(metaV1 + min(m.Base, 1)); b[0] != want {
			t.Errorf("%+v encoded with format %d, want %d", m, b[0], want)
		}
		if got, err := decodeMeta("d", b); err != nil || got != m {
			t.Errorf("round trip of %+v: %+v, %v", m, got, err)
		}
	}
	bad := []metaRec{
		{Meta: Meta{Version: 9, Base: 5}, flushed: 4, tail: 1}, // Ops before the base.
		{Meta: Meta{Version: 3, Base: 5}, flushed: 3},          // Head before the base.
	}
	for _, m := range bad {
		if _, err := decodeMeta("d", encodeMeta(m)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%+v decoded: %v", m, err)
		}
	}
	zeroBase := append([]byte{metaV2}, encodeMeta(metaRec{})[1:]...)
	if _, err := decodeMeta("d", append(zeroBase, 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("format 2 with base 0 decoded: %v", err)
	}
}
