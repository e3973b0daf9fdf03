package main

import (
	"math/rand/v2"
	"strings"
)

// edit is one simulated keystroke or paste: delete del code points at pos,
// then insert ins at pos. Exactly one of del and ins is set.
type edit struct {
	pos int
	del int
	ins string
}

// typist invents edits like a person typing: mostly single characters at a
// caret that wanders now and then, some backspaces, an occasional emoji and,
// rarely, a multi-line paste. It keeps the document near maxLen code points by
// deleting more once it is longer. Not safe for concurrent use.
type typist struct {
	rng    *rand.Rand
	maxLen int
	caret  int
}

func newTypist(seed uint64, maxLen int) *typist {
	return &typist{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), maxLen: maxLen}
}

const letters = "abcdefghijklmnopqrstuvwxyz      eeeettaaoinshr.,\n"

var emoji = []string{"😀", "👍🏽", "🎉", "👩‍💻", "é", "ñ", "中", "🇫🇷"}

// next returns an edit that fits a document of n code points.
func (t *typist) next(n int) edit {
	if t.caret > n || t.rng.IntN(20) == 0 {
		t.caret = t.rng.IntN(n + 1) // Click somewhere else.
	}
	r := t.rng.IntN(1000)
	deleteBias, pasteAt := 120, 990
	if n > t.maxLen {
		deleteBias, pasteAt = 700, 1000 // Shrink: more deletions, no pastes.
	}
	switch {
	case n > 0 && r < deleteBias:
		return t.backspace(n)
	case r >= pasteAt:
		return t.paste()
	case r >= 950:
		e := edit{pos: t.caret, ins: emoji[t.rng.IntN(len(emoji))]}
		t.caret += runeLen(e.ins)
		return e
	default:
		e := edit{pos: t.caret, ins: string(letters[t.rng.IntN(len(letters))])}
		t.caret++
		return e
	}
}

func (t *typist) backspace(n int) edit {
	k := 1 + t.rng.IntN(3)
	if t.rng.IntN(20) == 0 {
		k = 1 + t.rng.IntN(40) // Select a word or a line and delete it.
	}
	if t.caret == 0 {
		t.caret = t.rng.IntN(n) + 1
	}
	k = min(k, t.caret)
	t.caret -= k
	return edit{pos: t.caret, del: k}
}

func (t *typist) paste() edit {
	var b strings.Builder
	lines := 2 + t.rng.IntN(8)
	for i := 0; i < lines; i++ {
		w := 3 + t.rng.IntN(12)
		for j := 0; j < w; j++ {
			b.WriteString(strings.Repeat(string(letters[t.rng.IntN(26)]), 1+t.rng.IntN(6)))
			b.WriteByte(' ')
		}
		if t.rng.IntN(4) == 0 {
			b.WriteString(emoji[t.rng.IntN(len(emoji))])
		}
		b.WriteByte('\n')
	}
	e := edit{pos: t.caret, ins: b.String()}
	t.caret += runeLen(e.ins)
	return e
}

func runeLen(s string) int {
	n := 0
	for range s {
		n++
	}
	return n
}
