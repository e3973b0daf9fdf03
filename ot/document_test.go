package ot

import (
	"fmt"
	"strings"
	"testing"
)

// checkTree verifies the rope's invariants: sizes add up, leaves hold their
// size in runes within capacity, all leaves sit at one depth, no node below
// the root is empty, and the leaf count is right.
func (d *Document) checkTree() error {
	leaves := 0
	depth := -1
	var visit func(nd *node, level int, root bool) (int, error)
	visit = func(nd *node, level int, root bool) (int, error) {
		if nd.size == 0 && !root {
			return 0, fmt.Errorf("empty node below the root at level %d", level)
		}
		if nd.children == nil {
			leaves++
			if depth >= 0 && depth != level {
				return 0, fmt.Errorf("leaves at depths %d and %d", depth, level)
			}
			depth = level
			if len(nd.runes) != nd.size || len(nd.runes) > leafMax {
				return 0, fmt.Errorf("leaf holds %d runes, size %d", len(nd.runes), nd.size)
			}
			return nd.size, nil
		}
		if len(nd.children) > nodeMax {
			return 0, fmt.Errorf("node has %d children", len(nd.children))
		}
		sum := 0
		for _, c := range nd.children {
			n, err := visit(c, level+1, false)
			if err != nil {
				return 0, err
			}
			sum += n
		}
		if sum != nd.size {
			return 0, fmt.Errorf("node size %d, children hold %d", nd.size, sum)
		}
		return sum, nil
	}
	if _, err := visit(d.root, 0, true); err != nil {
		return err
	}
	if leaves != d.leaves {
		return fmt.Errorf("leaf count %d, tracked %d", leaves, d.leaves)
	}
	return nil
}

