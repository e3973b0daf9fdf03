package ot

import (
	"strings"
	"unicode/utf8"
)

// Document is a mutable text that applies ops in place. It is a rope: a
// B-tree whose leaves hold runs of code points and whose nodes know how many
// code points lie below them. Applying an op costs O(components × log n) plus
// the size of the inserted text, wherever in the document the edits are; it
// does not allocate for typical keystrokes. It holds exactly the text Apply
// would produce. A Document is not safe for concurrent use.
type Document struct {
	root    *node
	leaves  int    // number of leaves, to decide when to rebuild
	scratch []rune // reused to decode inserted text
}

const (
	leafMax  = 1024 // code points per leaf
	leafFill = 768  // code points per leaf when building
	nodeMax  = 32   // children per node
)

// node is a leaf (children == nil) or an inner node. All leaves are at the
// same depth.
type node struct {
	size     int     // code points below this node
	runes    []rune  // leaf text; cap leafMax
	children []*node // inner node
}

// NewDocument returns a document holding text. Invalid UTF-8 bytes become
// U+FFFD, as in a Go range loop; callers should pass valid UTF-8.
func NewDocument(text string) *Document {
	d := &Document{}
	d.build([]rune(text))
	return d
}

// build replaces the tree with a balanced one holding text.
func (d *Document) build(text []rune) {
	var level []*node
	for len(text) > 0 || len(level) == 0 {
		n := min(len(text), leafFill)
		leaf := &node{size: n, runes: make([]rune, n, leafMax)}
		copy(leaf.runes, text[:n])
		text = text[n:]
		level = append(level, leaf)
	}
	d.leaves = len(level)
	for len(level) > 1 {
		level = group(level, nodeMax*3/4)
	}
	d.root = level[0]
}

// group puts nodes under new parents with at most per children each.
func group(nodes []*node, per int) []*node {
	var parents []*node
	for len(nodes) > 0 {
		n := min(len(nodes), per)
		p := &node{children: append(make([]*node, 0, nodeMax+1), nodes[:n]...)}
		for _, c := range nodes[:n] {
			p.size += c.size
		}
		parents = append(parents, p)
		nodes = nodes[n:]
	}
	return parents
}

// Len is the length of the text in code points.
func (d *Document) Len() int { return d.root.size }

// String returns the text, in one allocation of its exact size: it is
// what a server snapshots and sends to joiners, and a million code points
// with a few in every line above U+007F took two (a second of twice the
// first's size), and twice the time, written a code point at a time.
func (d *Document) String() string {
	return d.slice(0, d.Len())
}

// walk calls fn with the runs of code points that make up [start, end), in
// order, until fn returns false.
func (d *Document) walk(start, end int, fn func([]rune) bool) {
	walkNode(d.root, start, end, fn)
}

func walkNode(nd *node, start, end int, fn func([]rune) bool) bool {
	if nd.children == nil {
		return fn(nd.runes[start:end])
	}
	for _, c := range nd.children {
		if start < c.size && end > 0 {
			if !walkNode(c, max(start, 0), min(end, c.size), fn) {
				return false
			}
		}
		start -= c.size
		end -= c.size
		if end <= 0 {
			break
		}
	}
	return true
}

// Apply applies op in place, with the same result and errors as Apply on the
// document's text. On error the document is unchanged.
func (d *Document) Apply(op Op) error {
	if err := d.check(op); err != nil {
		return err
	}
	pos := 0
	for _, c := range op {
		switch c.kind() {
		case kindSkip:
			pos += c.Skip
		case kindInsert:
			n := d.insert(pos, c.Insert)
			pos += n
		case kindDelete:
			d.delete(pos, c.Delete)
		}
	}
	if d.leaves > 16+4*d.Len()/leafFill {
		// Deletes left many small leaves that merging did not catch.
		d.compact()
	}
	return nil
}

// compact rebuilds a balanced tree. Its O(n) cost is paid for by the Ω(n)
// edits it takes to make the tree this sparse again.
func (d *Document) compact() {
	all := make([]rune, 0, d.Len())
	d.walk(0, d.Len(), func(rs []rune) bool {
		all = append(all, rs...)
		return true
	})
	d.build(all)
}

// Check returns the error Apply would return for op without applying it:
// nil when op fits the document and each delete that carries its text names
// the text there. It costs O(components × log n) plus the deleted text, not
// the document's length.
func (d *Document) Check(op Op) error { return d.check(op) }

// check verifies that op fits the document, including deleted text.
func (d *Document) check(op Op) error {
	n := d.Len()
	pos := 0
	for i, c := range op {
		if err := checkComponent(c); err != nil {
			return malformed(i, err)
		}
		switch c.kind() {
		case kindSkip:
			if c.Skip > n-pos {
				return errPastEnd("skip", pos, c.Skip, n)
			}
			pos += c.Skip
		case kindDelete:
			if c.Delete > n-pos {
				return errPastEnd("delete", pos, c.Delete, n)
			}
			if c.DelText != "" && !d.matches(pos, c.DelText) {
				return errMismatch(pos, c.DelText, d.slice(pos, pos+c.Delete))
			}
			pos += c.Delete
		}
	}
	return nil
}

// matches reports whether text (valid UTF-8, fitting the document) is the
// document's text at pos, without allocating.
func (d *Document) matches(pos int, text string) bool {
	i := 0 // byte offset in text
	ok := true
	d.walk(pos, pos+utf8.RuneCountInString(text), func(rs []rune) bool {
		for _, r := range rs {
			got, size := utf8.DecodeRuneInString(text[i:])
			if got != r {
				ok = false
				return false
			}
			i += size
		}
		return true
	})
	return ok
}

