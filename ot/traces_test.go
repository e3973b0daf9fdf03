package ot

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// tracesDir finds the shared editing traces: $FOLIO_TRACES, or ../shared/traces
// beside the repository root. Without them the test fails in CI and skips
// elsewhere.
func tracesDir(tb testing.TB) string {
	tb.Helper()
	if dir := os.Getenv("FOLIO_TRACES"); dir != "" {
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			traces := filepath.Join(dir, "..", "shared", "traces")
			if _, err := os.Stat(traces); err == nil {
				return traces
			}
			break
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatal("editing traces not found: set FOLIO_TRACES or put shared/traces beside the repository")
	}
	tb.Skip("editing traces not found (set FOLIO_TRACES)")
	return ""
}

// patch is [pos, del, ins]: remove del code points at pos, then insert ins.
type patch struct {
	Pos, Del int
	Ins      string
}

func (p *patch) UnmarshalJSON(b []byte) error {
	var raw [3]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if err := json.Unmarshal(raw[0], &p.Pos); err != nil {
		return err
	}
	if err := json.Unmarshal(raw[1], &p.Del); err != nil {
		return err
	}
	return json.Unmarshal(raw[2], &p.Ins)
}

// op is the patch as an op: skip, delete, insert.
func (p patch) op() Op {
	return Normalize(Op{{Skip: p.Pos}, {Delete: p.Del}, {Insert: p.Ins}})
}

type txn struct {
	Patches []patch `json:"patches"`
	Agent   int     `json:"agent"`
	Parents []int   `json:"parents"`
}

type trace struct {
	EndContent string `json:"endContent"`
	NumAgents  int    `json:"numAgents"`
	Txns       []txn  `json:"txns"`
}

func loadTrace(tb testing.TB, path string) *trace {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	var tr trace
	if err := json.NewDecoder(zr).Decode(&tr); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return &tr
}

// txnOp composes a txn's patches, applied in order, into one op.
func txnOp(tb testing.TB, t txn) Op {
	var op Op
	for _, p := range t.Patches {
		var err error
		if op, err = Compose(op, p.op()); err != nil {
			tb.Fatal(err)
		}
	}
	return op
}

// sequentialTraces returns the sequential trace files, sorted by name.
func sequentialTraces(tb testing.TB) []string {
	files, err := filepath.Glob(filepath.Join(tracesDir(tb), "sequential_traces", "*.json.gz"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no sequential traces: %v", err)
	}
	sort.Strings(files)
	return files
}

func traceName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".json.gz")
}

// TestSequentialTraces replays every sequential trace, one composed op per
// txn, into a Document and checks the final text.
func TestSequentialTraces(t *testing.T) {
	for _, path := range sequentialTraces(t) {
		t.Run(traceName(path), func(t *testing.T) {
			if testing.Short() && !strings.Contains(path, "json-crdt") {
				t.Skip("long trace skipped under -short")
			}
			tr := loadTrace(t, path)
			d := NewDocument("")
			for i, tx := range tr.Txns {
				if err := d.Apply(txnOp(t, tx)); err != nil {
					t.Fatalf("txn %d: %v", i, err)
				}
				if i%1000 == 0 || i == len(tr.Txns)-1 {
					if err := d.checkTree(); err != nil {
						t.Fatalf("after txn %d: %v", i, err)
					}
				}
			}
			if got := d.String(); got != tr.EndContent {
				t.Fatalf("final text differs from endContent (len %d, want %d)", d.Len(), len([]rune(tr.EndContent)))
			}
		})
	}
}

// textBuffer is what the benchmarks need from Document and its alternatives.
type textBuffer interface {
	Apply(Op) error
	String() string
}

// BenchmarkTraces measures applying every txn of each sequential trace to a
// fresh Document. The ops are built once, outside the timer.
func BenchmarkTraces(b *testing.B) {
	benchTraces(b, func() textBuffer { return NewDocument("") })
}

// BenchmarkTracesGapBuffer is the same for the gap buffer that Document was
// measured against.
func BenchmarkTracesGapBuffer(b *testing.B) {
	benchTraces(b, func() textBuffer { return newGapBuffer("") })
}

func benchTraces(b *testing.B, newBuffer func() textBuffer) {
	for _, path := range sequentialTraces(b) {
		tr := loadTrace(b, path)
		ops := make([]Op, len(tr.Txns))
		for i, tx := range tr.Txns {
			ops[i] = txnOp(b, tx)
		}
		b.Run(traceName(path), func(b *testing.B) {
			b.ReportAllocs()
			var d textBuffer
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			for b.Loop() {
				d = newBuffer()
				for _, op := range ops {
					if err := d.Apply(op); err != nil {
						b.Fatal(err)
					}
				}
			}
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			edits := float64(b.N * len(ops))
			b.ReportMetric(float64(elapsed.Nanoseconds())/edits, "ns/edit")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/edits, "allocs/edit")
			if d.String() != tr.EndContent {
				b.Fatal("final text differs from endContent")
			}
		})
	}
}

// BenchmarkFarApart models two people typing at opposite ends of a document
// of one million code points: the case where a gap buffer moves the whole
// text on every keystroke.
func BenchmarkFarApart(b *testing.B) {
	const size = 1_000_000
	text := strings.Repeat("abcdefghi\n", size/10)
	for _, kind := range []struct {
		name string
		new  func(string) textBuffer
	}{
		{"rope", func(s string) textBuffer { return NewDocument(s) }},
		{"gapbuffer", func(s string) textBuffer { return newGapBuffer(s) }},
	} {
		b.Run(kind.name, func(b *testing.B) {
			d := kind.new(text)
			n := size
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				pos := 10
				if i%2 == 1 {
					pos = n - 10
				}
				if err := d.Apply(Op{sk(pos), ins("x")}); err != nil {
					b.Fatal(err)
				}
				n++
			}
		})
	}
}
