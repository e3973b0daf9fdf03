package ot

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// sameOp compares ops, treating nil and empty as equal.
func sameOp(a, b Op) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

// FuzzUnmarshalJSON checks that any input decodes to a valid op or fails with
// ErrMalformed, never panics, and that what decodes re-encodes to the same op.
// Seeds live in testdata/fuzz/FuzzUnmarshalJSON.
func FuzzUnmarshalJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var op Op
		err := op.UnmarshalJSON(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		if err := Validate(op); err != nil {
			t.Fatalf("decoded op invalid: %v", err)
		}
		out, err := op.MarshalJSON()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var again Op
		if err := again.UnmarshalJSON(out); err != nil || !sameOp(again, op) {
			t.Fatalf("round trip %q -> %v -> %s -> %v, %v", b, op, out, again, err)
		}
		// Any op must transform and apply without panicking.
		doc := "a🎉\r\n" + family
		_, _ = Apply(doc, op)
		_ = NewDocument(doc).Apply(op)
		Transform(op, Op{sk(1), ins("x")}, Left)
		Transform(Op{sk(1), del(1)}, op, Right)
		TransformPosition(3, op)
	})
}
