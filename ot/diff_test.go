package ot

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// lineFirst makes diffWith skip the code point attempt and go straight to
// the line diff and block refinement.
var lineFirst = diffLimits{runes: 0, lines: 1 << 22, hunks: 1 << 22}

func TestDiffSmallForSmallChanges(t *testing.T) {
	long := strings.Repeat("lorem ipsum ", 10) // 120 code points
	tests := []struct {
		name     string
		old, new string
		want     Op
	}{
		{"first and last changed", "a" + long + "z", "A" + long + "Z",
			Op{delText("a"), ins("A"), sk(120), delText("z"), ins("Z")}},
		{"line inserted in the middle", "one\ntwo\nthree\n", "one\ntwo\nnew\nthree\n",
			Op{sk(8), ins("new\n")}},
		{"two words replaced", "the quick brown fox", "the slow brown cat",
			Op{sk(4), delText("quick"), ins("slow"), sk(7), delText("fox"), ins("cat")}},
		{"emoji at both ends", "🎉" + long + "🎉", "👍" + long + "👍",
			Op{delText("🎉"), ins("👍"), sk(120), delText("🎉"), ins("👍")}},
		// 🎉 U+1F389 and 🎊 U+1F38A share three UTF-8 bytes.
		{"shared bytes at both ends", "🎉x🎉", "🎊x🎊",
			Op{delText("🎉"), ins("🎊"), sk(1), delText("🎉"), ins("🎊")}},
		{"person removed from the middle of a ZWJ family", family + " & " + family, "👨‍👧‍👦 & " + family,
			Op{sk(2), delText("👩\u200d")}},
		{"combining marks added at both ends", "e" + long + "e", "e\u0301" + long + "e\u0300",
			Op{sk(1), ins("\u0301"), sk(121), ins("\u0300")}},
		{"LF to CRLF", "a\nb\nc\n", "a\r\nb\r\nc\r\n",
			Op{sk(1), ins("\r"), sk(2), ins("\r"), sk(2), ins("\r")}},
		{"CRLF to LF", "a\r\nb\r\n", "a\nb\n",
			Op{sk(1), delText("\r"), sk(2), delText("\r")}},
		{"unrelated", "abc", "xyz", Op{delText("abc"), ins("xyz")}},
		{"invalid UTF-8 kept byte for byte", "\xff" + long + "\xfe", "\xfe" + long + "\xfe",
			Op{delText("\xff"), ins("\xfe")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, lim := range []diffLimits{defaultDiffLimits, lineFirst} {
				got := diffWith(tt.old, tt.new, lim)
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("limits %+v: Diff(%q, %q) = %v, want %v", lim, tt.old, tt.new, got, tt.want)
				}
				if utf8.ValidString(tt.old) && utf8.ValidString(tt.new) {
					if res, err := Apply(tt.old, got); err != nil || res != tt.new {
						t.Fatalf("Apply(old, Diff) = %q, %v", res, err)
					}
				}
			}
		})
	}
}

// cost is the number of code points op inserts and deletes.
func cost(op Op) int {
	n := 0
	for _, c := range op {
		if k := c.kind(); k == kindInsert || k == kindDelete {
			n += c.Len()
		}
	}
	return n
}

// editDistance is the fewest code points to insert and delete to turn a into
// b: len(a) + len(b) - 2·LCS.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev, cur := make([]int, len(rb)+1), make([]int, len(rb)+1)
	for i := range ra {
		for j := range rb {
			if ra[i] == rb[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(prev[j+1], cur[j])
			}
		}
		prev, cur = cur, prev
	}
	return len(ra) + len(rb) - 2*prev[len(rb)]
}

// checkDiff checks that d is normalized, turns old into new and back
// (Invert), and returns its cost.
func checkDiff(t *rapid.T, old, new string, d Op) int {
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
	return cost(d)
}

// genEdits applies up to k random non-overlapping edits (inserts drawn from
// pool, deletes, replacements) to doc and returns the result and the number
// of code points the edits insert and delete.
func genEdits(t *rapid.T, doc string, pool []rune, k int, label string) (string, int) {
	rs := []rune(doc)
	var out []rune
	total, pos := 0, 0
	for i := rapid.IntRange(0, k).Draw(t, label+"-k"); i > 0 && pos <= len(rs); i-- {
		at := rapid.IntRange(pos, len(rs)).Draw(t, label+"-at")
		out = append(out, rs[pos:at]...)
		n := rapid.IntRange(0, min(len(rs)-at, 5)).Draw(t, label+"-del")
		ins := rapid.SliceOfN(rapid.SampledFrom(pool), 0, 5).Draw(t, label+"-ins")
		out = append(out, ins...)
		total += n + len(ins)
		pos = at + n
	}
	out = append(out, rs[pos:]...)
	return string(out), total
}

