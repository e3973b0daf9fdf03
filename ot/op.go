package ot

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Component is one element of an Op. Exactly one of its forms is set:
// Skip > 0 retains that many code points; Insert != "" inserts text;
// Delete > 0 deletes that many code points. DelText, when non-empty, is the
// deleted text itself (the invertible form) and Delete equals its rune count.
type Component struct {
	Skip    int
	Insert  string
	Delete  int
	DelText string
}

// Op is an edit on a text: its components walk the document from position 0.
// Text after the last component is retained. The JSON form is that of the npm
// package ot-text-unicode: N skips, "text" inserts, {"d":N} and {"d":"text"}
// delete.
type Op []Component

// Side breaks ties between inserts at the same position in Transform: the
// Left op's insert goes first.
type Side int

// The two sides of Transform.
const (
	Left Side = iota
	Right
)

// Selection is a cursor or selection range in code points. Head may be
// before Anchor.
type Selection struct {
	Anchor int `json:"anchor"`
	Head   int `json:"head"`
}

var (
	// ErrMalformed is wrapped by every error about an op's shape: a component
	// with zero or several forms, a non-positive length, invalid UTF-8, or (for
	// Validate and decoding) an op that is not in normal form.
	ErrMalformed = errors.New("ot: malformed op")
	// ErrDoesNotFit is wrapped by every error about an op that is well formed
	// but does not fit the document it is applied to: a skip or delete past the
	// end, or a {"d":"text"} that does not match the document.
	ErrDoesNotFit = errors.New("ot: op does not fit document")
	// ErrNotInvertible is returned by Invert for an op with a delete that does
	// not carry its text.
	ErrNotInvertible = errors.New("ot: op is not invertible (delete without text)")
)

// kind of a component, see Component.kind.
type kind uint8

const (
	kindNone kind = iota // a no-op component: nothing set
	kindSkip
	kindInsert
	kindDelete
)

// kind classifies c without validating it: an insert wins over a delete,
// which wins over a skip. Components with no positive form are kindNone, so
// functions that cannot return errors still behave deterministically on
// malformed input.
func (c Component) kind() kind {
	switch {
	case c.Insert != "":
		return kindInsert
	case c.DelText != "" || c.Delete > 0:
		return kindDelete
	case c.Skip > 0:
		return kindSkip
	}
	return kindNone
}

// Len is the component's length in code points: skipped, inserted or
// deleted.
func (c Component) Len() int {
	switch c.kind() {
	case kindInsert:
		return utf8.RuneCountInString(c.Insert)
	case kindDelete:
		if c.DelText != "" {
			return utf8.RuneCountInString(c.DelText)
		}
		return c.Delete
	case kindSkip:
		return c.Skip
	}
	return 0
}

// checkComponent reports why c is not exactly one well-formed form.
func checkComponent(c Component) error {
	forms := 0
	if c.Skip != 0 {
		forms++
		if c.Skip < 0 {
			return fmt.Errorf("negative skip %d", c.Skip)
		}
	}
	if c.Insert != "" {
		forms++
		if !utf8.ValidString(c.Insert) {
			return errors.New("insert is not valid UTF-8")
		}
	}
	if c.Delete != 0 || c.DelText != "" {
		forms++
		if c.Delete <= 0 {
			return fmt.Errorf("delete length %d is not positive", c.Delete)
		}
		if c.DelText != "" {
			if !utf8.ValidString(c.DelText) {
				return errors.New("deleted text is not valid UTF-8")
			}
			if n := utf8.RuneCountInString(c.DelText); n != c.Delete {
				return fmt.Errorf("delete length %d differs from deleted text length %d", c.Delete, n)
			}
		}
	}
	switch forms {
	case 0:
		return errors.New("empty component")
	case 1:
		return nil
	}
	return errors.New("component has more than one form")
}

// checkShape checks every component of op (but not the normal form).
func checkShape(op Op) error {
	for i, c := range op {
		if err := checkComponent(c); err != nil {
			return malformed(i, err)
		}
	}
	return nil
}

func malformed(i int, err error) error {
	return fmt.Errorf("%w: component %d: %v", ErrMalformed, i, err)
}

