package ot

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// alphabet mixes ASCII with the code points that break byte- or
// UTF-16-based code: combining marks, ZWJ, astral emoji, CR and LF.
var alphabet = []rune{'a', 'b', ' ', '\r', '\n', 'é', '\u0301', '\u200d', '日', '🎉', '👨', '👩', '👍'}

func genText(maxLen int) *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		rs := rapid.SliceOfN(rapid.SampledFrom(alphabet), 0, maxLen).Draw(t, "runes")
		return string(rs)
	})
}

// genOp draws an op that fits doc (a normalized one unless raw is set);
// deletes carry their text when withText is set.
func genOp(t *rapid.T, doc string, withText bool, label string) Op {
	rs := []rune(doc)
	var op Op
	pos := 0
	steps := rapid.IntRange(0, 6).Draw(t, label+"-steps")
	for i := 0; i < steps; i++ {
		switch rapid.IntRange(0, 2).Draw(t, label+"-kind") {
		case 0:
			if pos < len(rs) {
				n := rapid.IntRange(1, len(rs)-pos).Draw(t, label+"-skip")
				op = append(op, Component{Skip: n})
				pos += n
			}
		case 1:
			op = append(op, Component{Insert: genText(4).Filter(func(s string) bool { return s != "" }).Draw(t, label+"-ins")})
		case 2:
			if pos < len(rs) {
				n := rapid.IntRange(1, len(rs)-pos).Draw(t, label+"-del")
				c := Component{Delete: n}
				if withText {
					c.DelText = string(rs[pos : pos+n])
				}
				op = append(op, c)
				pos += n
			}
		}
	}
	return Normalize(op)
}

func mustApply(t *rapid.T, doc string, op Op) string {
	s, err := Apply(doc, op)
	if err != nil {
		t.Fatalf("Apply(%q, %v): %v", doc, op, err)
	}
	return s
}

func TestPropConvergence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genText(12).Draw(t, "doc")
		withText := rapid.Bool().Draw(t, "withText")
		a := genOp(t, s, withText, "a")
		b := genOp(t, s, withText, "b")
		left := mustApply(t, mustApply(t, s, a), Transform(b, a, Right))
		right := mustApply(t, mustApply(t, s, b), Transform(a, b, Left))
		if left != right {
			t.Fatalf("diverged: %q vs %q", left, right)
		}
		for _, op := range []Op{Transform(b, a, Right), Transform(a, b, Left)} {
			if err := Validate(op); err != nil {
				t.Fatalf("transform result not normalized: %v", err)
			}
		}
	})
}

func TestPropCompose(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genText(12).Draw(t, "doc")
		withText := rapid.Bool().Draw(t, "withText")
		a := genOp(t, s, withText, "a")
		mid := mustApply(t, s, a)
		b := genOp(t, mid, withText, "b")
		ab, err := Compose(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(ab); err != nil {
			t.Fatalf("compose result not normalized: %v", err)
		}
		if got, want := mustApply(t, s, ab), mustApply(t, mid, b); got != want {
			t.Fatalf("Apply(Compose) = %q, sequential = %q", got, want)
		}
		if withText {
			inv, err := Invert(ab)
			if err != nil {
				t.Fatal(err)
			}
			if back := mustApply(t, mustApply(t, s, ab), inv); back != s {
				t.Fatalf("invert: got %q, want %q", back, s)
			}
		}
	})
}

// TestPropPosition checks that a transformed cursor stays inside the new text
// and keeps the character before it, when that character survives.
func TestPropPosition(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genText(12).Draw(t, "doc")
		op := genOp(t, s, false, "op")
		pos := rapid.IntRange(0, utf8.RuneCountInString(s)).Draw(t, "pos")
		ids, newIDs := trackIDs(t, s, op)
		np := TransformPosition(pos, op)
		if np < 0 || np > len(newIDs) {
			t.Fatalf("position %d -> %d outside new text of length %d", pos, np, len(newIDs))
		}
		if pos == 0 {
			if np != 0 {
				t.Fatalf("position 0 moved to %d", np)
			}
			return
		}
		before := ids[pos-1]
		for i, id := range newIDs {
			if id == before && i != np-1 {
				t.Fatalf("character before cursor moved to %d, cursor to %d", i, np)
			}
		}
	})
}

// trackIDs applies op to the identities of s's code points (inserted code
// points get -1).
func trackIDs(t *rapid.T, s string, op Op) (old, updated []int) {
	n := utf8.RuneCountInString(s)
	for i := 0; i < n; i++ {
		old = append(old, i)
	}
	pos := 0
	for _, c := range op {
		switch c.kind() {
		case kindSkip:
			updated = append(updated, old[pos:pos+c.Skip]...)
			pos += c.Skip
		case kindInsert:
			for range c.Len() {
				updated = append(updated, -1)
			}
		case kindDelete:
			pos += c.Len()
		}
	}
	return old, append(updated, old[pos:]...)
}

func TestPropJSONRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genText(12).Draw(t, "doc")
		op := genOp(t, s, rapid.Bool().Draw(t, "withText"), "op")
		b, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		var got Op
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("Unmarshal(%s): %v", b, err)
		}
		if len(got) != len(op) || (len(op) > 0 && !reflect.DeepEqual(got, op)) {
			t.Fatalf("round trip %v -> %s -> %v", op, b, got)
		}
	})
}

func TestPropDiff(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		old := genText(12).Draw(t, "old")
		var new string
		if rapid.Bool().Draw(t, "related") {
			new = mustApply(t, old, genOp(t, old, false, "edit"))
		} else {
			new = genText(12).Draw(t, "new")
		}
		d := Diff(old, new)
		if err := Validate(d); err != nil {
			t.Fatal(err)
		}
		if got := mustApply(t, old, d); got != new {
			t.Fatalf("Apply(old, Diff) = %q, want %q", got, new)
		}
		inv, err := Invert(d)
		if err != nil {
			t.Fatal(err)
		}
		if back := mustApply(t, new, inv); back != old {
			t.Fatalf("Invert(Diff) gives %q, want %q", back, old)
		}
	})
}

// TestPropDocument checks that Document and Apply agree, including on ops
// that do not fit.
func TestPropDocument(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genText(20).Draw(t, "doc")
		// Sometimes start large enough for several leaves.
		s = strings.Repeat(s, rapid.SampledFrom([]int{1, 1, 200}).Draw(t, "repeat"))
		d := NewDocument(s)
		for i := rapid.IntRange(1, 30).Draw(t, "n"); i > 0; i-- {
			op := genOp(t, s, rapid.Bool().Draw(t, "withText"), "op")
			if rapid.IntRange(0, 9).Draw(t, "big") == 0 {
				// A paste big enough to split leaves.
				pos := rapid.IntRange(0, s2len(s)).Draw(t, "pastePos")
				op = Normalize(Op{sk(pos), ins(strings.Repeat("🎉ab", rapid.IntRange(1, 800).Draw(t, "paste")))})
			}
			if rapid.IntRange(0, 9).Draw(t, "misfit") == 0 {
				op = append(op, Component{Skip: s2len(s) + 1}, Component{Insert: "x"})
			}
			want, wantErr := Apply(s, op)
			err := d.Apply(op)
			if (err == nil) != (wantErr == nil) || (err != nil && !errors.Is(err, ErrDoesNotFit)) {
				t.Fatalf("Document.Apply error %v, Apply error %v", err, wantErr)
			}
			if err == nil {
				s = want
			}
			if err := d.checkTree(); err != nil {
				t.Fatal(err)
			}
			if d.String() != s || d.Len() != s2len(s) {
				t.Fatalf("Document %q (len %d), want %q", d.String(), d.Len(), s)
			}
		}
	})
}

func s2len(s string) int { return utf8.RuneCountInString(s) }

// genAnyOp draws an arbitrary op, possibly malformed and of any length.
func genAnyOp(label string) *rapid.Generator[Op] {
	return rapid.Custom(func(t *rapid.T) Op {
		n := rapid.IntRange(0, 6).Draw(t, label+"-len")
		op := make(Op, n)
		for i := range op {
			op[i] = Component{
				Skip:    rapid.SampledFrom([]int{0, 0, 1, 3, -1, 1 << 53}).Draw(t, label+"-skip"),
				Insert:  rapid.SampledFrom([]string{"", "", "a", "🎉", "\xff"}).Draw(t, label+"-ins"),
				Delete:  rapid.SampledFrom([]int{0, 0, 1, 2, -2, 1 << 53}).Draw(t, label+"-del"),
				DelText: rapid.SampledFrom([]string{"", "", "b", family}).Draw(t, label+"-deltext"),
			}
		}
		return op
	})
}

// TestPropNoPanic feeds arbitrary, possibly malformed ops that need not fit
// each other to every function: none may panic, and the error-free ones keep
// their contracts (normalized results, errors that say which kind they are).
func TestPropNoPanic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := genAnyOp("a").Draw(t, "a"), genAnyOp("b").Draw(t, "b")
		doc := genText(8).Draw(t, "doc")
		wellFormed := checkShape(a) == nil && checkShape(b) == nil
		for _, op := range []Op{Transform(a, b, Left), Transform(a, b, Right)} {
			if err := Validate(op); err != nil && wellFormed {
				t.Fatalf("Transform result: %v", err)
			}
		}
		if ab, err := Compose(a, b); err == nil {
			if err := Validate(ab); err != nil {
				t.Fatalf("Compose result: %v", err)
			}
		} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrDoesNotFit) {
			t.Fatalf("Compose error of unknown kind: %v", err)
		}
		_, err := Apply(doc, a)
		derr := NewDocument(doc).Apply(a)
		if (err == nil) != (derr == nil) {
			t.Fatalf("Apply error %v, Document.Apply error %v", err, derr)
		}
		_, _ = Invert(a)
		_ = Check(a, 5)
		_, _ = a.MarshalJSON()
		TransformSelection(Selection{Anchor: 2, Head: -1}, a)
		_ = Normalize(a).IsNoop()
	})
}
