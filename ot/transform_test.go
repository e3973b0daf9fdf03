package ot

import (
	"errors"
	"reflect"
	"testing"
)

func TestTransform(t *testing.T) {
	tests := []struct {
		name        string
		op, other   Op
		left, right Op
	}{
		{"same place insert tie", Op{sk(1), ins("a")}, Op{sk(1), ins("b")},
			Op{sk(1), ins("a")}, Op{sk(2), ins("a")}},
		{"emoji insert tie", Op{ins("🎉")}, Op{ins(family)},
			Op{ins("🎉")}, Op{sk(7), ins("🎉")}},
		{"insert after other's insert", Op{sk(2), ins("x")}, Op{ins("🎉")},
			Op{sk(3), ins("x")}, Op{sk(3), ins("x")}},
		{"insert after delete", Op{sk(3), ins("x")}, Op{del(2)},
			Op{sk(1), ins("x")}, Op{sk(1), ins("x")}},
		{"insert inside deleted range survives", Op{sk(2), ins("x")}, Op{sk(1), del(3)},
			Op{sk(1), ins("x")}, Op{sk(1), ins("x")}},
		{"overlapping deletes", Op{sk(1), del(3)}, Op{sk(2), del(3)},
			Op{sk(1), del(1)}, Op{sk(1), del(1)}},
		{"same delete vanishes", Op{sk(1), delText("é")}, Op{sk(1), del(1)}, nil, nil},
		{"delete text is sliced", Op{delText("a🎉b")}, Op{sk(1), del(1)},
			Op{delText("ab")}, Op{delText("ab")}},
		{"other inserts inside delete", Op{del(3)}, Op{sk(1), ins("XY")},
			Op{del(1), sk(2), del(2)}, Op{del(1), sk(2), del(2)}},
		{"delete then insert vs insert", Op{del(1), ins("x")}, Op{ins("y")},
			Op{sk(1), del(1), ins("x")}, Op{sk(1), del(1), ins("x")}},
		{"insert then delete vs insert", Op{ins("x"), del(1)}, Op{ins("y")},
			Op{ins("x"), sk(1), del(1)}, Op{sk(1), ins("x"), del(1)}},
		{"crlf split", Op{sk(1), ins("\n")}, Op{sk(1), ins("\r")},
			Op{sk(1), ins("\n")}, Op{sk(2), ins("\n")}},
		{"noop op", nil, Op{ins("x")}, nil, nil},
		{"noop other", Op{sk(1), del(1)}, nil, Op{sk(1), del(1)}, Op{sk(1), del(1)}},
		{"ops of different lengths", Op{sk(5), ins("x")}, Op{sk(1), ins("y")},
			Op{sk(6), ins("x")}, Op{sk(6), ins("x")}},
		{"other longer than op", Op{ins("x")}, Op{sk(9), del(4)},
			Op{ins("x")}, Op{ins("x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Transform(tt.op, tt.other, Left); !reflect.DeepEqual(got, tt.left) {
				t.Errorf("Transform(%v, %v, Left) = %v, want %v", tt.op, tt.other, got, tt.left)
			}
			if got := Transform(tt.op, tt.other, Right); !reflect.DeepEqual(got, tt.right) {
				t.Errorf("Transform(%v, %v, Right) = %v, want %v", tt.op, tt.other, got, tt.right)
			}
		})
	}
}

func TestTransformMalformedDoesNotPanic(t *testing.T) {
	ops := []Op{
		{{}, {Skip: -3}, {Delete: -1}, {Skip: 1, Insert: "x", Delete: 2}},
		{{DelText: "ab", Delete: 9}, {Insert: "\xff"}},
		{sk(1 << 40), del(1 << 40)},
	}
	for _, a := range ops {
		for _, b := range ops {
			Transform(a, b, Left)
			Transform(a, b, Right)
			_, _ = Compose(a, b)
			TransformPosition(5, a)
		}
	}
}

func TestCompose(t *testing.T) {
	tests := []struct {
		name string
		a, b Op
		want Op
	}{
		{"inserts", Op{ins("a")}, Op{sk(1), ins("🎉")}, Op{ins("a🎉")}},
		{"delete then insert", Op{del(1)}, Op{ins("x")}, Op{ins("x"), del(1)}},
		{"delete part of insert", Op{ins("abc")}, Op{sk(1), del(1)}, Op{ins("ac")}},
		{"delete part of insert with text", Op{ins("a" + family)}, Op{sk(1), delText(family)}, Op{ins("a")}},
		{"deletes merge with text", Op{sk(2), delText("🎉")}, Op{sk(1), delText("x")},
			Op{sk(1), delText("x🎉")}},
		{"skip over delete", Op{del(2), ins("y")}, Op{sk(1), ins("z")}, Op{del(2), ins("yz")}},
		{"noop a", nil, Op{sk(2), del(1)}, Op{sk(2), del(1)}},
		{"noop b", Op{sk(2), del(1)}, nil, Op{sk(2), del(1)}},
		{"insert then delete it all", Op{sk(1), ins("e\u0301")}, Op{sk(1), del(2)}, nil},
		{"crlf", Op{sk(1), ins("\r")}, Op{sk(2), ins("\n")}, Op{sk(1), ins("\r\n")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compose(tt.a, tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Compose(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
	if _, err := Compose(Op{ins("abc")}, Op{sk(1), delText("z")}); !errors.Is(err, ErrDoesNotFit) {
		t.Errorf("mismatched deleted text: %v, want ErrDoesNotFit", err)
	}
	if _, err := Compose(Op{{}}, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed: %v, want ErrMalformed", err)
	}
}

func TestTransformPosition(t *testing.T) {
	tests := []struct {
		name string
		pos  int
		op   Op
		want int
	}{
		{"insert at cursor stays in front", 2, Op{sk(2), ins("x")}, 2},
		{"insert at 0 and cursor 0", 0, Op{ins("x")}, 0},
		{"insert before", 3, Op{sk(2), ins("🎉")}, 4},
		{"family insert before", 1, Op{ins(family)}, 8},
		{"insert after", 1, Op{sk(2), ins("x")}, 1},
		{"inside delete goes to start", 3, Op{sk(1), del(5)}, 1},
		{"after delete", 5, Op{sk(1), del(2)}, 3},
		{"delete right at cursor", 2, Op{sk(2), del(2)}, 2},
		{"insert and delete", 2, Op{ins("ab"), del(1)}, 3},
		{"past end", 10, Op{sk(1), ins("x")}, 11},
		{"negative", -1, Op{ins("x")}, -1},
		{"noop", 4, nil, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TransformPosition(tt.pos, tt.op); got != tt.want {
				t.Fatalf("TransformPosition(%d, %v) = %d, want %d", tt.pos, tt.op, got, tt.want)
			}
		})
	}
	sel := TransformSelection(Selection{Anchor: 5, Head: 1}, Op{ins("🎉"), sk(2), del(2)})
	if want := (Selection{Anchor: 4, Head: 2}); sel != want {
		t.Errorf("TransformSelection = %+v, want %+v", sel, want)
	}
}

// BenchmarkNormalizeTransform is what the server does to a concurrent
// keystroke before it commits it: normalize it, then rebase it over another.
func BenchmarkNormalizeTransform(b *testing.B) {
	op := Op{{Skip: 12}, {Insert: "a"}}
	other := Op{{Skip: 3}, {Insert: "xy"}}
	b.ReportAllocs()
	for b.Loop() {
		_ = Transform(Normalize(op), other, Left)
	}
}
