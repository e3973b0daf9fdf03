package web

import (
	"fmt"
	"strings"
	"testing"
)

// The CDP key modifiers tab.key takes.
const (
	alt   = 1
	ctrl  = 2
	shift = 8
)

// keyStep is one key press of a key test, and the text it should leave.
type keyStep struct {
	what          string
	key, code     string
	vk, modifiers int64
	want          string // with "\n" line breaks (testUndoCaret: and "^" at the caret)
}

// press presses s's key in tab.
func press(t *testing.T, tab *tab, s keyStep) {
	t.Helper()
	ctx, cancel := tab.bounded()
	defer cancel()
	if err := tab.key(ctx, s.key, s.code, s.vk, s.modifiers); err != nil {
		t.Fatalf("%s: %v", s.what, err)
	}
}

// testLineCommands: the keys that move, copy and delete lines, and
// Backspace and Delete at a line break, do in a document with "\r\n" line
// breaks what they do in one with "\n": every line break stays whole and of
// the document's kind, also when a line moves past the last one (which has
// no "\r"). Each step is checked in the stored text, read over REST.
func testLineCommands(t *testing.T, env *testEnv, b *browser) {
	steps := []keyStep{
		{"Alt+ArrowDown", "ArrowDown", "ArrowDown", 40, alt, "beta\nalpha\ngamma"},
		{"Alt+ArrowDown past the last line", "ArrowDown", "ArrowDown", 40, alt, "beta\ngamma\nalpha"},
		{"Alt+ArrowUp from the last line", "ArrowUp", "ArrowUp", 38, alt, "beta\nalpha\ngamma"},
		{"Shift+Alt+ArrowDown", "ArrowDown", "ArrowDown", 40, shift | alt, "beta\nalpha\nalpha\ngamma"},
		{"Ctrl+Shift+K", "K", "KeyK", 75, ctrl | shift, "beta\nalpha\ngamma"},
		{"Shift+Alt+ArrowDown on the last line", "ArrowDown", "ArrowDown", 40, shift | alt, "beta\nalpha\ngamma\ngamma"},
		{"Home", "Home", "Home", 36, 0, "beta\nalpha\ngamma\ngamma"},
		{"Backspace at the start of a line", "Backspace", "Backspace", 8, 0, "beta\nalpha\ngammagamma"},
		{"Home", "Home", "Home", 36, 0, "beta\nalpha\ngammagamma"},
		{"ArrowLeft to the end of the line above", "ArrowLeft", "ArrowLeft", 37, 0, "beta\nalpha\ngammagamma"},
		{"Delete at the end of a line", "Delete", "Delete", 46, 0, "beta\nalphagammagamma"},
	}
	for _, br := range []string{"\n", "\r\n"} {
		id := env.create(fmt.Sprintf("line-keys-%d", len(br)), strings.ReplaceAll("alpha\nbeta\ngamma", "\n", br))
		tab := b.open(t, env.url+"/d/"+id)
		tab.waitSaved(t)
		tab.eval(t, `folio.view.dispatch({selection: {anchor: 2}}), folio.view.focus()`) // In "alpha".
		for _, s := range steps {
			press(t, tab, s)
			t.Logf("%q: %s", br, s.what)
			converged(t, env, id, strings.ReplaceAll(s.want, "\n", br), tab)
		}
	}
}

// testUndoCaret: Ctrl+Z and Ctrl+Shift+Z leave the caret where they leave
// it in a document with "\n" line breaks, never between a "\r" and its
// "\n" (undo and redo skip the editor's transaction filters). Redoing
// Ctrl+Shift+K put it there, and redoing Alt+ArrowUp at the end of a line
// left it where the command put it, while at an LF line's end it follows
// the line moved down.
func testUndoCaret(t *testing.T, env *testEnv, b *browser) {
	for _, c := range []struct {
		name, text string // text: with "\n" line breaks and "^" at the caret
		steps      []keyStep
	}{
		{"delete-line", "a\n^b\nc", []keyStep{
			{"Ctrl+Shift+K", "K", "KeyK", 75, ctrl | shift, "a\n^c"},
			{"Ctrl+Z", "z", "KeyZ", 90, ctrl, "a\n^b\nc"},
			{"Ctrl+Shift+Z", "Z", "KeyZ", 90, ctrl | shift, "a^\nc"},
		}},
		{"move-line", "a\nb^\nc", []keyStep{
			{"Alt+ArrowUp", "ArrowUp", "ArrowUp", 38, alt, "b^\na\nc"},
			{"Ctrl+Z", "z", "KeyZ", 90, ctrl, "a\nb^\nc"},
			{"Ctrl+Shift+Z", "Z", "KeyZ", 90, ctrl | shift, "b\na^\nc"},
		}},
	} {
		for _, br := range []string{"\n", "\r\n"} {
			text := strings.ReplaceAll(c.text, "\n", br)
			id := env.create(fmt.Sprintf("undo-caret-%s-%d", c.name, len(br)), strings.Replace(text, "^", "", 1))
			tab := b.open(t, env.url+"/d/"+id)
			tab.waitSaved(t)
			tab.eval(t, fmt.Sprintf(`folio.view.dispatch({selection: {anchor: %d}}), folio.view.focus()`, strings.Index(text, "^")))
			for _, s := range c.steps {
				press(t, tab, s)
				want := strings.ReplaceAll(s.want, "\n", br)
				caret := strings.Index(want, "^")
				converged(t, env, id, strings.Replace(want, "^", "", 1), tab)
				tab.waitJS(t, fmt.Sprintf("%s %q: the caret at %d after %s", c.name, br, caret, s.what),
					fmt.Sprintf(`folio.view.state.selection.main.empty && folio.view.state.selection.main.head === %d`, caret))
			}
		}
	}
}

// testMixedEnter: in a document whose first line ends in "\n" and the
// others in "\r\n" (lines pasted in from elsewhere), Enter makes the line
// break of the line it is pressed on, not the first line's: "\r\n" on line
// 5, "\n" on line 1. Each step is checked in the stored text, read over REST.
func testMixedEnter(t *testing.T, env *testEnv, b *browser) {
	id := env.create("mixed-enter", "one\ntwo\r\nthree\r\nfour\r\nfive\r\nsix")
	tab := b.open(t, env.url+"/d/"+id)
	tab.waitSaved(t)
	for _, s := range []struct {
		line int
		want string
	}{
		{5, "one\ntwo\r\nthree\r\nfour\r\nfi\r\nve\r\nsix"},
		{1, "on\ne\ntwo\r\nthree\r\nfour\r\nfi\r\nve\r\nsix"},
	} {
		tab.eval(t, fmt.Sprintf(`folio.view.dispatch({selection: {anchor: folio.view.state.doc.line(%d).from + 2}}), folio.view.focus()`, s.line))
		press(t, tab, keyStep{what: fmt.Sprintf("Enter on line %d", s.line), key: "Enter", code: "Enter", vk: 13})
		converged(t, env, id, s.want, tab)
	}
}
