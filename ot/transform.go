package ot

import (
	"fmt"
	"unicode/utf8"
)

// Transform rewrites op, written against the same document as other, so that
// it applies after other and keeps its intent: the semantics of
// ot-text-unicode's transform(op, other, side). When both insert at the same
// position, the insert of the Left side goes first (any side other than Left
// counts as Right). Text that other deleted
// is not deleted again; text that op inserts inside a range other deleted
// survives. The result is normalized. Transform never panics, also not on
// malformed ops or ops that do not fit the same document (text past the end
// of an op counts as retained).
func Transform(op, other Op, side Side) Op {
	// Usually as long as op, or a skip longer: mostly one allocation.
	b := builder{op: make(Op, 0, len(op)+1)}
	it := iter{op: op}
	for _, c2 := range other {
		switch c2.kind() {
		case kindSkip:
			for n := c2.Len(); n > 0; {
				c1 := it.take(n, keepInserts)
				b.push(c1)
				if c1.kind() != kindInsert {
					n -= c1.Len()
				}
			}
		case kindInsert:
			if side == Left && it.peekKind() == kindInsert {
				b.push(it.take(-1, splitAll))
			}
			b.skip(c2.Len())
		case kindDelete:
			for n := c2.Len(); n > 0; {
				c1 := it.take(n, keepInserts)
				switch c1.kind() {
				case kindInsert:
					b.push(c1)
				default:
					// A skip of op is deleted by other; a delete was done by both.
					n -= c1.Len()
				}
			}
		}
	}
	for !it.done() {
		b.push(it.take(-1, splitAll))
	}
	return b.done()
}

// Compose returns one op with the effect of applying a and then b, the
// semantics of ot-text-unicode's compose(a, b). b must be written against the
// document that a produces. Errors wrap ErrMalformed for a malformed op and
// ErrDoesNotFit when b deletes, with its text, an insert of a whose text
// differs.
func Compose(a, b Op) (Op, error) {
	if err := checkShape(a); err != nil {
		return nil, fmt.Errorf("compose: first op: %w", err)
	}
	if err := checkShape(b); err != nil {
		return nil, fmt.Errorf("compose: second op: %w", err)
	}
	var out builder
	it := iter{op: a}
	pos := 0 // position in the document between a and b, for errors
	for _, c2 := range b {
		switch c2.kind() {
		case kindSkip:
			for n := c2.Len(); n > 0; {
				c1 := it.take(n, keepDeletes)
				out.push(c1)
				if c1.kind() != kindDelete {
					n -= c1.Len()
				}
			}
			pos += c2.Len()
		case kindInsert:
			out.push(c2)
		case kindDelete:
			if err := composeDelete(&out, &it, c2, pos); err != nil {
				return nil, err
			}
			pos += c2.Len()
		}
	}
	for !it.done() {
		out.push(it.take(-1, splitAll))
	}
	return out.done(), nil
}

// composeDelete handles a delete c2 of the second op: text that the first op
// retained is deleted, text it inserted is dropped, its deletes stay.
func composeDelete(out *builder, it *iter, c2 Component, pos int) error {
	d := iter{op: Op{c2}}
	for n := c2.Len(); n > 0; {
		c1 := it.take(n, keepDeletes)
		switch c1.kind() {
		case kindSkip:
			out.push(d.take(c1.Skip, splitAll))
			n -= c1.Skip
		case kindInsert:
			piece := d.take(c1.Len(), splitAll)
			if piece.DelText != "" && piece.DelText != c1.Insert {
				return fmt.Errorf("%w: compose: second op deletes %q at pos %d where the first inserted %q",
					ErrDoesNotFit, piece.DelText, pos+c2.Len()-n, c1.Insert)
			}
			n -= c1.Len()
		default:
			out.push(c1)
		}
	}
	return nil
}

// TransformPosition moves a cursor position over op, the semantics of
// ot-text-unicode's transformPosition: text inserted before the cursor moves
// it right, an insert exactly at the cursor leaves it in front, deleted text
// before it moves it left, and a cursor inside a deleted range goes to the
// start of the range. It never panics; positions past the end of op's text
// are moved by op's inserts and deletes only.
func TransformPosition(pos int, op Op) int {
	p := 0
	for i := 0; i < len(op) && pos > p; i++ {
		c := op[i]
		switch c.kind() {
		case kindSkip:
			p += c.Skip
		case kindInsert:
			n := utf8.RuneCountInString(c.Insert)
			p += n
			pos += n
		case kindDelete:
			pos -= min(c.Len(), pos-p)
		}
	}
	return pos
}

// TransformSelection moves both ends of sel over op with TransformPosition.
func TransformSelection(sel Selection, op Op) Selection {
	return Selection{Anchor: TransformPosition(sel.Anchor, op), Head: TransformPosition(sel.Head, op)}
}
