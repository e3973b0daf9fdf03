package ot

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// prose returns about n code points of pseudo-random lines of words (with
// some accents and emoji), the same for the same seed.
func prose(n int, seed uint64) string {
	words := []string{"the", "editor", "keeps", "text", "in", "sync", "while", "two", "people", "type",
		"à", "côté", "naïve", "🎉", "日本語", "a", "of", "and", "document", "server", "cursor", "op"}
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	count, line := 0, 0
	for count < n {
		w := words[r.IntN(len(words))]
		b.WriteString(w)
		count += utf8.RuneCountInString(w) + 1
		line += utf8.RuneCountInString(w) + 1
		if line > 60 {
			b.WriteByte('\n')
			line = 0
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// scatter makes k edits spread evenly over s: each replaces 3 code points with
// "XYZ!" and returns the result and the edits' total cost (7 per edit).
func scatter(s string, k int) (string, int) {
	rs := []rune(s)
	var out []rune
	step := len(rs) / (k + 1)
	prev := 0
	for i := 1; i <= k; i++ {
		at := i * step
		out = append(out, rs[prev:at]...)
		out = append(out, []rune("XYZ!")...)
		prev = at + 3
	}
	return string(append(out, rs[prev:]...)), 7 * k
}

// rewriteLines replaces every third line of s with a line of other prose and
// returns the result and the number of lines replaced.
func rewriteLines(s string, seed uint64) (string, int) {
	lines := strings.SplitAfter(s, "\n")
	others := strings.SplitAfter(prose(utf8.RuneCountInString(s), seed), "\n")
	n := 0
	for i := 0; i < len(lines) && i < len(others); i += 3 {
		lines[i], n = others[i], n+1
	}
	return strings.Join(lines, ""), n
}

func TestDiffLarge(t *testing.T) {
	old := prose(100_000, 1)
	new, edits := scatter(old, 10)
	for _, lim := range []diffLimits{diffDefaults(), lineFirst} {
		d := diffWith(old, new, lim)
		if got, err := Apply(old, d); err != nil || got != new {
			t.Fatalf("limits %+v: Apply(old, Diff) wrong: %v", lim, err)
		}
		if c := cost(d); c > 3*edits {
			t.Errorf("limits %+v: Diff costs %d code points, more than 3× the edits (%d)", lim, c, edits)
		}
	}
	// A third of the lines rewritten: past the code point budget, the line
	// diff keeps the other lines.
	rewritten, n := rewriteLines(old, 3)
	d := Diff(old, rewritten)
	if got, err := Apply(old, d); err != nil || got != rewritten {
		t.Fatalf("rewritten lines: Apply(old, Diff) wrong: %v", err)
	}
	if c, most := cost(d), 2*n*80; c > most {
		t.Errorf("rewritten lines: Diff costs %d code points, more than the %d lines replaced (%d)", c, n, most)
	}
	other := prose(100_000, 2)
	if got, err := Apply(old, Diff(old, other)); err != nil || got != other {
		t.Fatalf("unrelated texts: Apply(old, Diff) wrong: %v", err)
	}
}

func BenchmarkDiff(b *testing.B) {
	old100k, old2M := prose(100_000, 1), prose(2_000_000, 1)
	near100k, _ := scatter(old100k, 10)
	near2M, _ := scatter(old2M, 10)
	rewritten100k, _ := rewriteLines(old100k, 3)
	cases := []struct{ name, old, new string }{
		{"100k-10-changes", old100k, near100k},
		{"100k-third-of-lines-rewritten", old100k, rewritten100k},
		{"100k-unrelated", old100k, prose(100_000, 2)},
		{"2M-10-changes", old2M, near2M},
		{"2M-unrelated", old2M, prose(2_000_000, 2)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var d Op
			for b.Loop() {
				d = Diff(c.old, c.new)
			}
			b.ReportMetric(float64(cost(d)), "cost")
			b.ReportMetric(float64(len(d)), "components")
		})
	}
}
