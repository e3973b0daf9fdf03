package ot

// This file is Myers' O(ND) difference algorithm ("An O(ND) Difference
// Algorithm and Its Variations", 1986) in its linear-space form: find a point
// on a shortest edit path by running the greedy search from both ends until
// they overlap, then solve the two halves. The search follows the bisect of
// Neil Fraser's diff-match-patch. Work is counted against a budget so that
// the caller can fall back to something cheaper.

// runKind is what a run of an edit script does.
type runKind uint8

const (
	runEqual runKind = iota
	runDelete
	runInsert
)

// run is n symbols kept, deleted from a or inserted from b.
type run struct {
	kind runKind
	n    int
}

// differ computes the shortest edit script between two symbol sequences.
type differ struct {
	budget int   // steps left; at or below zero the search gives up
	failed bool  // the budget ran out: runs is incomplete
	runs   []run // the script so far, adjacent runs of one kind merged
	v1, v2 []int // scratch for bisect
}

func (d *differ) add(k runKind, n int) {
	if n <= 0 {
		return
	}
	if l := len(d.runs); l > 0 && d.runs[l-1].kind == k {
		d.runs[l-1].n += n
		return
	}
	d.runs = append(d.runs, run{k, n})
}

// diff appends a shortest script from a to b, or sets failed.
func (d *differ) diff(a, b []int32) {
	if d.failed {
		return
	}
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	a, b = a[p:], b[p:]
	s := 0
	for s < len(a) && s < len(b) && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	a, b = a[:len(a)-s], b[:len(b)-s]
	d.budget -= p + s + 1
	d.add(runEqual, p)
	d.middle(a, b)
	d.add(runEqual, s)
}

// middle handles a and b with no common prefix or suffix.
func (d *differ) middle(a, b []int32) {
	switch {
	case d.failed:
		return
	case len(a) == 0 || len(b) == 0:
		d.add(runDelete, len(a))
		d.add(runInsert, len(b))
		return
	}
	x, y, found := d.bisect(a, b)
	switch {
	case d.failed:
	case !found: // nothing in common
		d.add(runDelete, len(a))
		d.add(runInsert, len(b))
	case x < 0 || x > len(a) || y < 0 || y > len(b) || x+y == 0 || x+y == len(a)+len(b):
		d.failed = true // cannot happen; never loop or panic if it did
	default:
		d.diff(a[:x], b[:y])
		d.diff(a[x:], b[y:])
	}
}

// bisect returns a point (x, y) where a shortest path from (0, 0) to
// (len(a), len(b)) crosses, found false when a and b have nothing in common,
// or sets failed when the budget runs out first.
func (d *differ) bisect(a, b []int32) (x, y int, found bool) {
	n, m := len(a), len(b)
	maxD := (n + m + 1) / 2
	// Round d costs about 2d steps, so the budget ends near round
	// sqrt(budget): larger arrays would never be used.
	if lim := isqrt(d.budget) + 2; lim < maxD {
		maxD = lim
	}
	s := bisectState{a: a, b: b, off: maxD, delta: n - m}
	s.v1, s.v2 = grow(&d.v1, 2*maxD+2), grow(&d.v2, 2*maxD+2)
	s.v1[s.off+1], s.v2[s.off+1] = 0, 0
	for k := 0; k < maxD; k++ {
		d.budget -= 2*k + 1
		if d.budget <= 0 {
			d.failed = true
			return 0, 0, false
		}
		if x, y, ok := s.forward(k, &d.budget); ok {
			return x, y, true
		}
		if x, y, ok := s.backward(k, &d.budget); ok {
			return x, y, true
		}
	}
	if maxD < (n+m+1)/2 {
		d.failed = true // stopped by the budget, not by the search's end
	}
	return 0, 0, false
}

// bisectState holds the two searches of bisect: v1[off+k] is the furthest x
// reached from (0, 0) on diagonal k = x-y, v2[off+k] the furthest reached from
// (n, m) backwards, counting x from the end; -1 is not reached.
type bisectState struct {
	a, b           []int32
	off, delta     int
	v1, v2         []int
	k1start, k1end int // diagonals the forward search has left behind
	k2start, k2end int
}

