package storage

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/foliodocs/folio/ot"
)

// trace is a sequential editing trace converted to ops.
type trace struct {
	ops []ot.Op
	end string
}

// tracesDir finds ../shared/traces beside the repository root, or
// $FOLIO_TRACES.
func tracesDir() (string, error) {
	if d := os.Getenv("FOLIO_TRACES"); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "traces"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// loadTrace reads sequential_traces/<name>.json.gz, skipping the test (or
// failing it under CI) when the traces are absent.
func loadTrace(tb testing.TB, name string) trace {
	tb.Helper()
	dir, err := tracesDir()
	if err == nil {
		var tr trace
		if tr, err = readTrace(filepath.Join(dir, "sequential_traces", name+".json.gz")); err == nil {
			return tr
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("trace %s: %v", name, err)
	}
	tb.Skipf("trace %s not available (set FOLIO_TRACES): %v", name, err)
	return trace{}
}

func readTrace(path string) (trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return trace{}, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return trace{}, err
	}
	var raw struct {
		EndContent string `json:"endContent"`
		Txns       []struct {
			Patches [][3]json.RawMessage `json:"patches"`
		} `json:"txns"`
	}
	if err := json.NewDecoder(gz).Decode(&raw); err != nil {
		return trace{}, fmt.Errorf("%s: %w", path, err)
	}
	tr := trace{end: raw.EndContent, ops: make([]ot.Op, 0, len(raw.Txns))}
	for _, txn := range raw.Txns {
		var op ot.Op
		for _, p := range txn.Patches {
			var pos, del int
			var ins string
			if json.Unmarshal(p[0], &pos) != nil || json.Unmarshal(p[1], &del) != nil || json.Unmarshal(p[2], &ins) != nil {
				return trace{}, fmt.Errorf("%s: bad patch %s", path, p)
			}
			patch := ot.Normalize(ot.Op{{Skip: pos}, {Delete: del}, {Insert: ins}})
			if op == nil {
				op = patch
				continue
			}
			if op, err = ot.Compose(op, patch); err != nil {
				return trace{}, err
			}
		}
		tr.ops = append(tr.ops, op)
	}
	return tr, nil
}

// appendTrace stores tr as document id, batch ops per Append, with a
// snapshot every snapEvery ops as the room would pass it.
func appendTrace(tb testing.TB, db *DB, id string, tr trace, batch int, snapEvery uint64) {
	tb.Helper()
	if _, err := db.Create(ctx, id, ""); err != nil {
		tb.Fatal(err)
	}
	doc := ot.NewDocument("")
	recs := make([]OpRecord, 0, batch)
	var snap *Snapshot
	for i, op := range tr.ops {
		v := uint64(i + 1)
		if err := doc.Apply(op); err != nil {
			tb.Fatalf("trace op %d: %v", v, err)
		}
		recs = append(recs, OpRecord{Version: v, Op: op, Session: "trace-session-0001", Seq: v, Author: "Martin"})
		if v%snapEvery == 0 {
			snap = &Snapshot{Version: v, Text: doc.String()}
		}
		if len(recs) == batch || i == len(tr.ops)-1 {
			if err := db.Append(ctx, id, recs, doc.Len(), snap); err != nil {
				tb.Fatal(err)
			}
			recs, snap = recs[:0], nil
		}
	}
}

// TestTrace stores a real editing trace and reads it back at the head and at
// past versions.
func TestTrace(t *testing.T) {
	tr := loadTrace(t, "sveltecomponent")
	db := openTest(t, Options{NoSync: true})
	appendTrace(t, db, "svelte", tr, 100, DefaultSnapshotEvery)
	head := uint64(len(tr.ops))
	if got := must(db.TextAt(ctx, "svelte", head))(t); got != tr.end {
		t.Fatalf("text at head differs from the trace's endContent")
	}
	l := must(db.Load(ctx, "svelte"))(t)
	doc := ot.NewDocument(l.Snapshot.Text)
	for _, r := range l.Ops {
		if err := doc.Apply(r.Op); err != nil {
			t.Fatal(err)
		}
	}
	if doc.String() != tr.end || len(l.Ops) >= DefaultSnapshotEvery {
		t.Fatalf("Load: %d ops after snapshot %d; text matches: %v", len(l.Ops), l.Snapshot.Version, doc.String() == tr.end)
	}
	// A past version through TextAt equals replaying the trace that far.
	const past = 12345
	want := ot.NewDocument("")
	for _, op := range tr.ops[:past] {
		want.Apply(op)
	}
	if got := must(db.TextAt(ctx, "svelte", past))(t); got != want.String() {
		t.Fatalf("TextAt(%d) differs from replaying the trace", past)
	}
}
