package ot

import (
	"testing"
	"unicode/utf8"
)

// FuzzDiff checks that Diff never panics, walks exactly the old text as Apply
// counts it, and turns valid old text into the new text, on the default
// limits and with every path forced by tiny budgets.
func FuzzDiff(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""}, {"abc", "abd"}, {"a\nb\nc\n", "a\r\nb\r\nc\r\n"}, {family + " & " + family, "👨‍👧‍👦 & x"},
		{"e\u0301 🎉x🎉", "é 🎊x🎊"}, {"\xff\xfe\xe2\x82", "\xe2\x82\xac"}, {"one\ntwo\nthree", "zero\none\nthree\nfour"},
	} {
		f.Add(s[0], s[1], uint16(0))
	}
	f.Fuzz(func(t *testing.T, old, new string, budget uint16) {
		for _, lim := range []diffLimits{diffDefaults(), {runes: int(budget), lines: int(budget), hunks: int(budget)}} {
			d := diffWith(old, new, lim)
			n := utf8.RuneCountInString(old)
			if d.BaseLen() > n || d.TargetLen(n) != utf8.RuneCountInString(new) {
				t.Fatalf("limits %+v: Diff(%q, %q) = %v does not fit", lim, old, new, d)
			}
			if !utf8.ValidString(old) || !utf8.ValidString(new) {
				continue
			}
			if err := Validate(d); err != nil {
				t.Fatalf("limits %+v: Diff(%q, %q) = %v: %v", lim, old, new, d, err)
			}
			if got, err := Apply(old, d); err != nil || got != new {
				t.Fatalf("limits %+v: Apply(%q, %v) = %q, %v; want %q", lim, old, d, got, err, new)
			}
		}
	})
}