// TestPropDiffMinimal checks that Diff is a shortest edit script: it costs
// exactly the edit distance, so never more than the edits that made the new
// text. The line-first path is checked to turn old into new; its cost bound
// is checked in TestPropDiffKeepsNeighbours, where it holds.
func TestPropDiffMinimal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		old := genText(30).Draw(t, "old")
		new, edits := genEdits(t, old, alphabet, 4, "edit")
		if rapid.Bool().Draw(t, "unrelated") {
			new, edits = genText(30).Draw(t, "new"), -1
		}
		c := checkDiff(t, old, new, Diff(old, new))
		if want := editDistance(old, new); c != want {
			t.Fatalf("Diff(%q, %q) = %v costs %d, edit distance %d", old, new, Diff(old, new), c, want)
		}
		if edits >= 0 && c > edits {
			t.Fatalf("Diff costs %d, the edits %d", c, edits)
		}
		checkDiff(t, old, new, diffWith(old, new, lineFirst))
	})
}

// TestPropDiffBudget checks that Diff stays correct whatever budget runs out
// where, including the fallback to replacing blocks whole.
func TestPropDiffBudget(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		old := genText(40).Draw(t, "old")
		new, _ := genEdits(t, old, alphabet, 6, "edit")
		lim := diffLimits{
			runes: rapid.IntRange(0, 300).Draw(t, "runes"),
			lines: rapid.IntRange(0, 300).Draw(t, "lines"),
			hunks: rapid.IntRange(0, 300).Draw(t, "hunks"),
		}
		checkDiff(t, old, new, diffWith(old, new, lim))
	})
}

// TestPropDiffInvalidUTF8 checks that Diff does not panic on invalid UTF-8
// and still walks exactly the old text's code points as Apply counts them.
func TestPropDiffInvalidUTF8(t *testing.T) {
	bytes := rapid.SliceOfN(rapid.SampledFrom([]byte("a\n\xff\xfe\xe2\x82\xac\xf0\x9f\x8e\x89")), 0, 20)
	rapid.Check(t, func(t *rapid.T) {
		old, new := string(bytes.Draw(t, "old")), string(bytes.Draw(t, "new"))
		lim := diffLimits{runes: rapid.IntRange(0, 200).Draw(t, "runes"), lines: 1 << 10, hunks: 1 << 10}
		d := diffWith(old, new, lim)
		if got, want := d.BaseLen(), utf8.RuneCountInString(old); got > want {
			t.Fatalf("Diff(%q, %q) = %v spans %d code points of %d", old, new, d, got, want)
		}
		if got, want := d.TargetLen(utf8.RuneCountInString(old)), utf8.RuneCountInString(new); got != want {
			t.Fatalf("Diff(%q, %q) = %v makes %d code points, want %d", old, new, d, got, want)
		}
	})
}

// uniqueRunes are code points that occur at most once in the old texts of
// TestPropDiffKeepsNeighbours; insertPool shares none of them, nor '\n'.
var (
	uniqueRunes = func() []rune {
		var rs []rune
		for _, r := range [][2]rune{{'a', 'z'}, {'A', 'Z'}, {0x300, 0x36f}, {0x4e00, 0x4e3f}, {0x1f600, 0x1f64f}} {
			for c := r[0]; c <= r[1]; c++ {
				rs = append(rs, c)
			}
		}
		return rs
	}()
	insertPool = []rune{'0', '1', ' ', '\r', '\u200d', 'é', '👍'}
)

// TestPropDiffKeepsNeighbours is the concurrency property: a concurrent
// insert transformed over Diff(old, new) stays between the same two code
// points when the edits that made new left them and the gap between them
// alone. The old text's code points other than '\n' are distinct and the
// edits insert none of them, so every shortest script keeps the untouched
// neighbours. It also checks the line-first path, whose cost stays within
// the edits' here too.
func TestPropDiffKeepsNeighbours(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		old := genUniqueText(t)
		rs := []rune(old)
		p := rapid.IntRange(1, len(rs)-1).Filter(func(p int) bool {
			return rs[p-1] != '\n' && rs[p] != '\n'
		}).Draw(t, "pos")
		left, c1 := genEdits(t, string(rs[:p-1]), insertPool, 3, "left")
		right, c2 := genEdits(t, string(rs[p+1:]), insertPool, 3, "right")
		new := left + string(rs[p-1:p+1]) + right
		for _, lim := range []diffLimits{defaultDiffLimits, lineFirst} {
			d := diffWith(old, new, lim)
			if c := checkDiff(t, old, new, d); c > c1+c2 {
				t.Fatalf("limits %+v: Diff = %v costs %d, the edits %d", lim, d, c, c1+c2)
			}
			for _, side := range []Side{Left, Right} {
				got := mustApply(t, new, Transform(Op{sk(p), ins("|")}, d, side))
				want := string(rs[p-1]) + "|" + string(rs[p])
				if !strings.Contains(got, want) {
					t.Fatalf("limits %+v, side %v: insert at %d moved: %q, want %q inside", lim, side, p, got, want)
				}
			}
		}
	})
}

// genUniqueText draws 2 to 60 distinct code points from uniqueRunes, with
// '\n' after some of them (so no line is empty and lines are distinct).
func genUniqueText(t *rapid.T) string {
	idx := rapid.SliceOfNDistinct(rapid.IntRange(0, len(uniqueRunes)-1), 2, 60, rapid.ID[int]).Draw(t, "runes")
	var b strings.Builder
	for _, i := range idx {
		b.WriteRune(uniqueRunes[i])
		if rapid.IntRange(0, 5).Draw(t, "newline") == 0 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}
