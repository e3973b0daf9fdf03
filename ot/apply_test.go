package ot

import (
	"errors"
	"reflect"
	"slices"
	"testing"
)

const family = "👨‍👩‍👧‍👦" // 7 code points: 4 people joined by 3 ZWJ

// Shorthands for building ops in tables.
func sk(n int) Component         { return Component{Skip: n} }
func ins(s string) Component     { return Component{Insert: s} }
func del(n int) Component        { return Component{Delete: n} }
func delText(s string) Component { return Component{Delete: len([]rune(s)), DelText: s} }

func TestApply(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		op   Op
		want string
	}{
		{"noop on empty", "", nil, ""},
		{"noop", "abc", Op{}, "abc"},
		{"insert into empty", "", Op{ins("hi")}, "hi"},
		{"insert at end", "ab", Op{sk(2), ins("c")}, "abc"},
		{"insert after emoji", "🎉x", Op{sk(1), ins("!")}, "🎉!x"},
		{"insert inside ZWJ family", family, Op{sk(2), ins("|")}, "👨\u200d|👩\u200d👧\u200d👦"},
		{"delete whole family", "a" + family + "b", Op{sk(1), del(7)}, "ab"},
		{"delete combining mark", "e\u0301x", Op{sk(1), del(1)}, "ex"},
		{"delete CR of CRLF", "a\r\nb", Op{sk(1), del(1)}, "a\nb"},
		{"replace with text", "héllo", Op{delText("hé"), ins("HE")}, "HEllo"},
		{"astral delete text", "x🎉y", Op{sk(1), delText("🎉")}, "xy"},
		{"not normalized", "abc", Op{sk(1), sk(1), ins("x"), ins("y")}, "abxyc"},
		{"delete all", "🎉🎉", Op{del(2)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Apply(tt.doc, tt.op)
			if err != nil {
				t.Fatalf("Apply(%q, %v): %v", tt.doc, tt.op, err)
			}
			if got != tt.want {
				t.Fatalf("Apply(%q, %v) = %q, want %q", tt.doc, tt.op, got, tt.want)
			}
			d := NewDocument(tt.doc)
			if err := d.Apply(tt.op); err != nil {
				t.Fatalf("Document.Apply: %v", err)
			}
			if d.String() != tt.want || d.Len() != len([]rune(tt.want)) {
				t.Fatalf("Document = %q (len %d), want %q", d.String(), d.Len(), tt.want)
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		op   Op
		want error
		msg  string
	}{
		{"skip past end", "🎉bc", Op{sk(4), ins("x")}, ErrDoesNotFit,
			"ot: op does not fit document: skip of 4 at pos 0 runs past the end of the document (length 3)"},
		{"delete past end", "ab", Op{sk(1), del(2)}, ErrDoesNotFit,
			"ot: op does not fit document: delete of 2 at pos 1 runs past the end of the document (length 2)"},
		{"skip on empty", "", Op{sk(1)}, ErrDoesNotFit, ""},
		{"delete text mismatch", "abc", Op{sk(1), delText("c")}, ErrDoesNotFit,
			`ot: op does not fit document: deleted text "c" does not match document text "b" at pos 1`},
		{"combining mismatch", "e\u0301", Op{delText("é")}, ErrDoesNotFit, ""},
		{"negative skip", "abc", Op{sk(-1)}, ErrMalformed, ""},
		{"empty component", "abc", Op{{}}, ErrMalformed, "ot: malformed op: component 0: empty component"},
		{"two forms", "abc", Op{{Skip: 1, Insert: "x"}}, ErrMalformed, ""},
		{"bad utf8 insert", "abc", Op{ins("\xff")}, ErrMalformed, ""},
		{"surrogate utf8 insert", "abc", Op{ins("\xed\xa0\x80")}, ErrMalformed, ""},
		{"deltext length mismatch", "abc", Op{{Delete: 2, DelText: "a"}}, ErrMalformed, ""},
		{"negative delete", "abc", Op{del(-2)}, ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Apply(tt.doc, tt.op)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Apply error = %v, want %v", err, tt.want)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Fatalf("message %q, want %q", err.Error(), tt.msg)
			}
			d := NewDocument(tt.doc)
			if err := d.Apply(tt.op); !errors.Is(err, tt.want) {
				t.Fatalf("Document.Apply error = %v, want %v", err, tt.want)
			}
			if d.String() != tt.doc {
				t.Fatalf("failed Document.Apply changed text to %q", d.String())
			}
		})
	}
}

