package web

// The pages on a phone and a tablet: Chromium emulating a touch screen 360
// and 768 CSS pixels wide (mobile, meta viewport honoured), in both colour
// schemes.

import (
	"net/url"
	"testing"
)

// phoneSizes are a small phone's screen and a tablet's, in CSS pixels.
var phoneSizes = [][2]int64{{360, 740}, {768, 1024}}

func TestPagesOnPhone(t *testing.T) {
	env := newEnv(t, nil)
	b := newBrowser(t)

	t.Run("LongNamesKeepTheirLabelsInTheEditor", func(t *testing.T) { testPhoneLabels(t, env, b) })
}

// phoneTab opens url in a tab emulating a touch screen of size, preferring
// scheme ("light" or "dark").
func phoneTab(t *testing.T, b *browser, size [2]int64, scheme, url string) *tab {
	t.Helper()
	tb := b.open(t, "about:blank")
	tb.viewport(t, size[0], size[1])
	tb.touch(t)
	tb.prefers(t, scheme)
	tb.navigate(t, url)
	return tb
}

// testPhoneLabels: a peer's caret name label is cut short rather than run
// off the editor's right edge (and over the whole line above) when the
// name is long and the screen narrow.
func testPhoneLabels(t *testing.T, env *testEnv, b *browser) {
	id := env.create("phone-labels", "# Notes\n\nSome text that wraps on a phone.\n")
	long := url.QueryEscape("Maximilian Alexander Featherstonehaugh-Cholmondeley")
	peer := b.open(t, env.url+"/d/"+id+"?name="+long)
	peer.waitSaved(t)
	peer.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.toString().indexOf('text')}}), folio.view.focus()`)
	for _, page := range []string{"/d/", "/embed/"} {
		tab := phoneTab(t, b, phoneSizes[0], "light", env.url+page+id+"?name=Pat")
		tab.waitSaved(t)
		tab.waitJS(t, page+": the long name's label within the editor, the page within the screen", `(labels => labels.length > 0 &&
			labels.every(l => (r => r.left >= 0 && r.right <= document.querySelector('.cm-content').getBoundingClientRect().right)(
				l.getBoundingClientRect()))
		)([...document.querySelectorAll('.cm-remote-label')]) && document.scrollingElement.scrollWidth <= innerWidth`)
	}
}