// forward runs round d of the search from (0, 0) and reports a point where it
// overlaps the search from the end.
func (s *bisectState) forward(d int, budget *int) (int, int, bool) {
	n, m, front := len(s.a), len(s.b), s.delta%2 != 0
	for k := -d + s.k1start; k <= d-s.k1end; k += 2 {
		i := s.off + k
		var x int
		if k == -d || (k != d && s.v1[i-1] < s.v1[i+1]) {
			x = s.v1[i+1]
		} else {
			x = s.v1[i-1] + 1
		}
		y, x0 := x-k, x
		for x < n && y < m && s.a[x] == s.b[y] {
			x, y = x+1, y+1
		}
		*budget -= x - x0
		s.v1[i] = x
		switch {
		case x > n:
			s.k1end += 2
		case y > m:
			s.k1start += 2
		case front:
			j := s.off + s.delta - k
			if j >= 0 && j < len(s.v2) && s.v2[j] != -1 && x >= n-s.v2[j] {
				return x, y, true
			}
		}
	}
	return 0, 0, false
}

// backward runs round d of the search from (n, m).
func (s *bisectState) backward(d int, budget *int) (int, int, bool) {
	n, m, front := len(s.a), len(s.b), s.delta%2 != 0
	for k := -d + s.k2start; k <= d-s.k2end; k += 2 {
		i := s.off + k
		var x int
		if k == -d || (k != d && s.v2[i-1] < s.v2[i+1]) {
			x = s.v2[i+1]
		} else {
			x = s.v2[i-1] + 1
		}
		y, x0 := x-k, x
		for x < n && y < m && s.a[n-x-1] == s.b[m-y-1] {
			x, y = x+1, y+1
		}
		*budget -= x - x0
		s.v2[i] = x
		switch {
		case x > n:
			s.k2end += 2
		case y > m:
			s.k2start += 2
		case !front:
			j := s.off + s.delta - k
			if j >= 0 && j < len(s.v1) && s.v1[j] != -1 {
				x1 := s.v1[j]
				if x1 >= n-x {
					return x1, x1 - (j - s.off), true
				}
			}
		}
	}
	return 0, 0, false
}

// grow returns (*buf)[:n] filled with -1, reallocating when it is too short.
func grow(buf *[]int, n int) []int {
	if cap(*buf) < n {
		*buf = make([]int, n)
	}
	v := (*buf)[:n]
	for i := range v {
		v[i] = -1
	}
	return v
}

// isqrt is the integer square root of n, 0 for n <= 0.
func isqrt(n int) int {
	if n <= 0 {
		return 0
	}
	x := n
	y := (x + 1) / 2
	for y < x {
		x = y
		y = (x + n/x) / 2
	}
	return x
}

// chaffMax is the longest retained stretch between two changes that a
// script keeps: a minimal script between two unrelated sentences retains
// scattered single letters, which splits the op into dozens of components
// and scatters a concurrent cursor; foldChaff turns such stretches into
// part of the change.
const chaffMax = 3

// foldChaff returns runs with every equal run between two changes deleted and
// reinserted when it is at most chaffMax long and no longer than the larger
// side (deleted or inserted) of either neighbouring change in the original
// runs. Each fold costs at most twice the cost of the change before it, so
// the script costs at most three times as much as runs; a stretch longer than
// chaffMax is always kept.
func foldChaff(runs []run) []run {
	type change struct{ del, ins int }
	var changes []change // changes[i] is before equal run eqs[i], changes[i+1] after it
	var eqs []int
	var cur change
	for _, r := range runs {
		switch r.kind {
		case runEqual:
			changes, eqs, cur = append(changes, cur), append(eqs, r.n), change{}
		case runDelete:
			cur.del += r.n
		case runInsert:
			cur.ins += r.n
		}
	}
	changes = append(changes, cur)
	out := make([]run, 0, len(runs))
	push := func(k runKind, n int) {
		if n > 0 {
			out = append(out, run{k, n})
		}
	}
	for i, c := range changes {
		push(runDelete, c.del)
		push(runInsert, c.ins)
		if i == len(eqs) {
			break
		}
		next, e := changes[i+1], eqs[i]
		if e <= min(chaffMax, max(c.del, c.ins), max(next.del, next.ins)) {
			push(runDelete, e)
			push(runInsert, e)
		} else {
			push(runEqual, e)
		}
	}
	return out
}
