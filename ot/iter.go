package ot

import "unicode/utf8"

// iter walks an op's components, handing out pieces of them, like the take
// and peek functions of ot-text-unicode. Past the last component the op
// retains text forever, so take returns skips.
type iter struct {
	op  Op
	idx int // index of the next component
	off int // code points of op[idx] already taken
	// boff is the byte offset matching off in op[idx]'s text, for inserts and
	// deletes that carry text.
	boff int
}

// indivisible names the kind that take never splits.
type indivisible uint8

const (
	splitAll indivisible = iota
	keepInserts
	keepDeletes
)

// skipNone advances past kindNone components so that peek sees real ones.
func (it *iter) skipNone() {
	for it.idx < len(it.op) && it.op[it.idx].kind() == kindNone {
		it.idx++
	}
}

// done reports whether the op's components are used up.
func (it *iter) done() bool {
	it.skipNone()
	return it.idx >= len(it.op)
}

// peekKind is the kind of the next piece take would return (kindNone at the
// end).
func (it *iter) peekKind() kind {
	it.skipNone()
	if it.idx >= len(it.op) {
		return kindNone
	}
	return it.op[it.idx].kind()
}

// next moves to the following component.
func (it *iter) next() {
	it.idx++
	it.off, it.boff = 0, 0
}

// take returns up to n code points of the next component (n < 0: all the
// rest of it). A component of kind keep is returned whole even when longer
// than n. Past the end it returns a skip of n (or an empty component when
// n < 0).
func (it *iter) take(n int, keep indivisible) Component {
	it.skipNone()
	if it.idx >= len(it.op) {
		if n < 0 {
			return Component{}
		}
		return Component{Skip: n}
	}
	c := it.op[it.idx]
	k := c.kind()
	rest := c.Len() - it.off
	whole := n < 0 || rest <= n ||
		(k == kindInsert && keep == keepInserts) ||
		(k == kindDelete && keep == keepDeletes)
	if whole {
		n = rest
	}
	var part Component
	switch k {
	case kindSkip:
		part = Component{Skip: n}
	case kindInsert:
		part = Component{Insert: it.slice(c.Insert, n, whole)}
	case kindDelete:
		if c.DelText != "" {
			part = Component{Delete: n, DelText: it.slice(c.DelText, n, whole)}
		} else {
			part = Component{Delete: n}
		}
	}
	if whole {
		it.next()
	} else {
		it.off += n
	}
	return part
}

// slice returns the next n code points of s starting at the current offset
// and advances the byte offset.
func (it *iter) slice(s string, n int, whole bool) string {
	start := it.boff
	if whole {
		return s[start:]
	}
	end := start
	for i := 0; i < n && end < len(s); i++ {
		_, size := utf8.DecodeRuneInString(s[end:])
		end += size
	}
	it.boff = end
	return s[start:end]
}
