package ot

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Diff returns a normalized op that turns oldText into newText, small when
// the change is small, so that a concurrent edit in text both share keeps its
// neighbours. Each run of changes between retained text is one delete
// carrying the old text followed by one insert. Applying the op to oldText
// gives newText byte for byte when both are valid UTF-8; Diff never panics.
//
// The op is a shortest edit script in code points (Myers' O(ND) algorithm)
// in which a retained stretch of at most 3 code points between two changes,
// and no longer than either, is folded into them (two unrelated sentences
// share scattered letters; retaining them makes dozens of components). So it
// inserts and deletes at most 3 times the fewest code points possible, and
// exactly the fewest when every retained stretch between two changes is
// longer than 3 code points or than one of the two changes.
//
// That holds within a bounded amount of work (see diffLimits), which keeps
// two unrelated 2,000,000 code point texts to tens of milliseconds. Past the
// budget the middle (after the common prefix and suffix) is diffed by lines,
// and each changed block of lines is refined by code points as above,
// smallest first, while a second budget lasts; a block it does not cover,
// or the whole middle when even the line diff is too costly, is replaced
// whole.
func Diff(oldText, newText string) Op {
	return diffWith(oldText, newText, diffDefaults())
}

// diffLimits bounds Diff's work, in steps of Myers' algorithm (one step is a
// diagonal visited or a code point or line compared; a step is a few
// nanoseconds). diffDefaults keep the worst case under about 100 ms on one
// core (docs/performance.md) while 100,000 code points with scattered edits
// stay within the first.
type diffLimits struct {
	runes int // the first attempt: the whole middle by code points
	lines int // the fallback's line diff
	hunks int // refining the line diff's changed blocks, shared by all
}

func diffDefaults() diffLimits {
	return diffLimits{runes: 1 << 22, lines: 1 << 21, hunks: 1 << 22}
}

func diffWith(oldText, newText string, lim diffLimits) Op {
	p := commonPrefix(oldText, newText)
	s := commonSuffix(oldText[p:], newText[p:])
	whole := block{old: oldText[p : len(oldText)-s], new: newText[p : len(newText)-s]}
	var e emitter
	if _, ok := whole.refine(lim.runes); !ok {
		// Diff whole lines: widen the middle to the start of its first line
		// and the end of its last.
		lp, ls := strings.LastIndexByte(oldText[:p], '\n')+1, 0
		if i := strings.IndexByte(oldText[len(oldText)-s:], '\n'); i >= 0 {
			ls = s - i - 1
		}
		blocks, ok := diffLines(oldText[lp:len(oldText)-ls], newText[lp:len(newText)-ls], lim.lines)
		if ok {
			refineAll(blocks, lim.hunks)
			e.keep(utf8.RuneCountInString(oldText[:lp]))
			for i := range blocks {
				e.block(&blocks[i])
			}
			return e.done()
		}
	}
	e.keep(utf8.RuneCountInString(oldText[:p]))
	e.block(&whole)
	return e.done()
}

// block is a stretch of both texts: either retained text (same, old == new),
// or a change, refined into a code point script (runs over a and b) or, when
// runs is nil, replaced whole.
type block struct {
	old, new string
	same     bool
	a, b     []int32 // old and new as symbols, when refined
	runs     []run
}

// refine computes the block's script within budget steps, reports whether
// it did and returns the steps left.
func (bl *block) refine(budget int) (int, bool) {
	if bl.old == "" || bl.new == "" {
		return budget, true // a pure insert or delete: nothing to refine
	}
	d := differ{budget: budget}
	a, b := symbols(bl.old), symbols(bl.new)
	d.diff(a, b)
	if d.failed {
		return d.budget, false
	}
	bl.a, bl.b, bl.runs = a, b, foldChaff(d.runs)
	return d.budget, true
}

// refineAll refines the changed blocks, smallest first, while the shared
// budget lasts; a block that does not fit in what is left is replaced whole.
func refineAll(blocks []block, budget int) {
	var order []int
	for i := range blocks {
		if !blocks[i].same {
			order = append(order, i)
		}
	}
	size := func(i int) int { return len(blocks[i].old) + len(blocks[i].new) }
	slices.SortStableFunc(order, func(x, y int) int { return size(x) - size(y) })
	for _, i := range order {
		if budget, _ = blocks[i].refine(budget); budget <= 0 {
			return
		}
	}
}

