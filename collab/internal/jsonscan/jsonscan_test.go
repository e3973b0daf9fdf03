package jsonscan

import "testing"

func TestDigits(t *testing.T) {
	for in, want := range map[string]uint64{"0": 0, "7,": 7, " 123}": 123, "999999999999999999": 999999999999999999} {
		p := Scanner{B: []byte(in)}
		if got, ok := p.Digits(); !ok || got != want {
			t.Errorf("Digits(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-1", "01", "1.5", "1e3", "1E3", "1000000000000000000", "x"} {
		p := Scanner{B: []byte(in)}
		if got, ok := p.Digits(); ok {
			t.Errorf("Digits(%q) = %d, accepted; encoding/json's to answer", in, got)
		}
	}
}

func TestStr(t *testing.T) {
	for in, want := range map[string]string{`"op"`: "op", ` "é🎉"`: "é🎉", `""`: ""} {
		p := Scanner{B: []byte(in)}
		if got, ok := p.Str(); !ok || string(got) != want {
			t.Errorf("Str(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{`"a\"b"`, "\"a\x01\"", "\"\xff\"", `"open`, `x`} {
		p := Scanner{B: []byte(in)}
		if got, ok := p.Str(); ok {
			t.Errorf("Str(%q) = %q, accepted; encoding/json's to answer", in, got)
		}
	}
}

func TestArray(t *testing.T) {
	for in, want := range map[string]string{
		`[1,"a]",{"d":"}"}],`: `[1,"a]",{"d":"}"}]`,
		` ["q\"]"] `:          `["q\"]"]`,
		`[[],[]]`:             `[[],[]]`,
	} {
		p := Scanner{B: []byte(in)}
		if got, ok := p.Array(); !ok || string(got) != want {
			t.Errorf("Array(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{`[1,2`, `{"a":1}`, `["]`, ``} {
		p := Scanner{B: []byte(in)}
		if got, ok := p.Array(); ok {
			t.Errorf("Array(%q) = %q, accepted", in, got)
		}
	}
}

func TestLiteralAndEnd(t *testing.T) {
	p := Scanner{B: []byte(" null  ")}
	if !p.Literal("null") || !p.End() {
		t.Fatal("null then spaces")
	}
	p = Scanner{B: []byte("nul")}
	if p.Literal("null") || p.End() {
		t.Fatal("a short literal")
	}
}
