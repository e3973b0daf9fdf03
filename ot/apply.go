package ot

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Apply returns the text that op makes of doc. Errors wrap ErrMalformed when
// op is malformed and ErrDoesNotFit when a skip or delete runs past the end of
// doc or a delete's text differs from the document. Apply accepts ops that
// are not normalized.
func Apply(doc string, op Op) (string, error) {
	if err := checkShape(op); err != nil {
		return "", err
	}
	var out strings.Builder
	out.Grow(len(doc) + insertedBytes(op))
	rest := doc // the part of doc not yet consumed
	pos := 0    // code points of doc consumed
	for _, c := range op {
		switch c.kind() {
		case kindSkip:
			n, ok := prefixBytes(rest, c.Skip)
			if !ok {
				return "", errPastEnd("skip", pos, c.Skip, pos+utf8.RuneCountInString(rest))
			}
			out.WriteString(rest[:n])
			rest = rest[n:]
			pos += c.Skip
		case kindInsert:
			out.WriteString(c.Insert)
		case kindDelete:
			n, ok := prefixBytes(rest, c.Delete)
			if !ok {
				return "", errPastEnd("delete", pos, c.Delete, pos+utf8.RuneCountInString(rest))
			}
			if c.DelText != "" && c.DelText != rest[:n] {
				return "", errMismatch(pos, c.DelText, rest[:n])
			}
			rest = rest[n:]
			pos += c.Delete
		}
	}
	out.WriteString(rest)
	return out.String(), nil
}

func insertedBytes(op Op) int {
	n := 0
	for _, c := range op {
		n += len(c.Insert)
	}
	return n
}

// prefixBytes returns the byte length of the first n code points of s, and
// false when s is shorter.
func prefixBytes(s string, n int) (int, bool) {
	i := 0
	for ; n > 0 && i < len(s); n-- {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return i, n == 0
}

func errPastEnd(what string, pos, n, docLen int) error {
	return fmt.Errorf("%w: %s of %d at pos %d runs past the end of the document (length %d)", ErrDoesNotFit, what, n, pos, docLen)
}

func errMismatch(pos int, want, got string) error {
	return fmt.Errorf("%w: deleted text %q does not match document text %q at pos %d", ErrDoesNotFit, clip(want), clip(got), pos)
}

// clip shortens text for error messages.
func clip(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n, _ := prefixBytes(s, max)
	return s[:n] + "…"
}

// Invert returns the op that undoes op: applied to the text op produced, it
// gives back the original. Every delete of op must carry its text; otherwise
// the error wraps ErrNotInvertible.
func Invert(op Op) (Op, error) {
	if err := checkShape(op); err != nil {
		return nil, err
	}
	var b builder
	for i, c := range op {
		switch c.kind() {
		case kindSkip:
			b.push(c)
		case kindInsert:
			b.push(Component{Delete: utf8.RuneCountInString(c.Insert), DelText: c.Insert})
		case kindDelete:
			if c.DelText == "" {
				return nil, fmt.Errorf("%w: component %d", ErrNotInvertible, i)
			}
			b.push(Component{Insert: c.DelText})
		}
	}
	return b.done(), nil
}
