package main

import (
	"os"
	"testing"

	"github.com/foliodocs/folio/ot"
)

// tracePath finds a shared trace or skips (fails in CI) when traces are absent.
func tracePath(t *testing.T, name string) string {
	t.Helper()
	p, err := resolveTrace(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("traces missing in CI: %v", err)
		}
		t.Skipf("traces not available: %v", err)
	}
	return p
}

// TestTraceReplaysLocally checks the loader against the trace's own checksum,
// replaying in code points without the server.
func TestTraceReplaysLocally(t *testing.T) {
	tr, err := loadTrace(tracePath(t, "json-crdt-blog-post"))
	if err != nil {
		t.Fatal(err)
	}
	doc := []rune(tr.StartContent)
	for _, tx := range tr.Txns {
		for _, p := range tx.Patches {
			if p.Pos+p.Del > len(doc) {
				t.Fatalf("patch %+v beyond %d code points", p, len(doc))
			}
			out := append([]rune{}, doc[:p.Pos]...)
			out = append(out, []rune(p.Ins)...)
			doc = append(out, doc[p.Pos+p.Del:]...)
		}
	}
	if string(doc) != tr.EndContent {
		t.Fatalf("replayed text (%d code points) differs from endContent (%d)", len(doc), len([]rune(tr.EndContent)))
	}
	if tr.patchCount() != 21447 {
		t.Fatalf("patch count %d, want 21447 (traces README)", tr.patchCount())
	}
}

func TestPatchRejectsMalformed(t *testing.T) {
	for _, in := range []string{`[1,0,""]`, `[-1,1,""]`, `["a",1,""]`, `[1,1]x`} {
		var p patch
		if err := p.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("%s: accepted", in)
		}
	}
}

// TestTraceOpsCompose checks that one op per txn (its patches composed) gives
// endContent, on a trace with multi-patch txns at equal positions, with
// deletes by count and by text (which Apply checks against the text).
func TestTraceOpsCompose(t *testing.T) {
	for _, deleteText := range []bool{false, true} {
		t.Run(deleteKind(deleteText), func(t *testing.T) { testTraceOps(t, deleteText) })
	}
}

func testTraceOps(t *testing.T, deleteText bool) {
	tr, ops, err := loadReplay(tracePath(t, "sveltecomponent"), deleteText)
	if err != nil {
		t.Fatal(err)
	}
	deletes := 0
	for _, op := range ops {
		for _, c := range op {
			if c.Delete > 0 && (c.DelText != "") != deleteText {
				t.Fatalf("delete %+v, want its text %v", c, deleteText)
			}
			if c.Delete > 0 {
				deletes++
			}
		}
	}
	if deletes == 0 {
		t.Fatal("the trace has no delete")
	}
	if len(ops) != len(tr.Txns) {
		t.Fatalf("%d ops for %d txns", len(ops), len(tr.Txns))
	}
	doc := ot.NewDocument("")
	for i, op := range ops {
		if err := doc.Apply(op); err != nil {
			t.Fatalf("txn %d: %v", i, err)
		}
	}
	if doc.String() != tr.EndContent {
		t.Fatal("composed txns do not reproduce endContent")
	}
}