func TestLengths(t *testing.T) {
	op := Op{sk(2), ins("🎉" + family), del(3), sk(1), delText("e\u0301")}
	if got := op.BaseLen(); got != 8 {
		t.Errorf("BaseLen = %d, want 8", got)
	}
	if got := op.TargetLen(10); got != 10+8-5 {
		t.Errorf("TargetLen(10) = %d, want 13", got)
	}
	if op.IsNoop() || !Op(nil).IsNoop() || !(Op{sk(3)}).IsNoop() {
		t.Error("IsNoop wrong")
	}
	if err := Check(op, 7); !errors.Is(err, ErrDoesNotFit) {
		t.Errorf("Check(op, 7) = %v, want ErrDoesNotFit", err)
	}
	if err := Check(op, 8); err != nil {
		t.Errorf("Check(op, 8) = %v", err)
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		op   Op
		want Op
	}{
		{"empty", Op{}, nil},
		{"only skip", Op{sk(3)}, nil},
		{"drops empty", Op{{}, sk(1), ins(""), ins("a"), {}}, Op{sk(1), ins("a")}},
		{"merges skips", Op{sk(1), sk(2), ins("x")}, Op{sk(3), ins("x")}},
		{"merges inserts", Op{ins("🎉"), ins(family)}, Op{ins("🎉" + family)}},
		{"merges text deletes", Op{delText("a"), delText("🎉")}, Op{delText("a🎉")}},
		{"mixed deletes lose text", Op{delText("ab"), del(2)}, Op{del(4)}},
		{"keeps insert/delete order", Op{del(1), ins("x"), del(1)}, Op{del(1), ins("x"), del(1)}},
		{"trailing skip", Op{ins("x"), sk(5)}, Op{ins("x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := slices.Clone(tt.op)
			got := Normalize(tt.op)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Normalize(%v) = %v, want %v", tt.op, got, tt.want)
			}
			if !reflect.DeepEqual(orig, tt.op) {
				t.Fatalf("Normalize modified its input")
			}
			if err := Validate(got); err != nil {
				t.Fatalf("Validate(Normalize) = %v", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	bad := map[string]Op{
		"adjacent skips":   {sk(1), sk(1), ins("a")},
		"adjacent inserts": {ins("a"), ins("b")},
		"adjacent deletes": {del(1), delText("b")},
		"trailing skip":    {ins("a"), sk(1)},
		"zero skip":        {{Skip: 0}, ins("a")},
	}
	for name, op := range bad {
		if err := Validate(op); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Validate = %v, want ErrMalformed", name, err)
		}
	}
	if err := Validate(Op{sk(1), del(1), ins("x"), sk(2), delText("🎉")}); err != nil {
		t.Errorf("Validate(good) = %v", err)
	}
}

func TestInvert(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		op   Op
		want Op
	}{
		{"insert", "ab", Op{sk(1), ins("🎉")}, Op{sk(1), delText("🎉")}},
		{"delete", "a" + family, Op{sk(1), delText(family)}, Op{sk(1), ins(family)}},
		{"replace", "e\u0301", Op{delText("e\u0301"), ins("é")}, Op{ins("e\u0301"), delText("é")}},
		{"noop", "x", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Invert(tt.op)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(inv, tt.want) {
				t.Fatalf("Invert = %v, want %v", inv, tt.want)
			}
			after, err := Apply(tt.doc, tt.op)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Apply(after, inv)
			if err != nil || back != tt.doc {
				t.Fatalf("Apply(Apply(doc, op), inv) = %q, %v; want %q", back, err, tt.doc)
			}
		})
	}
	if _, err := Invert(Op{sk(1), del(1)}); !errors.Is(err, ErrNotInvertible) {
		t.Errorf("Invert without text: %v, want ErrNotInvertible", err)
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     Op
	}{
		{"same", "abc", "abc", nil},
		{"both empty", "", "", nil},
		{"from empty", "", "🎉", Op{ins("🎉")}},
		{"to empty", "a🎉", "", Op{delText("a🎉")}},
		{"append", "ab", "abc", Op{sk(2), ins("c")}},
		{"middle", "a🎉b", "a👍b", Op{sk(1), delText("🎉"), ins("👍")}},
		// 🎉 U+1F389 and 🎊 U+1F38A share three UTF-8 bytes: the diff must not split.
		{"shared bytes", "x🎉", "x🎊", Op{sk(1), delText("🎉"), ins("🎊")}},
		{"shared suffix bytes", "é", "è", Op{delText("é"), ins("è")}},
		{"combining", "e", "e\u0301", Op{sk(1), ins("\u0301")}},
		{"crlf", "a\nb", "a\r\nb", Op{sk(1), ins("\r")}},
		{"family member", family, "👨‍👩‍👧", Op{sk(5), delText("\u200d👦")}},
		{"repeated", "aaa", "aaaa", Op{sk(3), ins("a")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(tt.old, tt.new)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Diff(%q, %q) = %v, want %v", tt.old, tt.new, got, tt.want)
			}
			res, err := Apply(tt.old, got)
			if err != nil || res != tt.new {
				t.Fatalf("Apply(old, Diff) = %q, %v", res, err)
			}
		})
	}
}
