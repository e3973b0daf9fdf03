package web

// The pages on a phone and a tablet: Chromium emulating a touch screen 360
// and 768 CSS pixels wide (mobile, meta viewport honoured), in both colour
// schemes.

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// phoneSizes are a small phone's screen and a tablet's, in CSS pixels.
var phoneSizes = [][2]int64{{360, 740}, {768, 1024}}

func TestPagesOnPhone(t *testing.T) {
	env := newEnv(t, nil)
	proxy := newCutProxy(t, env.ts.Listener.Addr().String())
	b := newBrowser(t)

	t.Run("LongNamesKeepTheirLabelsInTheEditor", func(t *testing.T) { testPhoneLabels(t, env, b) })
	t.Run("LabelAtTheRightEdgeStaysInside", func(t *testing.T) { testLabelAtEdge(t, env, b) })
	t.Run("UnbrokenNameWrapsInPeopleList", func(t *testing.T) { testUnbrokenName(t, env, b) })
	t.Run("TouchTargetsFitAFinger", func(t *testing.T) { testTouchTargets(t, env, proxy, b) })
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

// testPhoneLabels: a peer's caret name label is cut short, to half the
// screen at most, rather than run off the editor's right edge or cover the
// whole line above when the name is long and the screen narrow.
func testPhoneLabels(t *testing.T, env *testEnv, b *browser) {
	id := env.create("phone-labels", "# Notes\n\nSome text that wraps on a phone.\n")
	long := url.QueryEscape("Maximilian Alexander Featherstonehaugh-Cholmondeley")
	peer := b.open(t, env.url+"/d/"+id+"?name="+long)
	peer.waitSaved(t)
	peer.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.toString().indexOf('text')}}), folio.view.focus()`)
	for _, page := range []string{"/d/", "/embed/"} {
		tab := phoneTab(t, b, phoneSizes[0], "light", env.url+page+id+"?name=Pat")
		tab.waitSaved(t)
		tab.waitJS(t, page+": the long name's label cut short within the editor, the page within the screen", `(labels => labels.length > 0 &&
			labels.every(l => (r => r.left >= 0 && r.width <= innerWidth / 2 &&
				r.right <= document.querySelector('.cm-content').getBoundingClientRect().right)(
				l.getBoundingClientRect()))
		)([...document.querySelectorAll('.cm-remote-label')]) && document.scrollingElement.scrollWidth <= innerWidth`)
	}
}

// smallTargets lists the page's visible controls (buttons, links, fields)
// smaller than 40 × 40 CSS pixels, too small for a finger, and its fields
// whose text is under 16px, into which iOS zooms when they get the focus.
const smallTargets = `[...document.querySelectorAll('button, a[href], input')].filter(e => e.checkVisibility() &&
	!e.closest('.visually-hidden')).flatMap(e => (r => [
		...(r.width < 40 || r.height < 40 ? [(e.id || e.textContent.trim() || e.tagName) + ' ' + Math.round(r.width) + 'x' + Math.round(r.height)] : []),
		...(e.tagName === 'BUTTON' && e.scrollWidth > e.clientWidth ? [(e.id || e.textContent.trim()) + ' cut short'] : []),
		...(e.tagName === 'INPUT' && e.type === 'text' && parseFloat(getComputedStyle(e).fontSize) < 16 ? [e.id + ' text ' + getComputedStyle(e).fontSize] : []),
	])(e.getBoundingClientRect())).join(', ')`

// testTouchTargets: on a touch screen, phone or tablet, light or dark,
// every control of the landing page, the editor (its side panel open), the
// read-only page, the editor and embed offline (Retry now) and an error page is at
// least 40px square, no field's text is small enough for iOS to zoom into
// it, and nothing is wider than the screen. The side panel's × grows
// without covering the field beside it.
func testTouchTargets(t *testing.T, env *testEnv, proxy *cutProxy, b *browser) {
	id := env.create("touch-targets", "Some text.\n")
	saved := `document.getElementById('status').dataset.state === 'saved'`
	pages := []struct{ name, path, ready string }{
		{"landing", "/", `document.getElementById('new-doc') !== null`},
		{"editor", "/d/" + id + "?name=Pat", saved + ` && document.getElementById('readonly-link').value !== ''`},
		{"read-only page", "/d/" + id + "?readonly=1&name=Vera", saved},
		{"error page", "/d/" + strings.Repeat("x", 80), `document.querySelector('.error-page') !== null`},
	}
	check := func(tab *tab, what string) {
		t.Helper()
		if small := tab.evalString(t, smallTargets); small != "" {
			t.Errorf("%s: too small for a finger: %s", what, small)
		}
		if w := tab.evalInt(t, `document.scrollingElement.scrollWidth - innerWidth`); w > 0 {
			t.Errorf("%s: %dpx wider than the screen", what, w)
		}
	}
	for _, size := range phoneSizes {
		for _, scheme := range []string{"light", "dark"} {
			for _, p := range pages {
				tab := phoneTab(t, b, size, scheme, env.url+p.path)
				what := fmt.Sprintf("%s at %dx%d, %s", p.name, size[0], size[1], scheme)
				tab.waitJS(t, what+" ready", p.ready)
				check(tab, what)
				if p.name == "editor" {
					tab.eval(t, `document.getElementById('panel-toggle').click()`)
					tab.waitJS(t, what+": the panel open", `document.querySelector('.app.panel-open') !== null`)
					check(tab, what+" with its panel open")
					// × at the sheet's top right leaves the colour beneath it to a tap.
					if tab.evalInt(t, `(c => (r => document.elementFromPoint(r.right - 4, r.top + 4) === c ? 1 : 0)(
						c.getBoundingClientRect()))(document.getElementById('user-color'))`) != 1 {
						t.Errorf("%s: × covers the colour field", what)
					}
				}
			}
		}
	}
	// Offline, Retry now joins the status (and, on the editor, People & share).
	var tabs []*tab
	for _, page := range []string{"/d/", "/embed/"} {
		tab := phoneTab(t, b, phoneSizes[0], "light", proxy.url+page+id+"?name=Emma")
		tab.waitSaved(t)
		tabs = append(tabs, tab)
	}
	proxy.cut()
	for _, tab := range tabs {
		tab.waitJS(t, "offline, Retry now shown", `!document.getElementById('retry-now').hidden`)
		check(tab, tab.url+" offline")
	}
	proxy.restore()
	for _, tab := range tabs {
		tab.waitSaved(t)
	}
}

// testUnbrokenName: a name of 64 letters without a space (the longest a
// name can be) wraps in the people list, on a phone's sheet and in a
// desktop's side panel, rather than run out of the panel.
func testUnbrokenName(t *testing.T, env *testEnv, b *browser) {
	id := env.create("unbroken-name", "text")
	name := strings.Repeat("W", 64)
	const fits = `(ul => ul.scrollWidth <= ul.clientWidth && ul.textContent.includes('WWWW') &&
		[...ul.querySelectorAll('li')].every(li => li.getBoundingClientRect().right <= ul.getBoundingClientRect().right))(
		document.getElementById('participants')) && document.scrollingElement.scrollWidth <= innerWidth`
	phone := phoneTab(t, b, phoneSizes[0], "light", env.url+"/d/"+id+"?name="+name)
	phone.waitSaved(t)
	phone.eval(t, `document.getElementById('panel-toggle').click()`)
	phone.waitJS(t, "the name wrapped on the phone's sheet", `document.querySelector('.app.panel-open') !== null && `+fits)
	desktop := b.open(t, env.url+"/d/"+id+"?name=Pat")
	desktop.waitSaved(t)
	desktop.waitJS(t, "the name wrapped in the desktop's side panel", `document.querySelectorAll('#participants li').length === 2 && `+fits)
}

// testLabelAtEdge: a peer's caret at the end of a line that fills
// a phone's width has its name label moved left to end at the editor's
// edge, rather than run past it, cut off, and make the text scroll
// sideways under a finger.
func testLabelAtEdge(t *testing.T, env *testEnv, b *browser) {
	id := env.create("label-at-edge", "# Notes\n\nabcdefghijklmnopqrstuvwxy\nshort\n")
	peer := b.open(t, env.url+"/d/"+id+"?name=Maximilian")
	peer.waitSaved(t)
	peer.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.toString().indexOf('y')}}), folio.view.focus()`)
	for _, page := range []string{"/d/", "/embed/"} {
		tab := phoneTab(t, b, phoneSizes[0], "light", env.url+page+id+"?name=Pat")
		tab.waitSaved(t)
		tab.waitJS(t, page+": the label inside the editor, no sideways scroll", `(s => (l => l !== null &&
			l.getBoundingClientRect().right <= s.getBoundingClientRect().left + s.clientWidth + 0.5 && s.scrollWidth <= s.clientWidth)(
			document.querySelector('.cm-remote-label')))(document.querySelector('.cm-scroller'))`)
	}
}
