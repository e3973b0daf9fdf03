package web

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// compose sets the text an input method is composing at the caret (as
// Japanese, Chinese or Korean input, a dead key or an Android keyboard
// does), with the IME's caret at its end; commit ends the composition with
// text, as choosing a candidate does.
func (tb *tab) compose(t *testing.T, text string) {
	t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	n := int64(utf8.RuneCountInString(text))
	if _, err := chromedp.Call(ctx, input.ImeSetComposition, input.ImeSetCompositionParams{Text: text, SelectionStart: n, SelectionEnd: n}); err != nil {
		t.Fatalf("%s: composing %q: %v", tb.url, text, err)
	}
}

func (tb *tab) commit(t *testing.T, text string) {
	t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	if _, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text}); err != nil {
		t.Fatalf("%s: committing %q: %v", tb.url, text, err)
	}
}

// testIMEComposition: while a user composes text with an input method,
// others' edits arrive before and after the composition; the composition
// goes on, its committed text lands where it was composed, once and
// without the candidates shown before it, and both tabs and the server end
// with the same text. In LF and CRLF documents, mid-line and at the end of
// a line (in a CRLF document, before the "\r").
func testIMEComposition(t *testing.T, env *testEnv, b *browser) {
	cases := []struct {
		name, text string
		caret      int // UTF-16 offset where the composition starts
		want       string
	}{
		{"lf-mid", "hello world", 6, "Ahello 日本worldZ"},
		{"lf-end", "hello\nworld", 5, "Ahello日本\nworldZ"},
		{"crlf-mid", "hello\r\nworld", 3, "Ahel日本lo\r\nworldZ"},
		{"crlf-end", "hello\r\nworld", 5, "Ahello日本\r\nworldZ"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := env.create("ime-"+c.name, c.text)
			ann := b.open(t, env.url+"/d/"+id)
			bob := b.open(t, env.url+"/d/"+id)
			ann.waitSaved(t)
			bob.waitSaved(t)
			ann.eval(t, fmt.Sprintf(`folio.view.dispatch({selection: {anchor: %d}}), folio.view.focus()`, c.caret))
			for _, s := range []string{"n", "に", "にほ"} {
				ann.compose(t, s)
			}
			ann.waitJS(t, "composing にほ", `folio.view.composing && folio.view.state.doc.toString().includes('にほ')`)
			remoteEditsAround(t, env, id)
			ann.waitJS(t, "the others' edits, still composing", `folio.view.composing &&
				folio.view.state.doc.toString().startsWith('A') && folio.view.state.doc.toString().endsWith('Z')`)
			ann.compose(t, "日本")
			ann.commit(t, "日本")
			ann.waitJS(t, "the composition ended", `!folio.view.composing`)
			converged(t, env, id, c.want, ann, bob)
		})
	}
}

// remoteEditsAround inserts "A" at the start and "Z" at the end of the
// server's text over REST, both on the version read.
func remoteEditsAround(t *testing.T, env *testEnv, id string) {
	t.Helper()
	r := env.get("/api/v1/docs/" + id + "/text")
	if r.status != http.StatusOK {
		t.Fatalf("text: %d %s", r.status, r.body)
	}
	v, err := strconv.ParseUint(r.header.Get("X-Folio-Version"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	env.postOp(id, v, `["A"]`)
	env.postOp(id, v, fmt.Sprintf(`[%d,"Z"]`, utf8.RuneCount(r.body)))
}