// Slice returns the n code points at pos, copying only them (String copies
// the whole text), and false when they do not all fit the document.
func (d *Document) Slice(pos, n int) (string, bool) {
	if pos < 0 || n < 0 || n > d.Len()-pos {
		return "", false
	}
	return d.slice(pos, pos+n), true
}

// slice returns the text between code point positions start and end.
func (d *Document) slice(start, end int) string {
	n := 0
	d.walk(start, end, func(rs []rune) bool {
		for _, r := range rs {
			if r < utf8.RuneSelf {
				n++
			} else {
				n += runeBytes(r)
			}
		}
		return true
	})
	var b strings.Builder
	b.Grow(n)
	d.walk(start, end, func(rs []rune) bool {
		var buf [4 * leafMax]byte // A leaf, encoded.
		for len(rs) > 0 {
			part := rs[:min(len(rs), leafMax)]
			rs = rs[len(part):]
			k := 0
			for _, r := range part {
				if r < utf8.RuneSelf {
					buf[k] = byte(r)
					k++
				} else {
					k += utf8.EncodeRune(buf[k:], r)
				}
			}
			b.Write(buf[:k])
		}
		return true
	})
	return b.String()
}

// runeBytes is how many bytes utf8.EncodeRune writes for r: U+FFFD's
// three for a rune that is not valid.
func runeBytes(r rune) int {
	if n := utf8.RuneLen(r); n > 0 {
		return n
	}
	return 3
}

// insert puts text at pos and returns its length in code points.
func (d *Document) insert(pos int, text string) int {
	rs := d.scratch[:0]
	for _, r := range text {
		rs = append(rs, r)
	}
	d.scratch = rs
	if extra := d.insertNode(d.root, pos, rs); len(extra) > 0 {
		// The root split: the tree grows a level (or more, for a huge insert).
		level := append([]*node{d.root}, extra...)
		for len(level) > 1 {
			level = group(level, nodeMax)
		}
		d.root = level[0]
	}
	if cap(rs) > 1<<16 {
		d.scratch = nil // do not keep a big paste's buffer alive
	}
	return len(rs)
}

// insertNode inserts text at pos below nd. When nd overflows it keeps the
// first part and returns the new siblings that follow it.
func (d *Document) insertNode(nd *node, pos int, text []rune) []*node {
	nd.size += len(text)
	if nd.children == nil {
		return d.insertLeaf(nd, pos, text)
	}
	i := 0
	for ; i < len(nd.children)-1 && pos > nd.children[i].size; i++ {
		pos -= nd.children[i].size
	}
	extra := d.insertNode(nd.children[i], pos, text)
	if len(extra) == 0 {
		return nil
	}
	nd.children = insertAt(nd.children, i+1, extra)
	if len(nd.children) <= nodeMax {
		return nil
	}
	parts := group(nd.children, nodeMax/2)
	nd.children, nd.size = parts[0].children, parts[0].size
	return parts[1:]
}

func insertAt(s []*node, i int, add []*node) []*node {
	s = append(s, add...)
	copy(s[i+len(add):], s[i:len(s)-len(add)])
	copy(s[i:], add)
	return s
}

// insertLeaf inserts into a leaf, splitting it when it overflows.
func (d *Document) insertLeaf(nd *node, pos int, text []rune) []*node {
	old := len(nd.runes)
	if old+len(text) <= leafMax {
		nd.runes = nd.runes[:old+len(text)]
		copy(nd.runes[pos+len(text):], nd.runes[pos:old])
		copy(nd.runes[pos:], text)
		return nil
	}
	all := make([]rune, 0, old+len(text))
	all = append(append(append(all, nd.runes[:pos]...), text...), nd.runes[pos:old]...)
	n := min(len(all), leafFill)
	nd.runes = append(nd.runes[:0], all[:n]...)
	nd.size = n
	var extra []*node
	for all = all[n:]; len(all) > 0; {
		n := min(len(all), leafFill)
		leaf := &node{size: n, runes: make([]rune, n, leafMax)}
		copy(leaf.runes, all[:n])
		all = all[n:]
		extra = append(extra, leaf)
	}
	d.leaves += len(extra)
	return extra
}

// delete removes n code points at pos.
func (d *Document) delete(pos, n int) {
	d.deleteNode(d.root, pos, pos+n)
	for d.root.children != nil && len(d.root.children) == 1 {
		d.root = d.root.children[0]
	}
	if d.root.children != nil && len(d.root.children) == 0 {
		d.root = &node{runes: make([]rune, 0, leafMax)}
		d.leaves = 1
	}
}

// deleteNode removes [start, end) below nd, dropping emptied children and
// merging small neighbouring leaves.
func (d *Document) deleteNode(nd *node, start, end int) {
	nd.size -= end - start
	if nd.children == nil {
		nd.runes = append(nd.runes[:start], nd.runes[end:]...)
		return
	}
	kept := nd.children[:0]
	for _, c := range nd.children {
		size := c.size
		if start < size && end > 0 {
			d.deleteNode(c, max(start, 0), min(end, size))
		}
		start -= size
		end -= size
		switch {
		case c.size > 0:
			kept = d.appendMerging(kept, c)
		case c.children == nil:
			d.leaves--
		}
	}
	clear(nd.children[len(kept):])
	nd.children = kept
}

// appendMerging appends c to kept, merging it into the previous leaf when
// both are leaves and together fit in half a leaf.
func (d *Document) appendMerging(kept []*node, c *node) []*node {
	if n := len(kept); n > 0 && c.children == nil {
		prev := kept[n-1]
		if prev.children == nil && prev.size+c.size <= leafMax/2 {
			prev.runes = append(prev.runes, c.runes...)
			prev.size += c.size
			d.leaves--
			return kept
		}
	}
	return append(kept, c)
}
