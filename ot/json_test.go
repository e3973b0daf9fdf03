package ot

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		op   Op
		json string
	}{
		{"noop", nil, `[]`},
		{"skip insert", Op{sk(3), ins("🎉")}, `[3,"🎉"]`},
		{"deletes", Op{del(2), ins("x"), sk(1), delText(family)}, `[{"d":2},"x",1,{"d":"` + family + `"}]`},
		{"escapes", Op{ins("a\"b\\c\r\n\t\x01</>&\u2028")}, `["a\"b\\c\r\n\t\u0001</>&` + "\u2028" + `"]`},
		{"combining", Op{ins("e\u0301")}, "[\"e\u0301\"]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.op.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(b) {
				t.Fatalf("invalid JSON %s", b)
			}
			if string(b) != tt.json {
				t.Fatalf("Marshal = %s, want %s", b, tt.json)
			}
			var got Op
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.op) || (len(got) > 0 && !reflect.DeepEqual(got, tt.op)) {
				t.Fatalf("Unmarshal = %#v, want %#v", got, tt.op)
			}
		})
	}
}

func TestJSONDecode(t *testing.T) {
	tests := []struct {
		in   string
		want Op
	}{
		{` [ 1 , "x" ] `, Op{sk(1), ins("x")}},
		{`["\ud83c\udf89"]`, Op{ins("🎉")}},
		{`["\u00e9\/"]`, Op{ins("é/")}},
		{`[{"d":"\uD83D\uDC4D"}]`, Op{delText("👍")}},
		{`[{ "d" : 9007199254740991 }]`, Op{del(9007199254740991)}},
		{`[{"\u0064":1}]`, Op{del(1)}},
		{`["\ufffd"]`, Op{ins("\ufffd")}},
	}
	for _, tt := range tests {
		var got Op
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
			t.Errorf("Unmarshal(%s): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Unmarshal(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
	var keep = Op{ins("x")}
	if err := json.Unmarshal([]byte(`null`), &keep); err != nil || !reflect.DeepEqual(keep, Op{ins("x")}) {
		t.Errorf("null: %v, %v", keep, err)
	}
}

func TestJSONDecodeErrors(t *testing.T) {
	tests := []struct {
		in, msg string
	}{
		{`["\ud800"]`, "lone surrogate"},
		{`["\udc00x"]`, "lone surrogate"},
		{`["\ud800\u0041"]`, "lone surrogate"},
		{`[{"d":"\ud83d"}]`, "lone surrogate"},
		{"[\"\xff\"]", "invalid UTF-8"},
		{"[\"\xed\xa0\x80\"]", "invalid UTF-8"},
		{"[\"\xf0\x9f\x8e\"]", "invalid UTF-8"},
		{`[1.5]`, "not a positive integer"},
		{`[1e3]`, "not a positive integer"},
		{`[-1]`, "not a positive integer"},
		{`[0,"x"]`, "zero-length"},
		{`[01,"x"]`, "leading zero"},
		{`[9007199254740992,"x"]`, "too large"},
		{`[99999999999999999999999,"x"]`, "too large"},
		{`[""]`, "empty insert"},
		{`[{"d":""}]`, "empty delete"},
		{`[{"d":0}]`, "zero-length"},
		{`[{"d":-2}]`, "not a positive integer"},
		{`[{"d":1.0}]`, "not a positive integer"},
		{`[{"i":"x"}]`, "unknown key"},
		{`[{"d":1,"d":2}]`, `unexpected ','`},
		{`[{}]`, "a delete is"},
		{`[{"d":true}]`, "delete value"},
		{`[true]`, "a component is"},
		{`[null]`, "a component is"},
		{`[["x"]]`, "a component is"},
		{`{"d":1}`, `want '['`},
		{`"x"`, `want '['`},
		{`[1,"x"`, "end of input"},
		{`[1,"x",]`, "a component is"},
		{`[1 "x"]`, `want ']'`},
		{`[] []`, "after op"},
		{`["a\x"]`, "invalid escape"},
		{`["a\u12"]`, "\\u escape"},
		{"[\"a\tb\"]", "control character"},
		{`["abc`, "unterminated string"},
		{`[1]`, "trailing skip"},
		{`[1,2,"x"]`, "same kind"},
		{`["a","b"]`, "same kind"},
		{`[{"d":1},{"d":"x"}]`, "same kind"},
		{``, "end of input"},
	}
	for _, tt := range tests {
		var op Op
		err := json.Unmarshal([]byte(tt.in), &op)
		if err == nil {
			t.Errorf("Unmarshal(%q) = %v, want error", tt.in, op)
			continue
		}
		// encoding/json checks syntax before calling UnmarshalJSON; call ours
		// directly too so that every message is ours.
		err = op.UnmarshalJSON([]byte(tt.in))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("UnmarshalJSON(%q) = %v, want ErrMalformed containing %q", tt.in, err, tt.msg)
		}
	}
}

func TestMarshalMalformed(t *testing.T) {
	if _, err := (Op{{Skip: 1, Insert: "x"}}).MarshalJSON(); !errors.Is(err, ErrMalformed) {
		t.Errorf("MarshalJSON(two forms) = %v, want ErrMalformed", err)
	}
	if _, err := (Op{ins("\xff")}).MarshalJSON(); !errors.Is(err, ErrMalformed) {
		t.Errorf("MarshalJSON(bad UTF-8) = %v, want ErrMalformed", err)
	}
}
