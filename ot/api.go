package ot

// TEMPORARY CONTRACT STUB written by the lead so that other packages compile
// while the ot package is being implemented. The ot owner replaces this file
// with the real implementation (keeping these exported names and shapes) and
// deletes this comment.

import "errors"

// Component is one element of an Op. Exactly one of its forms is set:
// Skip > 0 retains that many code points; Insert != "" inserts text;
// Delete > 0 deletes that many code points (DelText, when non-empty, is the
// deleted text itself, the invertible form, and Delete equals its rune count).
type Component struct {
	Skip    int
	Insert  string
	Delete  int
	DelText string
}

// Op is an edit on a text, in the JSON form of ot-text-unicode.
type Op []Component

// Side breaks ties between inserts at the same position in Transform.
type Side int

const (
	Left Side = iota
	Right
)

// Selection is a cursor or selection range in code points.
type Selection struct {
	Anchor int `json:"anchor"`
	Head   int `json:"head"`
}

var errStub = errors.New("ot: not implemented yet")

func (op Op) MarshalJSON() ([]byte, error)  { return nil, errStub }
func (op *Op) UnmarshalJSON(b []byte) error { return errStub }

// BaseLen is the number of code points the op consumes (skips + deletes):
// it fits a document whose length is at least BaseLen.
func (op Op) BaseLen() int { return 0 }

// IsNoop reports whether op changes nothing.
func (op Op) IsNoop() bool { return len(op) == 0 }

func Apply(doc string, op Op) (string, error)           { return "", errStub }
func Transform(op, other Op, side Side) Op              { return nil }
func Compose(a, b Op) (Op, error)                       { return nil, errStub }
func Normalize(op Op) Op                                { return op }
func TransformPosition(pos int, op Op) int              { return pos }
func TransformSelection(sel Selection, op Op) Selection { return sel }
func Invert(op Op) (Op, error)                          { return nil, errStub }
func Diff(oldText, newText string) Op                   { return nil }
func NewDocument(text string) *Document                 { return &Document{} }
func (d *Document) Apply(op Op) error                   { return errStub }
func (d *Document) Len() int                            { return 0 }
func (d *Document) String() string                      { return "" }

// Document is the server's mutable text; applying an op costs about the op's size.
type Document struct{}
