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
		{"shared bytes at both ends", "🎉wxyz🎉", "🎊wxyz🎊",
			Op{delText("🎉"), ins("🎊"), sk(4), delText("🎉"), ins("🎊")}},
		{"short stretch between changes folded", "recieve", "receive",
			Op{sk(3), delText("ie"), ins("ei")}},
		{"stretch longer than a neighbouring change kept", "a🎉🎉b", "A🎉🎉B",
			Op{delText("a"), ins("A"), sk(2), delText("b"), ins("B")}},
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
			for _, lim := range []diffLimits{diffDefaults(), lineFirst} {
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

// TestPropDiffMinimal checks that the Myers search finds a shortest script
// (it costs exactly the edit distance) and that Diff, which folds short
// stretches between changes (foldChaff), costs at most three times that, so
// at most three times the edits that made the new text. The line-first path
// is checked to turn old into new.
func TestPropDiffMinimal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		old := genText(30).Draw(t, "old")
		new, edits := genEdits(t, old, alphabet, 4, "edit")
		if rapid.Bool().Draw(t, "unrelated") {
			new, edits = genText(30).Draw(t, "new"), -1
		}
		dist := editDistance(old, new)
		d := differ{budget: 1 << 20}
		d.diff(symbols(old), symbols(new))
		if c := runsCost(d.runs); d.failed || c != dist {
			t.Fatalf("Myers script %v costs %d (failed %v), edit distance %d", d.runs, c, d.failed, dist)
		}
		op := Diff(old, new)
		c := checkDiff(t, old, new, op)
		if c > 3*dist || (edits >= 0 && c > 3*edits) {
			t.Fatalf("Diff(%q, %q) = %v costs %d, edit distance %d, edits %d", old, new, op, c, dist, edits)
		}
		checkDiff(t, old, new, diffWith(old, new, lineFirst))
	})
}

func runsCost(runs []run) int {
	n := 0
	for _, r := range runs {
		if r.kind != runEqual {
			n += r.n
		}
	}
	return n
}

// TestPropFoldChaff checks foldChaff on random scripts: it keeps the texts
// each side of the script, keeps every equal stretch longer than chaffMax,
// and at most triples the cost.
func TestPropFoldChaff(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var d differ
		for _, k := range rapid.SliceOf(rapid.IntRange(0, 2)).Draw(t, "kinds") {
			d.add(runKind(k), rapid.IntRange(1, 6).Draw(t, "n"))
		}
		got := foldChaff(d.runs)
		count := func(runs []run) (old, new, long int) {
			for _, r := range runs {
				if r.kind != runInsert {
					old += r.n
				}
				if r.kind != runDelete {
					new += r.n
				}
				if r.kind == runEqual && r.n > chaffMax {
					long += r.n
				}
			}
			return
		}
		o1, n1, l1 := count(d.runs)
		o2, n2, l2 := count(got)
		if o1 != o2 || n1 != n2 || l1 != l2 {
			t.Fatalf("foldChaff(%v) = %v", d.runs, got)
		}
		if c, c0 := runsCost(got), runsCost(d.runs); c > 3*c0 {
			t.Fatalf("foldChaff(%v) = %v costs %d, more than 3×%d", d.runs, got, c, c0)
		}
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
// alone, more than chaffMax code points each side. The old text's code
// points other than '\n' are distinct and the edits insert none of them, so
// every shortest script keeps the untouched stretch, and foldChaff keeps it
// too. It also checks the line-first path, and the cost bound (three times
// the edits) on both paths.
func TestPropDiffKeepsNeighbours(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		old := genUniqueText(t)
		rs := []rune(old)
		p := rapid.IntRange(chaffMax+1, len(rs)-1-chaffMax).Filter(func(p int) bool {
			return rs[p-1] != '\n' && rs[p] != '\n'
		}).Draw(t, "pos")
		// The edits stay more than chaffMax code points away on both sides.
		lo, hi := p-1-chaffMax, p+1+chaffMax
		left, c1 := genEdits(t, string(rs[:lo]), insertPool, 3, "left")
		right, c2 := genEdits(t, string(rs[hi:]), insertPool, 3, "right")
		new := left + string(rs[lo:hi]) + right
		for _, lim := range []diffLimits{diffDefaults(), lineFirst} {
			d := diffWith(old, new, lim)
			if c := checkDiff(t, old, new, d); c > 3*(c1+c2) {
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

// genUniqueText draws 10 to 60 distinct code points from uniqueRunes, with
// '\n' after some of them (so no line is empty and lines are distinct).
func genUniqueText(t *rapid.T) string {
	idx := rapid.SliceOfNDistinct(rapid.IntRange(0, len(uniqueRunes)-1), 10, 60, rapid.ID[int]).Draw(t, "runes")
	var b strings.Builder
	for _, i := range idx {
		b.WriteRune(uniqueRunes[i])
		if rapid.IntRange(0, 5).Draw(t, "newline") == 0 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}