// TestDocumentLarge drives the rope through leaf and node splits, merges,
// root growth and collapse, and compaction, checking it against a rune slice.
func TestDocumentLarge(t *testing.T) {
	seed := uint64(1)
	rnd := func(n int) int { // xorshift, deterministic
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return int(seed % uint64(n))
	}
	var want []rune
	d := NewDocument("")
	pieces := []string{"a", "🎉", family, "e\u0301", "\r\n", "日本語"}
	for step := 0; step < 3000; step++ {
		pos := rnd(len(want) + 1)
		var op Op
		switch k := rnd(10); {
		case k < 6: // insert, sometimes huge
			var text []rune
			for n := 1 + rnd(1+rnd(3)*1000); len(text) < n; {
				text = append(text, []rune(pieces[rnd(len(pieces))])...)
			}
			op = Normalize(Op{sk(pos), ins(string(text))})
			want = append(want[:pos], append(text, want[pos:]...)...)
		default: // delete, sometimes huge
			n := min(len(want)-pos, 1+rnd(1+rnd(4)*2000))
			if n == 0 {
				continue
			}
			op = Normalize(Op{sk(pos), delText(string(want[pos : pos+n]))})
			want = append(want[:pos], want[pos+n:]...)
		}
		if err := d.Apply(op); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if err := d.checkTree(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if d.Len() != len(want) || (step%50 == 0 && d.String() != string(want)) {
			t.Fatalf("step %d: document differs (len %d, want %d)", step, d.Len(), len(want))
		}
	}
	if d.String() != string(want) {
		t.Fatal("final document differs")
	}
	d.compact()
	if err := d.checkTree(); err != nil || d.String() != string(want) {
		t.Fatalf("after compact: %v", err)
	}
	if err := d.Apply(Op{del(len(want))}); err != nil || d.Len() != 0 || d.String() != "" {
		t.Fatalf("delete all: %v, %q", err, d.String())
	}
	if err := d.checkTree(); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(Op{ins(family)}); err != nil || d.String() != family {
		t.Fatalf("insert after delete all: %v, %q", err, d.String())
	}
}

// TestDocumentCheck: Check accepts exactly the ops Apply on the text accepts,
// deleted text included, and changes nothing.
func TestDocumentCheck(t *testing.T) {
	const text = "héllo 🎉 wörld"
	d := NewDocument(text)
	for _, tc := range []struct {
		name string
		op   Op
	}{
		{"insert", Op{{Skip: 5}, {Insert: "!"}}},
		{"delete by count", Op{{Skip: 6}, {Delete: 2}}},
		{"delete by matching text", Op{{Skip: 6}, {Delete: 1, DelText: "🎉"}}},
		{"delete by other text", Op{{Skip: 6}, {Delete: 1, DelText: "x"}}},
		{"delete by text one place off", Op{{Skip: 5}, {Delete: 1, DelText: "🎉"}}},
		{"skip past the end", Op{{Skip: 14}, {Insert: "x"}}},
		{"delete past the end", Op{{Skip: 12}, {Delete: 2}}},
		{"malformed", Op{{Skip: 1, Insert: "x"}}},
	} {
		_, want := Apply(text, tc.op)
		got := d.Check(tc.op)
		if (got == nil) != (want == nil) {
			t.Errorf("%s: Check %v, Apply %v", tc.name, got, want)
		}
		if d.String() != text {
			t.Fatalf("%s: Check changed the document to %q", tc.name, d.String())
		}
	}
}

// TestDocumentStringOneAllocation: the text comes out in one allocation of
// its size, whatever its characters (emoji, a ZWJ family, combining marks,
// CRLF, text from other scripts) and however many leaves it spans, also
// after edits; a slice of it too (the text a mismatched delete names).
func TestDocumentStringOneAllocation(t *testing.T) {
	line := "Zoë 🎉 👨‍👩‍👧‍👦 e\u0301 日本語 ascii\r\n"
	text := strings.Repeat(line, 5000)
	d := NewDocument(text)
	if err := d.Apply(Op{{Skip: 7}, {Insert: strings.Repeat("Ω🎉", 1500)}, {Skip: 4000}, del(2)}); err != nil {
		t.Fatal(err)
	}
	want, err := Apply(text, Op{{Skip: 7}, {Insert: strings.Repeat("Ω🎉", 1500)}, {Skip: 4000}, del(2)})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.String(); got != want {
		t.Fatalf("String differs from Apply's text (%d bytes, want %d)", len(got), len(want))
	}
	if n := testing.AllocsPerRun(10, func() { _ = d.String() }); n != 1 {
		t.Errorf("String allocated %v times", n)
	}
	if got, want := d.slice(3, 2000), string([]rune(want)[3:2000]); got != want {
		t.Errorf("slice(3, 2000) = %q…, want %q…", got[:20], want[:20])
	}
}

// TestDocumentSlice: Slice returns exactly the code points asked for,
// across leaves and after edits, and refuses a range that does not fit.
func TestDocumentSlice(t *testing.T) {
	text := strings.Repeat("Zoë 🎉 👨‍👩‍👧‍👦 e\u0301 日本語\r\n", 300)
	d := NewDocument(text)
	op := Op{{Skip: 11}, {Insert: strings.Repeat("Ω🎉", 700)}, {Skip: 900}, del(40)}
	if err := d.Apply(op); err != nil {
		t.Fatal(err)
	}
	after, err := Apply(text, op)
	if err != nil {
		t.Fatal(err)
	}
	runes := []rune(after)
	for _, r := range [][2]int{{0, 0}, {0, 1}, {5, 3000}, {len(runes) - 7, 7}, {len(runes), 0}, {1000, 1}} {
		got, ok := d.Slice(r[0], r[1])
		if want := string(runes[r[0] : r[0]+r[1]]); !ok || got != want {
			t.Errorf("Slice(%d, %d) = %.20q…, %v; want %.20q…", r[0], r[1], got, ok, want)
		}
	}
	for _, r := range [][2]int{{-1, 1}, {0, -1}, {len(runes), 1}, {len(runes) - 1, 2}, {len(runes) + 1, 0}} {
		if got, ok := d.Slice(r[0], r[1]); ok || got != "" {
			t.Errorf("Slice(%d, %d) = %q, %v; want \"\", false", r[0], r[1], got, ok)
		}
	}
}
