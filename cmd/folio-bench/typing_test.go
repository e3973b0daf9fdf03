package main

import (
	"testing"
	"unicode/utf8"
)

// applyEdit applies e to a rune slice, failing the test when e does not fit.
func applyEdit(t *testing.T, doc []rune, e edit) []rune {
	t.Helper()
	if e.pos < 0 || e.pos > len(doc) || e.del < 0 || e.pos+e.del > len(doc) {
		t.Fatalf("edit %+v does not fit a document of %d code points", e, len(doc))
	}
	if (e.del == 0) == (e.ins == "") {
		t.Fatalf("edit %+v must delete or insert, not both or neither", e)
	}
	out := append([]rune{}, doc[:e.pos]...)
	out = append(out, []rune(e.ins)...)
	return append(out, doc[e.pos+e.del:]...)
}

func TestTypistEditsFitAndStayBounded(t *testing.T) {
	const maxLen = 500
	tp := newTypist(42, maxLen)
	var doc []rune
	var sawDelete, sawPaste, sawEmoji bool
	for i := 0; i < 20_000; i++ {
		e := tp.next(len(doc))
		if !utf8.ValidString(e.ins) {
			t.Fatalf("invalid UTF-8 in %q", e.ins)
		}
		sawDelete = sawDelete || e.del > 0
		sawPaste = sawPaste || len(e.ins) > 20
		sawEmoji = sawEmoji || len(e.ins) > 1 && len(e.ins) < 20
		doc = applyEdit(t, doc, e)
	}
	if !sawDelete || !sawPaste || !sawEmoji {
		t.Fatalf("edit mix incomplete: delete %v paste %v emoji %v", sawDelete, sawPaste, sawEmoji)
	}
	if len(doc) > 3*maxLen {
		t.Fatalf("document grew to %d code points, want it kept near %d", len(doc), maxLen)
	}
}

func TestTypistDeterministic(t *testing.T) {
	a, b := newTypist(7, 100), newTypist(7, 100)
	for i := 0; i < 100; i++ {
		if ea, eb := a.next(i), b.next(i); ea != eb {
			t.Fatalf("step %d: %+v != %+v", i, ea, eb)
		}
	}
}
