package ot

import (
	"strings"
	"unicode/utf8"
)

// gapBuffer is the alternative to Document that BenchmarkDocumentKinds
// measures: a gap buffer of code points. An op costs its own size plus the
// distance between the places it edits and the previous edit, which is fast
// for one typist and O(document) per op for two people editing far apart.
type gapBuffer struct {
	buf      []rune // text before the gap, the gap, text after the gap
	gapStart int
	gapEnd   int
}

// newGapBuffer returns a gap buffer holding text.
func newGapBuffer(text string) *gapBuffer {
	n := utf8.RuneCountInString(text)
	buf := make([]rune, n+minGap(n))
	i := 0
	for _, r := range text {
		buf[i] = r
		i++
	}
	return &gapBuffer{buf: buf, gapStart: n, gapEnd: len(buf)}
}

func minGap(n int) int { return max(64, n/4) }

// Len is the length of the text in code points.
func (d *gapBuffer) Len() int { return len(d.buf) - (d.gapEnd - d.gapStart) }

// String returns the text.
func (d *gapBuffer) String() string {
	var b strings.Builder
	b.Grow(d.Len())
	for _, r := range d.buf[:d.gapStart] {
		b.WriteRune(r)
	}
	for _, r := range d.buf[d.gapEnd:] {
		b.WriteRune(r)
	}
	return b.String()
}

// at returns the code point at position i (0 <= i < Len).
func (d *gapBuffer) at(i int) rune {
	if i < d.gapStart {
		return d.buf[i]
	}
	return d.buf[i+d.gapEnd-d.gapStart]
}

// Apply applies op in place like Document.Apply.
func (d *gapBuffer) Apply(op Op) error {
	if err := d.check(op); err != nil {
		return err
	}
	pos := 0
	for _, c := range op {
		switch c.kind() {
		case kindSkip:
			pos += c.Skip
		case kindInsert:
			d.insert(pos, c.Insert)
			pos += utf8.RuneCountInString(c.Insert)
		case kindDelete:
			d.moveGap(pos)
			d.gapEnd += c.Delete
		}
	}
	return nil
}

// check verifies that op fits the document, including deleted text.
func (d *gapBuffer) check(op Op) error {
	if err := checkShape(op); err != nil {
		return err
	}
	n := d.Len()
	pos := 0
	for _, c := range op {
		switch c.kind() {
		case kindSkip:
			if pos+c.Skip > n {
				return errPastEnd("skip", pos, c.Skip, n)
			}
			pos += c.Skip
		case kindDelete:
			if pos+c.Delete > n {
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

func (d *gapBuffer) matches(pos int, text string) bool {
	for _, r := range text {
		if d.at(pos) != r {
			return false
		}
		pos++
	}
	return true
}

// slice returns the text between code point positions start and end.
func (d *gapBuffer) slice(start, end int) string {
	var b strings.Builder
	for i := start; i < end; i++ {
		b.WriteRune(d.at(i))
	}
	return b.String()
}

// insert puts text at pos.
func (d *gapBuffer) insert(pos int, text string) {
	n := utf8.RuneCountInString(text)
	d.moveGap(pos)
	if d.gapEnd-d.gapStart < n {
		d.grow(n)
	}
	for _, r := range text {
		d.buf[d.gapStart] = r
		d.gapStart++
	}
}

// moveGap moves the gap so that it starts at pos.
func (d *gapBuffer) moveGap(pos int) {
	switch {
	case pos < d.gapStart:
		n := d.gapStart - pos
		copy(d.buf[d.gapEnd-n:d.gapEnd], d.buf[pos:d.gapStart])
		d.gapStart -= n
		d.gapEnd -= n
	case pos > d.gapStart:
		n := pos - d.gapStart
		copy(d.buf[d.gapStart:d.gapStart+n], d.buf[d.gapEnd:d.gapEnd+n])
		d.gapStart += n
		d.gapEnd += n
	}
}

// grow makes room for at least n more code points in the gap.
func (d *gapBuffer) grow(n int) {
	size := d.Len() + n
	buf := make([]rune, size+minGap(size))
	copy(buf, d.buf[:d.gapStart])
	tail := len(d.buf) - d.gapEnd
	copy(buf[len(buf)-tail:], d.buf[d.gapEnd:])
	d.gapEnd = len(buf) - tail
	d.buf = buf
}