// Validate reports whether op is well formed and in normal form: every
// component has exactly one form with a positive length and valid UTF-8 text,
// no two adjacent components have the same kind, and the last component is
// not a skip. Errors wrap ErrMalformed. Every decoded Op passes Validate.
func Validate(op Op) error {
	if err := checkShape(op); err != nil {
		return err
	}
	for i := 1; i < len(op); i++ {
		if op[i].kind() == op[i-1].kind() {
			return fmt.Errorf("%w: components %d and %d have the same kind (not normalized)", ErrMalformed, i-1, i)
		}
	}
	if n := len(op); n > 0 && op[n-1].kind() == kindSkip {
		return fmt.Errorf("%w: trailing skip (not normalized)", ErrMalformed)
	}
	return nil
}

// BaseLen is the number of code points the op consumes (skips + deletes):
// it fits a document whose length is at least BaseLen.
func (op Op) BaseLen() int {
	n := 0
	for _, c := range op {
		if k := c.kind(); k == kindSkip || k == kindDelete {
			n = addSat(n, c.Len())
		}
	}
	return n
}

// addSat adds non-negative lengths, saturating instead of overflowing so that
// absurd ops cannot wrap around into fitting.
func addSat(a, b int) int {
	if b > math.MaxInt-a {
		return math.MaxInt
	}
	return a + b
}

// TargetLen is the length of the document that op produces from a document of
// length baseLen (which must be at least op.BaseLen()).
func (op Op) TargetLen(baseLen int) int {
	n := baseLen
	for _, c := range op {
		switch c.kind() {
		case kindInsert:
			n += c.Len()
		case kindDelete:
			n -= c.Len()
		}
	}
	return n
}

// IsNoop reports whether op changes nothing. A normalized op is a no-op
// exactly when it is empty.
func (op Op) IsNoop() bool {
	for _, c := range op {
		if k := c.kind(); k == kindInsert || k == kindDelete {
			return false
		}
	}
	return true
}

// Check reports whether op is well formed (ErrMalformed) and fits a document
// of docLen code points (ErrDoesNotFit). It does not check deleted text.
func Check(op Op, docLen int) error {
	if err := checkShape(op); err != nil {
		return err
	}
	if n := op.BaseLen(); n > docLen {
		return fmt.Errorf("%w: op spans %d code points, document has %d", ErrDoesNotFit, n, docLen)
	}
	return nil
}

// Normalize returns op in normal form: no-op components dropped, adjacent
// components of one kind merged, no trailing skip. Merging a delete that
// carries its text with one that does not drops the text. It never modifies
// op's backing array.
func Normalize(op Op) Op {
	b := builder{op: make(Op, 0, len(op))} // Never longer than op: one allocation.
	for _, c := range op {
		b.push(c)
	}
	return b.done()
}

// builder appends components in normal form, like ot-text-unicode's append.
type builder struct {
	op Op
}

// push appends c, merging it into the last component when they have the same
// kind. Components of kindNone are dropped.
func (b *builder) push(c Component) {
	k := c.kind()
	if k == kindNone {
		return
	}
	c = canonical(c, k)
	n := len(b.op)
	if n == 0 || b.op[n-1].kind() != k {
		b.op = append(b.op, c)
		return
	}
	last := &b.op[n-1]
	switch k {
	case kindSkip:
		last.Skip += c.Skip
	case kindInsert:
		last.Insert += c.Insert
	case kindDelete:
		if last.DelText != "" && c.DelText != "" {
			last.DelText += c.DelText
		} else {
			last.DelText = ""
		}
		last.Delete += c.Delete
	}
}

// canonical returns c with only the fields of kind k set.
func canonical(c Component, k kind) Component {
	switch k {
	case kindSkip:
		return Component{Skip: c.Skip}
	case kindInsert:
		return Component{Insert: c.Insert}
	case kindDelete:
		if c.DelText != "" {
			return Component{Delete: utf8.RuneCountInString(c.DelText), DelText: c.DelText}
		}
		return Component{Delete: c.Delete}
	}
	return Component{}
}

func (b *builder) skip(n int) { b.push(Component{Skip: n}) }

// done trims a trailing skip and returns the op; the empty op is nil.
func (b *builder) done() Op {
	if n := len(b.op); n > 0 && b.op[n-1].kind() == kindSkip {
		b.op = b.op[:n-1]
	}
	if len(b.op) == 0 {
		return nil
	}
	return b.op
}