// diffLines splits the texts into lines (each with its '\n'), diffs the
// lines within budget steps and returns the texts as alternating retained and
// changed blocks.
func diffLines(oldText, newText string, budget int) ([]block, bool) {
	la, lb := splitLines(oldText), splitLines(newText)
	ids := make(map[string]int32, len(la)+len(lb))
	d := differ{budget: budget - len(la) - len(lb)}
	a, b := intern(la, ids), intern(lb, ids)
	if d.budget <= 0 {
		return nil, false
	}
	d.diff(a, b)
	if d.failed {
		return nil, false
	}
	var blocks []block
	oi, ni := 0, 0 // byte offsets in oldText and newText
	i, j := 0, 0   // line indices
	cur := -1      // index of the change block being gathered
	for _, r := range d.runs {
		switch r.kind {
		case runEqual:
			size := bytesOf(la[i : i+r.n])
			blocks = append(blocks, block{old: oldText[oi : oi+size], new: oldText[oi : oi+size], same: true})
			cur = -1
			oi, ni, i, j = oi+size, ni+bytesOf(lb[j:j+r.n]), i+r.n, j+r.n
			continue
		}
		if cur < 0 {
			blocks = append(blocks, block{})
			cur = len(blocks) - 1
		}
		bl := &blocks[cur]
		if r.kind == runDelete {
			size := bytesOf(la[i : i+r.n])
			bl.old = oldText[oi-len(bl.old) : oi+size]
			oi, i = oi+size, i+r.n
		} else {
			size := bytesOf(lb[j : j+r.n])
			bl.new = newText[ni-len(bl.new) : ni+size]
			ni, j = ni+size, j+r.n
		}
	}
	return blocks, true
}

func bytesOf(lines []string) int {
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	return n
}

// splitLines cuts s after each '\n'; the last line may lack one.
func splitLines(s string) []string {
	lines := make([]string, 0, strings.Count(s, "\n")+1)
	for s != "" {
		i := strings.IndexByte(s, '\n') + 1
		if i == 0 {
			i = len(s)
		}
		lines = append(lines, s[:i])
		s = s[i:]
	}
	return lines
}

// intern numbers lines so that equal lines get equal numbers.
func intern(lines []string, ids map[string]int32) []int32 {
	out := make([]int32, len(lines))
	for i, l := range lines {
		id, ok := ids[l]
		if !ok {
			id = int32(len(ids))
			ids[l] = id
		}
		out[i] = id
	}
	return out
}

// symbols decodes s into one symbol per code point as Apply counts them: a
// valid rune is itself, a byte of invalid UTF-8 is -1-byte, so encode gives
// back s exactly.
func symbols(s string) []int32 {
	out := make([]int32, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			out = append(out, int32(c))
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, -1-int32(c))
		} else {
			out = append(out, r)
		}
		i += size
	}
	return out
}

func encode(syms []int32) string {
	buf := make([]byte, 0, len(syms))
	for _, r := range syms {
		if r < 0 {
			buf = append(buf, byte(-1-r))
		} else {
			buf = utf8.AppendRune(buf, r)
		}
	}
	return string(buf)
}

// emitter turns blocks into a normalized op: the deletes and inserts between
// two retained stretches become one delete followed by one insert.
type emitter struct {
	b        builder
	del, ins strings.Builder
}

func (e *emitter) keep(n int) {
	if n > 0 {
		e.flush()
		e.b.skip(n)
	}
}

func (e *emitter) flush() {
	if e.del.Len() > 0 {
		e.b.push(Component{Delete: 1, DelText: e.del.String()}) // push recounts Delete
		e.del.Reset()
	}
	if e.ins.Len() > 0 {
		e.b.push(Component{Insert: e.ins.String()})
		e.ins.Reset()
	}
}

func (e *emitter) block(bl *block) {
	switch {
	case bl.same:
		e.keep(utf8.RuneCountInString(bl.old))
	case bl.runs == nil:
		e.del.WriteString(bl.old)
		e.ins.WriteString(bl.new)
	default:
		i, j := 0, 0
		for _, r := range bl.runs {
			switch r.kind {
			case runEqual:
				e.keep(r.n)
				i, j = i+r.n, j+r.n
			case runDelete:
				e.del.WriteString(encode(bl.a[i : i+r.n]))
				i += r.n
			case runInsert:
				e.ins.WriteString(encode(bl.b[j : j+r.n]))
				j += r.n
			}
		}
	}
}

func (e *emitter) done() Op {
	e.flush()
	return e.b.done()
}

// commonPrefix is the byte length of the longest common prefix of a and b
// that ends on a code point boundary of both.
func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	// Back up to the start of a rune that is equal in both.
	for i > 0 && i < len(a) && !utf8.RuneStart(a[i]) {
		i--
	}
	for i > 0 && i < len(b) && !utf8.RuneStart(b[i]) {
		i--
	}
	return i
}

// commonSuffix is the byte length of the longest common suffix of a and b
// that starts on a code point boundary of both.
func commonSuffix(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[len(a)-1-i] == b[len(b)-1-i] {
		i++
	}
	for i > 0 && !utf8.RuneStart(a[len(a)-i]) {
		i--
	}
	return i
}
