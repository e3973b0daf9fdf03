package web

// The editor in a real Chromium (chromedp): one browser, several tabs, a
// real server stack (bbolt in t.TempDir(), the collab hub, this package's
// server) on 127.0.0.1. Chromium must be installed: without it the test
// fails, it never skips (CI installs it). The README's picture is made by
// TestEditorScreenshot (e2e_screenshot_test.go).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/foliodocs/folio/collab"
)

const (
	annColor = "#e6194b" // rgb(230, 25, 75)
	bobColor = "#4363d8" // rgb(67, 99, 216)
	waitFor  = 20 * time.Second
)

func TestEditorInBrowser(t *testing.T) {
	hostOK := newFrameHost(t)
	hostOther := newFrameHost(t)
	env := newEnv(t, func(o *Options) { o.EmbedOrigins = []string{hostOK.URL} })
	proxy := newCutProxy(t, env.ts.Listener.Addr().String())
	b := newBrowser(t)

	t.Run("TwoEditorsTypeConcurrently", func(t *testing.T) { testTwoEditors(t, env, b) })
	t.Run("OfflineTypingConverges", func(t *testing.T) { testOffline(t, env, proxy, b) })
	t.Run("PeersStaleWhileOffline", func(t *testing.T) { testPeersStale(t, env, proxy, b) })
	t.Run("RetryNowReconnectsAtOnce", func(t *testing.T) { testRetryNow(t, env, proxy, b) })
	t.Run("HiddenPageKeepsItsConnection", func(t *testing.T) { testLateTimers(t, env, b) })
	t.Run("StatusAnnouncesWhatMatters", func(t *testing.T) { testAnnouncements(t, env, proxy, b) })
	t.Run("PhoneFitsLongIDAndStatus", func(t *testing.T) { testPhoneWidth(t, env, proxy, b) })
	t.Run("CRLFKeepsPositions", func(t *testing.T) { testCRLF(t, env, b) })
	t.Run("CRLFIsOneLineBreakForKeys", func(t *testing.T) { testCRLFKeys(t, env, b) })
	t.Run("LineBreaksKeepTheDocumentsKind", func(t *testing.T) { testLineBreaks(t, env, b) })
	t.Run("MixedLineBreaksEnterTakesTheLines", func(t *testing.T) { testMixedEnter(t, env, b) })
	t.Run("CRLFEnterOnBlankLine", func(t *testing.T) { testEnterOnBlankLine(t, env, b) })
	t.Run("CRLFLineCommands", func(t *testing.T) { testLineCommands(t, env, b) })
	t.Run("CRLFUndoCaret", func(t *testing.T) { testUndoCaret(t, env, b) })
	t.Run("IMECompositionWithRemoteEdits", func(t *testing.T) { testIMEComposition(t, env, b) })
	t.Run("LongTextWithEmojiKeepsPositions", func(t *testing.T) { testLongText(t, env, b) })
	t.Run("CaretLabelBelowOnFirstLine", func(t *testing.T) { testLabelPlacement(t, env, b) })
	t.Run("CaretLabelReadableOnAnyColour", func(t *testing.T) { testLabelContrast(t, env, b) })
	t.Run("CaretLabelShowsWhileActive", func(t *testing.T) { testLabelFades(t, env, b) })
	t.Run("EditorStylesWinOverCodeMirrors", func(t *testing.T) { testEditorStyles(t, env, b) })
	t.Run("ListItemsReadAsText", func(t *testing.T) { testListItems(t, env, b) })
	t.Run("NoCaretUntilPlaced", func(t *testing.T) { testNoCaretUntilPlaced(t, env, b) })
	t.Run("LeavingThePageLeavesTheDocument", func(t *testing.T) { testLeaving(t, env, b) })
	t.Run("DeletedWhileOffline", func(t *testing.T) { testDeletedWhileOffline(t, env, proxy, b) })
	t.Run("ReadonlyRefusesTyping", func(t *testing.T) { testReadonly(t, env, b) })
	t.Run("ViewersShownAsViewers", func(t *testing.T) { testViewers(t, env, b) })
	t.Run("LongNameWithEmojiJoins", func(t *testing.T) { testLongName(t, env, b) })
	t.Run("ThemeFollowsPreference", func(t *testing.T) { testTheme(t, env, b) })
	t.Run("KeyboardHintToLeaveEditor", func(t *testing.T) { testKeysHint(t, env, b) })
	t.Run("FocusRingInBothThemes", func(t *testing.T) { testFocusRing(t, env, b) })
	t.Run("RESTPutShowsUp", func(t *testing.T) { testRESTPut(t, env, b) })
	t.Run("ShareBoxCopyButtons", func(t *testing.T) { testCopyButtons(t, env, b) })
	t.Run("PhoneOpensSidePanel", func(t *testing.T) { testPhonePanel(t, env, b) })
	t.Run("LandingCreatesAndOpens", func(t *testing.T) { testLanding(t, env, b) })
	t.Run("ErrorPagesSayWhatWentWrong", func(t *testing.T) { testErrorPages(t, env, b) })
	t.Run("HostNotAllowedPage", func(t *testing.T) { testHostNotAllowedPage(t, env, b) })
	t.Run("EmbedPostsReadyToAllowedParent", func(t *testing.T) { testEmbedAllowed(t, env, b, hostOK) })
	t.Run("EmbedRefusedForOtherOrigin", func(t *testing.T) { testEmbedRefused(t, env, b, hostOther) })
	t.Run("EmbedPresenceAsLastSeenOffline", func(t *testing.T) { testEmbedPresenceOffline(t, env, proxy, b, hostOK) })
}

// TestEditorOversizeOp: an op over the server's message limit ends the
// connection (1009). The editor undoes it rather than resending it after
// every reconnect, and keeps what was typed after it.
func TestEditorOversizeOp(t *testing.T) {
	env := newEnvWith(t, func(o *collab.Options) { o.MaxMessageBytes = 1 << 20 }, nil)
	b := newBrowser(t)
	id := env.create("oversize", "keep")
	tab := b.open(t, env.url+"/d/"+id)
	tab.waitSaved(t)
	// A paste of 600,000 "é" (1.2 MB of JSON) goes in flight; an edit waits behind it.
	tab.eval(t, `folio.view.dispatch({changes: {from: 4, insert: "é".repeat(600000)}}), folio.view.dispatch({changes: {from: 0, insert: ">"}})`)
	converged(t, env, id, ">keep", tab)
	tab.waitJS(t, "a notice that the edit was undone", `document.getElementById('status').textContent ===
		'Saved · an edit was undone: the edit is too large to send'`)
}

// TestEditorShowsWhyItRetries: a close the page retries after, such as
// too_many_connections (1013), shows the server's reason beside
// Offline/Reconnecting until the page is let in.
func TestEditorShowsWhyItRetries(t *testing.T) {
	env := newEnvWith(t, func(o *collab.Options) { o.MaxConnsPerDoc = 1 }, nil)
	b := newBrowser(t)
	id := env.create("crowded", "room for one")
	first := b.open(t, env.url+"/d/"+id)
	first.waitSaved(t)
	second := b.open(t, env.url+"/d/"+id)
	second.waitJS(t, "the server's reason while retrying", `(s => ['connecting', 'offline', 'reconnecting'].includes(s.dataset.state) &&
		s.textContent.endsWith(' · too many connections to this document'))(document.getElementById('status'))`)
	first.eval(t, `folio.conn.stop()`) // The first page leaves.
	second.waitJS(t, "let in: the reason gone", `document.getElementById('status').textContent === 'Saved'`)
}

// TestEditorPeersAfterTextWelcome: a peer listed in a welcome that carries
// text while an op waits in limbo (is it in the snapshot?) cannot be placed
// until that is settled; its caret shows up then, without the peer moving.
func TestEditorPeersAfterTextWelcome(t *testing.T) {
	env := newEnvWith(t, func(o *collab.Options) { o.CatchUpLimit = 2; o.OpWindow = 2 }, nil)
	proxy := newCutProxy(t, env.ts.Listener.Addr().String())
	b := newBrowser(t)
	id := env.create("limbo-peers", "hello\n")
	ann := b.open(t, proxy.url+"/d/"+id+"?name=Ann")
	bob := b.open(t, env.url+"/d/"+id+"?name=Bob")
	ann.waitSaved(t)
	bob.waitSaved(t)
	bob.eval(t, `folio.view.dispatch({selection: {anchor: 2}})`)
	bobShown := `[...document.querySelectorAll('.cm-remote-label')].some(l => l.textContent === 'Bob')`
	ann.waitJS(t, "Bob's caret", bobShown)
	// Ann's op commits but she ignores its ack, so that it is still in flight
	// when her connection drops.
	ann.eval(t, `folio.client.ack = () => {}, folio.view.dispatch({selection: {anchor: 5}}), folio.view.focus()`)
	if err := ann.typeKeys("!"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); env.text(id) != "hello!\n"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Ann's op not committed: server text %q", env.text(id))
		}
	}
	proxy.cut()
	ann.waitJS(t, "offline", `document.getElementById('status').dataset.state === 'offline'`)
	ann.eval(t, `delete folio.client.ack`)
	for i := range 4 { // More than CatchUpLimit: the reconnect gets text.
		var meta versionResponse
		env.get("/api/v1/docs/"+id).json(t, &meta)
		env.postOp(id, meta.Version, fmt.Sprintf(`[6,"%d"]`, i))
	}
	proxy.restore()
	converged(t, env, id, "hello!3210\n", ann, bob)
	ann.waitJS(t, "Bob's caret after the resync", bobShown)
}

func testTwoEditors(t *testing.T, env *testEnv, b *browser) {
	id := env.create("duet", "Title\n\nmiddle line\n\nlast")
	ann := b.open(t, env.url+"/d/"+id+"?name=Ann&color="+url.QueryEscape(annColor))
	bob := b.open(t, env.url+"/d/"+id+"?name=Bob&color="+url.QueryEscape(bobColor))
	ann.waitSaved(t)
	bob.waitSaved(t)
	ann.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.line(3).from}}), folio.view.focus()`)
	bob.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.length}}), folio.view.focus()`)

	// Both type at once: ASCII, emoji (deleted again with one Backspace),
	// newlines, a ZWJ family, deletions.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = ann.typeKeys("A🎉b👍\b c\bX\n") })
	wg.Go(func() { errs[1] = bob.typeKeys("\nB: 👨‍👩‍👧 z\bok") })
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := "Title\n\nA🎉b X\nmiddle line\n\nlast\nB: 👨‍👩‍👧 ok"
	converged(t, env, id, want, ann, bob)

	// Each shows the other's caret, in its colour, where the other typed.
	ann.waitJS(t, "Bob's caret at the end", caretCheck("Bob", "rgb(67, 99, 216)", "B: "))
	bob.waitJS(t, "Ann's caret before 'middle line'", caretCheck("Ann", "rgb(230, 25, 75)", "middle line"))
	bob.waitJS(t, "two participants", `document.querySelectorAll('#participants li').length === 2`)
	// A selection shows as a highlighted range in the other editor.
	bob.eval(t, `(d => folio.view.dispatch({selection: {anchor: d.line(6).from, head: d.line(6).to}}))(folio.view.state.doc)`)
	ann.waitJS(t, "Bob's selection of 'last'", `[...document.querySelectorAll('.cm-remote-selection')].map(e => e.textContent).join('') === 'last'`)

	// Undo in Ann's editor removes Ann's edits only.
	ann.eval(t, `folio.view.focus()`)
	for range 12 {
		if err := ann.typeKeys("\x1a"); err != nil { // Ctrl+Z
			t.Fatal(err)
		}
	}
	converged(t, env, id, "Title\n\nmiddle line\n\nlast\nB: 👨‍👩‍👧 ok", ann, bob)
}

// caretCheck is a JS condition: a remote caret labelled name, in colour rgb,
// on a line whose text contains lineText.
func caretCheck(name, rgb, lineText string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('.cm-remote-label')].some(l =>
		l.textContent === %q && getComputedStyle(l).backgroundColor === %q &&
		l.closest('.cm-line').textContent.replace(l.textContent, '').includes(%q))`, name, rgb, lineText)
}

// testLabelPlacement: a caret's name label sits above its line, except on
// the first line, where above is the editor's edge: there it goes below.
func testLabelPlacement(t *testing.T, env *testEnv, b *browser) {
	id := env.create("labels", "first line\nsecond line")
	ann := b.open(t, env.url+"/d/"+id+"?name=Ann")
	bob := b.open(t, env.url+"/d/"+id+"?name=Bob")
	ann.waitSaved(t)
	bob.waitSaved(t)
	label := `(l => ({label: l.getBoundingClientRect(), line: l.closest('.cm-line').getBoundingClientRect(),
		content: document.querySelector('.cm-content').getBoundingClientRect(), text: l.closest('.cm-line').textContent.replace('Bob', '')}))(
		[...document.querySelectorAll('.cm-remote-label')].find(l => l.textContent === 'Bob'))`
	bob.eval(t, `folio.view.dispatch({selection: {anchor: 2}})`)
	ann.waitJS(t, "Bob's label below his caret on line 1, inside the text area", `(g => g.text === 'first line' &&
		g.label.top >= g.line.top + g.line.height / 2 && g.label.top >= g.content.top)(`+label+`)`)
	bob.eval(t, `folio.view.dispatch({selection: {anchor: 13}})`)
	ann.waitJS(t, "Bob's label above his caret on line 2", `(g => g.text === 'second line' &&
		g.label.top < g.line.top)(`+label+`)`)
}

// testLabelContrast: a name label's text is white on a dark colour and
// black on a light one (labelTextColor), also after the peer changes colour.
func testLabelContrast(t *testing.T, env *testEnv, b *browser) {
	id := env.create("label-colours", "some text\nmore text")
	ann := b.open(t, env.url+"/d/"+id+"?name=Ann")
	bob := b.open(t, env.url+"/d/"+id+"?name=Bob&color="+url.QueryEscape("#ffeb3b"))
	ann.waitSaved(t)
	bob.waitSaved(t)
	bob.eval(t, `folio.view.dispatch({selection: {anchor: 14}})`)
	const label = `(l => l && getComputedStyle(l).backgroundColor === %q && getComputedStyle(l).color === %q)(
		[...document.querySelectorAll('.cm-remote-label')].find(l => l.textContent === 'Bob'))`
	ann.waitJS(t, "black on Bob's yellow", fmt.Sprintf(label, "rgb(255, 235, 59)", "rgb(0, 0, 0)"))
	bob.eval(t, `folio.setUser('Bob', '`+bobColor+`')`)
	ann.waitJS(t, "white on Bob's blue", fmt.Sprintf(label, "rgb(67, 99, 216)", "rgb(255, 255, 255)"))
}

// testLabelFades: a caret's name label covers the end of the line above,
// so it shows while its person moves or types and fades a couple of seconds
// after (LABEL_SHOWN_FOR), without coming back when someone else types on
// the line; the pointer on the caret shows it again, and so does the
// person's next keystroke. Asked for less motion, it goes without fading.
// It is aria-hidden: the people list names everyone.
func testLabelFades(t *testing.T, env *testEnv, b *browser) {
	id := env.create("label-fade", "the line someone reads\nthe line Bob writes on")
	ann := b.open(t, env.url+"/d/"+id+"?name=Ann")
	bob := b.open(t, env.url+"/d/"+id+"?name=Bob")
	ann.waitSaved(t)
	bob.waitSaved(t)
	const bobs = `[...document.querySelectorAll('.cm-remote-label')].find(l => l.textContent === 'Bob')`
	const shown = `(l => l && getComputedStyle(l).opacity === '1' && getComputedStyle(l).visibility === 'visible')(` + bobs + `)`
	const hidden = `(l => l && getComputedStyle(l).opacity === '0' && getComputedStyle(l).visibility === 'hidden')(` + bobs + `)`
	bob.eval(t, `folio.view.dispatch({selection: {anchor: 27}}), folio.view.focus()`)
	ann.waitJS(t, "Bob's label as he moves, hidden from screen readers", shown+` && `+bobs+`.closest('[aria-hidden=true]') !== null`)
	ann.eval(t, `window.seen = performance.now()`)
	ann.waitJS(t, "Bob's label gone a couple of seconds later", hidden+` && performance.now() - seen > 1500`)

	// Ann types on Bob's line: his label, redrawn, stays hidden.
	if ann.evalInt(t, `folio.view.dispatch({changes: {from: 23, insert: ">> "}}), (`+hidden+`) ? 1 : 0`) != 1 {
		t.Error("Bob's label shown again by Ann's edit on his line")
	}

	// The pointer on Bob's caret shows his name; off it, the name goes.
	pointAt := func(x, y float64) {
		ctx, cancel := ann.bounded()
		defer cancel()
		if _, err := chromedp.Call(ctx, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: input.DispatchMouseEventTypeMouseMoved, X: x, Y: y}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := ann.bounded()
	rect, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]float64](`(r => ({x: r.left + 1, y: r.top + r.height / 2}))(`+bobs+`.parentElement.getBoundingClientRect())`))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	pointAt(rect["x"], rect["y"])
	ann.waitJS(t, "Bob's label while the pointer is on his caret", shown)
	pointAt(5, 5)
	ann.waitJS(t, "Bob's label gone with the pointer", hidden)

	// Bob types: his name shows again.
	if err := bob.typeKeys("!"); err != nil {
		t.Fatal(err)
	}
	ann.waitJS(t, "Bob's label as he types", shown)

	// Less motion: the label goes at once when it goes.
	ctx, cancel = ann.bounded()
	_, err = chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}}})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	ann.waitJS(t, "no fade with prefers-reduced-motion", `getComputedStyle(`+bobs+`).animationDuration === '0s'`)
	ann.waitJS(t, "and no fade after all", hidden)
}

// testEditorStyles: folio.css's rules for the editor apply, rather than
// CodeMirror's base theme (whose selectors outrank bare class names): the
// text has its margins and font, the line numbers no grey band, and the
// editor fills its card on the full page, so that a name label below a caret
// on a one-line text is not cut off at the editor's bottom edge.
func testEditorStyles(t *testing.T, env *testEnv, b *browser) {
	id := env.create("styles", "one line")
	for _, page := range []string{"/d/", "/embed/"} {
		ann := b.open(t, env.url+page+id+"?name=Ann&lineNumbers=1")
		bob := b.open(t, env.url+"/d/"+id+"?name=Bob")
		ann.waitSaved(t)
		bob.waitSaved(t)
		bob.eval(t, `folio.view.dispatch({selection: {anchor: 3}})`)
		ann.waitJS(t, page+": folio.css's editor styles, and Bob's label whole", `(css => css('.cm-line').paddingLeft === '24px' &&
			css('.cm-content').paddingTop === '18px' && css('.cm-scroller').fontFamily.startsWith('ui-monospace') &&
			css('.cm-scroller').lineHeight === '25.6px' && css('.cm-gutters').backgroundColor === 'rgba(0, 0, 0, 0)' &&
			css('.cm-cursor').borderLeftColor === getComputedStyle(document.body).color)(sel => getComputedStyle(document.querySelector(sel))) &&
			(box => box('.cm-editor').height >= box('#editor').height - 2 && box('.cm-gutters').height >= box('#editor').height - 2 &&
			[...document.querySelectorAll('.cm-remote-label')].some(l => l.textContent === 'Bob' &&
				l.getBoundingClientRect().bottom <= box('.cm-scroller').bottom))(sel => document.querySelector(sel).getBoundingClientRect())`)
	}
}

// testListItems: a Markdown list's items are text like any paragraph's;
// only their markers are in the muted colour of Markdown's marks, which is
// too faint for reading (about 2.5:1 on white).
func testListItems(t *testing.T, env *testEnv, b *browser) {
	id := env.create("lists", "- bullet item\n1. numbered item\n\nplain text")
	tab := b.open(t, env.url+"/d/"+id)
	tab.waitSaved(t)
	tab.waitJS(t, "list items in the text's colour, their markers muted", `(() => {
		const colorOf = s => {
			const w = document.createTreeWalker(document.querySelector('.cm-content'), NodeFilter.SHOW_TEXT);
			for (let n = w.nextNode(); n; n = w.nextNode()) if (n.textContent.includes(s)) return getComputedStyle(n.parentElement).color;
			return null;
		};
		const text = colorOf('plain text'), mark = colorOf('-');
		return text !== null && mark !== null && mark !== text &&
			colorOf('bullet item') === text && colorOf('numbered item') === text;
	})()`)
}

// testNoCaretUntilPlaced: a page that was only opened (a reader who never
// clicked into the text) shows no caret to the others, where its caret
// would sit at the start and its name label cover the first line; it
// still shows in the people list. Its caret shows once it is placed.
func testNoCaretUntilPlaced(t *testing.T, env *testEnv, b *browser) {
	id := env.create("unplaced", "# Title\nbody")
	ann := b.open(t, env.url+"/d/"+id+"?name=Ann")
	bob := b.open(t, env.url+"/d/"+id+"?name=Bob")
	ann.waitSaved(t)
	bob.waitSaved(t)
	// Whatever Bob's page sent on its own went before the rename, which it
	// sends at once: once Ann has the new name, she has anything earlier.
	bob.waitJS(t, "no presence waiting to be sent", `folio.presenceTimer === undefined`)
	bob.eval(t, `folio.setUser('Bobby', '#3366ff')`)
	const people = `[...document.querySelectorAll('#participants li')].map(l => l.textContent).join('|')`
	ann.waitJS(t, "Bob renamed", people+` === 'Ann (you)|Bobby'`)
	if n := ann.evalInt(t, `document.querySelectorAll('.cm-remote-caret').length`); n != 0 {
		t.Fatalf("Ann sees %d carets of a page nobody clicked into", n)
	}
	bob.eval(t, `folio.view.focus(), folio.view.dispatch({selection: {anchor: 9}})`)
	ann.waitJS(t, "Bob's caret once placed", `document.querySelectorAll('.cm-remote-caret').length === 1`)
}

// testLeaving: a page the user leaves for another (here Folio's landing
// page, through the brand link) is kept in Chromium's back/forward cache,
// frozen; it must leave the document then, not a minute later when the
// server gives up on its socket, or the others keep seeing its name and
// caret. Back again, it joins again and edits as before.
func testLeaving(t *testing.T, env *testEnv, b *browser) {
	id := env.create("leaving", "text")
	ann := b.open(t, env.url+"/d/"+id+"?name=Ann")
	bob := b.open(t, env.url+"/d/"+id+"?name=Bob")
	ann.waitSaved(t)
	bob.waitSaved(t)
	peers := `[...document.querySelectorAll('#participants li')].map(li => li.textContent).join(',')`
	ann.waitJS(t, "Bob listed", peers+` === 'Ann (you),Bob'`)
	bob.eval(t, `window.kept = true, document.querySelector('a.brand').click()`)
	bob.waitJS(t, "the landing page", `location.pathname === '/' && document.getElementById('new-doc') !== null`)
	ann.waitJS(t, "Bob gone at once", peers+` === 'Ann (you)' && document.querySelectorAll('.cm-remote-label').length === 0`)
	bob.eval(t, `history.back()`)
	bob.waitJS(t, "the same page back from the cache, joined again", `window.kept === true && window.folio !== undefined &&
		document.getElementById('status').dataset.state === 'saved'`)
	ann.waitJS(t, "Bob back", peers+` === 'Ann (you),Bob'`)
	bob.eval(t, `folio.view.dispatch({selection: {anchor: 4}}), folio.view.focus()`)
	if err := bob.typeKeys("!"); err != nil {
		t.Fatal(err)
	}
	converged(t, env, id, "text!", ann, bob)
}

// testCRLF: "\r\n" counts two code points on the wire, and the editor must
// neither fold it into "\n" nor misplace the edits after it: typing at the end
// and a REST op in the middle land where each was meant.
func testCRLF(t *testing.T, env *testEnv, b *browser) {
	id := env.create("crlf", "a\r\nb\r\nc")
	tab := b.open(t, env.url+"/d/"+id)
	tab.waitSaved(t)
	converged(t, env, id, "a\r\nb\r\nc", tab)
	tab.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.length}}), folio.view.focus()`)
	if err := tab.typeKeys("X"); err != nil {
		t.Fatal(err)
	}
	converged(t, env, id, "a\r\nb\r\ncX", tab)
	var meta versionResponse
	env.get("/api/v1/docs/"+id).json(t, &meta)
	env.postOp(id, meta.Version, `[4,"Y"]`) // After "b".
	converged(t, env, id, "a\r\nbY\r\ncX", tab)
}

// testCRLFKeys: in a document with "\r\n" line breaks (from an integration,
// a paste from Windows), the caret never stops between the "\r" and the
// "\n": End then typing appends to the line instead of storing a lone "\r"
// (a line break of its own in Markdown), End again stays there, Enter there
// makes a new line, ArrowRight at the end of a line goes to the next one,
// and Backspace and Delete take the whole line break.
func testCRLFKeys(t *testing.T, env *testEnv, b *browser) {
	id := env.create("crlf-keys", "alpha\r\nbeta\r\ngamma")
	tab := b.open(t, env.url+"/d/"+id)
	tab.waitSaved(t)
	tab.eval(t, `folio.view.dispatch({selection: {anchor: 2}}), folio.view.focus()`)
	press := func(key, code string, vk int64) {
		t.Helper()
		ctx, cancel := tab.bounded()
		defer cancel()
		if err := tab.key(ctx, key, code, vk, 0); err != nil {
			t.Fatal(err)
		}
	}
	press("End", "End", 35)
	press("End", "End", 35) // Already at the end: stays there.
	if err := tab.typeKeys("X"); err != nil {
		t.Fatal(err)
	}
	converged(t, env, id, "alphaX\r\nbeta\r\ngamma", tab)
	if err := tab.typeKeys("\nZ"); err != nil { // Enter: a new line, the "\r\n" kept.
		t.Fatal(err)
	}
	converged(t, env, id, "alphaX\r\nZ\r\nbeta\r\ngamma", tab)
	press("ArrowRight", "ArrowRight", 39)
	if err := tab.typeKeys("Y"); err != nil {
		t.Fatal(err)
	}
	converged(t, env, id, "alphaX\r\nZ\r\nYbeta\r\ngamma", tab)
	press("ArrowLeft", "ArrowLeft", 37) // Before the Y, at the start of the line.
	press("Backspace", "Backspace", 8)
	converged(t, env, id, "alphaX\r\nZYbeta\r\ngamma", tab)
	press("End", "End", 35)
	press("Delete", "Delete", 46)
	converged(t, env, id, "alphaX\r\nZYbetagamma", tab)
}

// testLineBreaks: a line break typed or pasted gets the document's own kind,
// "\r\n" in a document whose lines end so, "\n" in any other, so that the
// stored text never mixes the two; and the code point positions after it
// stay exact (a REST op and typing after the paste land where meant).
func testLineBreaks(t *testing.T, env *testEnv, b *browser) {
	id := env.create("breaks-crlf", "one\r\ntwo")
	tab := b.open(t, env.url+"/d/"+id)
	tab.waitSaved(t)
	tab.eval(t, `folio.view.dispatch({selection: {anchor: 3}}), folio.view.focus()`) // After "one".
	if err := tab.typeKeys("\nA"); err != nil {
		t.Fatal(err)
	}
	converged(t, env, id, "one\r\nA\r\ntwo", tab)
	tab.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.length}})`)
	paste(t, tab, "x\ny\r\nz")
	if err := tab.typeKeys("!"); err != nil {
		t.Fatal(err)
	}
	want := "one\r\nA\r\ntwox\r\ny\r\nz!"
	converged(t, env, id, want, tab)
	var meta versionResponse
	env.get("/api/v1/docs/"+id).json(t, &meta)
	env.postOp(id, meta.Version, fmt.Sprintf(`[%d,"R"]`, strings.Index(want, "y")+1))
	converged(t, env, id, "one\r\nA\r\ntwox\r\nyR\r\nz!", tab)

	id = env.create("breaks-lf", "one\ntwo")
	tab = b.open(t, env.url+"/d/"+id)
	tab.waitSaved(t)
	tab.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.length}}), folio.view.focus()`)
	paste(t, tab, "p\r\nq")
	if err := tab.typeKeys("\nB"); err != nil {
		t.Fatal(err)
	}
	converged(t, env, id, "one\ntwop\nq\nB", tab)
}

// testEnterOnBlankLine: Enter on a blank line, or one of spaces only, does
// in a document with "\r\n" line breaks what it does in one with "\n": a
// line break, and the new line indented as deep as the spaces (none on an
// empty line), never one column deeper for the "\r" (a stray space).
func testEnterOnBlankLine(t *testing.T, env *testEnv, b *browser) {
	for _, br := range []string{"\n", "\r\n"} {
		id := env.create(fmt.Sprintf("blank-%d", len(br)), strings.ReplaceAll("alpha\n\n  \nbeta", "\n", br))
		tab := b.open(t, env.url+"/d/"+id)
		tab.waitSaved(t)
		tab.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.line(2).from}}), folio.view.focus()`)
		if err := tab.typeKeys("\nZ"); err != nil {
			t.Fatal(err)
		}
		tab.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.line(4).from + 2}})`) // After "  ".
		if err := tab.typeKeys("\nY"); err != nil {
			t.Fatal(err)
		}
		want := strings.ReplaceAll("alpha\n\nZ\n\n  Y\nbeta", "\n", br)
		converged(t, env, id, want, tab)
	}
}

// paste pastes text at the selection as the browser does with the
// clipboard's text (a paste event, which CodeMirror handles).
func paste(t *testing.T, tb *tab, text string) {
	t.Helper()
	s, _ := json.Marshal(text)
	tb.eval(t, fmt.Sprintf(`(dt => (dt.setData('text/plain', %s), folio.view.contentDOM.dispatchEvent(
		new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}))))(new DataTransfer())`, s))
}

// testLongText: in a text long enough for CodeMirror to hold it as a tree of
// nodes (3,000 lines, emoji on every 7th, CR LF on every 5th), code point
// positions are converted through that tree: edits typed at the end and in
// the middle, a REST op near the end and a remote caret all land where they
// were meant.
func testLongText(t *testing.T, env *testEnv, b *browser) {
	var sb strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&sb, "line %04d", i)
		if i%7 == 0 {
			sb.WriteString(" 🎉")
		}
		if i%5 == 0 {
			sb.WriteByte('\r')
		}
		sb.WriteByte('\n')
	}
	text := sb.String()
	id := env.create("long", text)
	ann := b.open(t, env.url+"/d/"+id+"?name=Ann")
	bob := b.open(t, env.url+"/d/"+id+"?name=Bob")
	ann.waitSaved(t)
	bob.waitSaved(t)
	ann.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.length}}), folio.view.focus()`)
	bob.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.line(2101).to - 1}}), folio.view.focus()`) // after "line 2100 🎉", before its "\r\n"
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = ann.typeKeys("👍A") })
	wg.Go(func() { errs[1] = bob.typeKeys("B🎉") })
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	text = strings.Replace(text, "line 2100 🎉\r\n", "line 2100 🎉B🎉\r\n", 1) + "👍A"
	converged(t, env, id, text, ann, bob)

	var meta versionResponse
	env.get("/api/v1/docs/"+id).json(t, &meta)
	at := strings.Index(text, "line 2900") + len("line 29")
	env.postOp(id, meta.Version, fmt.Sprintf(`[%d,"R👨‍👩‍👧"]`, utf8.RuneCountInString(text[:at])))
	text = text[:at] + "R👨‍👩‍👧" + text[at:]
	converged(t, env, id, text, ann, bob)

	// Ann, scrolled to Bob's line, sees his caret right after what he typed.
	ann.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.line(2101).from}, scrollIntoView: true})`)
	ann.waitJS(t, "Bob's caret after 'B🎉'", `(c => c && folio.view.posAtDOM(c) === folio.view.state.doc.line(2101).to - 1)(
		[...document.querySelectorAll('.cm-remote-label')].find(l => l.textContent === 'Bob')?.closest('.cm-remote-caret'))`)
}

func testOffline(t *testing.T, env *testEnv, proxy *cutProxy, b *browser) {
	id := env.create("offline", "one\ntwo\n")
	var meta versionResponse
	env.get("/api/v1/docs/"+id).json(t, &meta)
	base := meta.Version
	tab := b.open(t, proxy.url+"/d/"+id+"?name=Olga")
	tab.waitSaved(t)
	tab.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.length}}), folio.view.focus()`)

	// Cut while the first word is probably still in flight: whether or not
	// the server committed it, it must end up there exactly once.
	if err := tab.typeKeys("three"); err != nil {
		t.Fatal(err)
	}
	proxy.cut()
	tab.waitJS(t, "offline status", `document.getElementById('status').dataset.state === 'offline'`)
	if err := tab.typeKeys(" 🎉x\b!"); err != nil {
		t.Fatal(err)
	}
	tab.waitJS(t, "unsynced edits shown", `folio.client.unsynced > 0 && /Offline · \d+ unsynced edit/.test(document.getElementById('status').textContent)`)
	const leaving = `(e => (dispatchEvent(e), e.defaultPrevented))(new Event('beforeunload', {cancelable: true}))`
	tab.waitJS(t, "a warning before leaving with unsynced edits", leaving)
	// Meanwhile someone else changes the first line over REST, with an op
	// based on the version before any of our typing.
	env.postOp(id, base, `[{"d":3},"ONE"]`)
	proxy.restore()
	converged(t, env, id, "ONE\ntwo\nthree 🎉!", tab)
	tab.waitJS(t, "no warning once everything is saved", "!"+leaving)
}

// testPeersStale: offline, a page cannot know who is still there. The
// others are shown as last seen (greyed in the list, their carets faded)
// until the welcome of the reconnect says who is here, then shown as usual.
func testPeersStale(t *testing.T, env *testEnv, proxy *cutProxy, b *browser) {
	id := env.create("stale", "some text")
	ann := b.open(t, proxy.url+"/d/"+id+"?name=Ann")
	bob := b.open(t, env.url+"/d/"+id+"?name=Bob")
	ann.waitSaved(t)
	bob.waitSaved(t)
	bob.eval(t, `folio.view.dispatch({selection: {anchor: 4}})`)
	const looks = `(c => c && getComputedStyle(c).opacity === %q &&
		[...document.querySelectorAll('#participants li')].filter(li => li.classList.contains('stale')).map(li => li.textContent).join() === %q &&
		(document.getElementById('participants-stale')?.hidden ?? true) === %t)(
		[...document.querySelectorAll('.cm-remote-label')].find(l => l.textContent === 'Bob')?.closest('.cm-remote-caret'))`
	ann.waitJS(t, "Bob's caret and name, as usual", fmt.Sprintf(looks, "1", "", true))
	proxy.cut()
	// Greyed in the muted colour, which keeps its contrast, not faded below it.
	ann.waitJS(t, "offline: Bob as last seen", `document.getElementById('status').dataset.state !== 'saved' && `+
		fmt.Sprintf(looks, "0.35", "Bob", false)+` && [...document.querySelectorAll('#participants li.stale')].every(li =>
		getComputedStyle(li).opacity === '1' && getComputedStyle(li).color === getComputedStyle(document.getElementById('participants-stale')).color)`)
	proxy.restore()
	ann.waitSaved(t)
	ann.waitJS(t, "back: Bob as usual", fmt.Sprintf(looks, "1", "", true))
}

// testLateTimers: a browser runs the timers of a page hidden for a while
// once a minute (Chrome after five minutes, Safari every 40 s), so on an
// idle document the page's ping timer runs a minute after the last message,
// the pong to its previous ping. Faked here by moving the page's clock a
// minute on before each run of the timer: the healthy connection is kept,
// rather than dropped as silent every minute, with the others seeing its
// user leave and come back.
func testLateTimers(t *testing.T, env *testEnv, b *browser) {
	id := env.create("late-timers", "idle")
	ann := b.open(t, env.url+"/d/"+id+"?name=Ann")
	bob := b.open(t, env.url+"/d/"+id+"?name=Bob")
	ann.waitSaved(t)
	bob.waitSaved(t)
	const people = `[...document.querySelectorAll('#participants li')].map(l => l.textContent).join('|')`
	bob.waitJS(t, "Ann listed", people+` === 'Bob (you)|Ann'`)
	bob.eval(t, `window.leaves = 0, (leave => folio.onLeave = s => { leaves++; leave.call(folio, s) })(folio.onLeave)`)
	ann.eval(t, `window.ws0 = folio.conn.ws, window.realNow = Date.now`)
	for i := 1; i <= 3; i++ {
		heard := ann.evalInt(t, `folio.conn.lastHeard - realNow()`)
		ann.eval(t, fmt.Sprintf(`Date.now = () => realNow() + %d, folio.conn.ping()`, i*60000))
		if ann.evalInt(t, `folio.conn.ws === ws0 ? 1 : 0`) != 1 {
			t.Fatalf("run %d of the ping timer, a minute after the last pong, dropped the connection", i)
		}
		ann.waitJS(t, "the pong", fmt.Sprintf(`folio.conn.lastHeard - realNow() > %d`, heard))
	}
	ann.waitSaved(t)
	if n := bob.evalInt(t, `leaves`); n != 0 || bob.evalString(t, people) != "Bob (you)|Ann" {
		t.Errorf("Bob saw Ann leave %d times", n)
	}
}

// testRetryNow: between two attempts to reconnect (up to 10 s apart), a
// Retry now button beside the status reconnects at once. It is a button a
// keyboard reaches and presses, says what it did, and goes once the page
// is back, handing its focus to the text.
func testRetryNow(t *testing.T, env *testEnv, proxy *cutProxy, b *browser) {
	id := env.create("retry", "text")
	const button = `document.getElementById('retry-now')`
	for _, page := range []string{"/d/", "/embed/"} {
		tab := b.open(t, proxy.url+page+id)
		tab.waitSaved(t)
		tab.waitJS(t, page+": no button while connected", `!`+button+`.checkVisibility()`)
		// The next attempt a minute away: only the button can bring the page back within the test.
		// The topbar keeps its height: the button is no taller than the status.
		tab.eval(t, `folio.conn.o.baseDelay = folio.conn.o.maxDelay = 60000, window.barHeight = document.querySelector('.topbar')?.offsetHeight`)
		proxy.cut()
		tab.waitJS(t, page+": the button while waiting", `document.getElementById('status').dataset.state === 'offline' &&
			document.querySelector('.topbar')?.offsetHeight === barHeight &&
			`+button+`.checkVisibility() && `+button+`.tabIndex === 0 && !`+button+`.disabled`)
		proxy.restore()
		tab.eval(t, `window.heard = [], new MutationObserver(() => heard.push(document.getElementById('status-live').textContent))
			.observe(document.getElementById('status-live'), {subtree: true, childList: true, characterData: true}), `+button+`.focus()`)
		ctx, cancel := tab.bounded()
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13, Text: "\r"}); err != nil {
				t.Fatal(err)
			}
		}
		cancel()
		tab.waitJS(t, page+": back at once, said, the focus in the text", `document.getElementById('status').dataset.state === 'saved' &&
			heard[0] === 'Retrying now' && heard.at(-1).startsWith('Back online') && !`+button+`.checkVisibility() &&
			document.activeElement === document.querySelector('.cm-content')`)
	}
}

// testPhoneWidth: on a 375-pixel phone, a long document id and a long
// status (offline, with unsynced edits) fit the screen: the id is cut short
// and the status wraps, rather than widening the page beyond the screen
// and pushing the status and the editor's right edge out of sight. The same
// for the embed's status in a narrow frame.
func testPhoneWidth(t *testing.T, env *testEnv, proxy *cutProxy, b *browser) {
	id := env.create(strings.Repeat("long-id-", 8), "text")
	// Not innerWidth: a phone's browser widens its layout viewport to a page too wide.
	// The status beside Retry now takes two lines at most.
	fits := `document.documentElement.scrollWidth <= 375 &&
		[...document.querySelectorAll('#status, #retry-now, #editor')].every(e => e.getBoundingClientRect().right <= 375) &&
		(s => s.getBoundingClientRect().height <= 2 * parseFloat(getComputedStyle(s).lineHeight) + 8)(document.getElementById('status'))`
	for _, page := range []string{"/d/", "/embed/"} {
		tab := b.open(t, "about:blank")
		tab.viewport(t, 375, 640)
		tab.navigate(t, proxy.url+page+id)
		tab.waitSaved(t)
		tab.eval(t, `folio.view.dispatch({selection: {anchor: 4}}), folio.view.focus()`)
		proxy.cut()
		tab.waitJS(t, "offline", `document.getElementById('status').dataset.state === 'offline'`)
		if err := tab.typeKeys(" and more text"); err != nil {
			t.Fatal(err)
		}
		tab.waitJS(t, page+": the page within the phone's width, offline with unsynced edits", `/Offline · \d+ unsynced edits/.test(
			document.getElementById('status').textContent) && `+fits)
		proxy.restore()
		tab.waitSaved(t)
	}
	converged(t, env, id, "text and more text and more text")
}

// testPhonePanel: a phone has no room for the side panel beside the text.
// People & share shows it over the editor, with the focus in it; the name
// changed there takes effect; Escape or × closes it, the focus back on the
// button. A wide screen keeps the panel beside the text, without the button.
func testPhonePanel(t *testing.T, env *testEnv, b *browser) {
	id := env.create("phone-panel", "text")
	tab := b.open(t, "about:blank")
	tab.viewport(t, 375, 640)
	tab.navigate(t, env.url+"/d/"+id+"?name=Pat")
	tab.waitSaved(t)
	const (
		shown = `(p => getComputedStyle(p).display !== 'none' && (r => r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= 375)(
			p.getBoundingClientRect()))(document.getElementById('side-panel'))`
		// What a tap on the name field's middle would reach: the field, not the editor under the sheet.
		onTop = `(i => (r => document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === i)(
			i.getBoundingClientRect()))(document.getElementById('user-name'))`
		closed = `!` + shown + ` && (b => b.getAttribute('aria-expanded') === 'false' && document.activeElement === b)(
			document.getElementById('panel-toggle'))`
	)
	tab.waitJS(t, "the panel hidden, the button there", `!`+shown+` && (b => b.getAttribute('aria-expanded') === 'false' &&
		b.getAttribute('aria-controls') === 'side-panel' && (r => r.width > 0 && r.right <= 375)(b.getBoundingClientRect()))(
		document.getElementById('panel-toggle')) && document.documentElement.scrollWidth <= 375`)
	if names := strings.Join(tab.axNames(t, "button"), "|"); !strings.Contains(names, "People & share") {
		t.Errorf("buttons named %q, want People & share", names)
	}
	click := func(sel string) {
		t.Helper()
		ctx, cancel := tab.bounded()
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatalf("click %s: %v", sel, err)
		}
	}
	click("#panel-toggle")
	tab.waitJS(t, "the panel over the editor, the focus in it", shown+` && `+onTop+` &&
		document.getElementById('panel-toggle').getAttribute('aria-expanded') === 'true' &&
		document.getElementById('side-panel').contains(document.activeElement) &&
		document.getElementById('participants').textContent === 'Pat (you)'`)

	click("#user-name")
	tab.eval(t, `document.getElementById('user-name').select()`)
	if err := tab.typeKeys("Robin"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := tab.bounded()
	err := tab.key(ctx, "Tab", "Tab", 9, 0) // leaving the field commits the name
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	tab.waitJS(t, "the new name in the people list", `document.getElementById('participants').textContent === 'Robin (you)' &&
		localStorage.getItem('folio.name') === 'Robin'`)
	other := b.open(t, env.url+"/d/"+id+"?name=Sam")
	other.waitJS(t, "the new name seen by another page", `document.getElementById('participants').textContent.includes('Robin')`)

	ctx, cancel = tab.bounded()
	err = tab.key(ctx, "Escape", "Escape", 27, 0)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	tab.waitJS(t, "Escape closed the panel, the focus back on the button", closed)

	click("#panel-toggle")
	tab.waitJS(t, "the panel open again", shown+` && document.getElementById('side-panel').contains(document.activeElement)`)
	if names := strings.Join(tab.axNames(t, "button"), "|"); !strings.Contains(names, "Close people and sharing") {
		t.Errorf("buttons named %q, want a close button", names)
	}
	click("#panel-close")
	tab.waitJS(t, "the close button closed the panel, the focus back on the button", closed)

	tab.viewport(t, 1024, 700)
	tab.waitJS(t, "a wide screen: the panel beside the text, no button", `(p => getComputedStyle(p).display !== 'none' &&
		getComputedStyle(p).position === 'static')(document.getElementById('side-panel')) &&
		getComputedStyle(document.getElementById('panel-toggle')).display === 'none' &&
		getComputedStyle(document.getElementById('panel-close')).display === 'none'`)
}

// testAnnouncements: the status flips between unsynced and saved about
// twice per keystroke; a live region that followed it would talk over the
// typing. Screen readers hear the connection lost (and, once, that Retry
// now is there to reconnect at once) and back, not each save.
func testAnnouncements(t *testing.T, env *testEnv, proxy *cutProxy, b *browser) {
	id := env.create("announce", "")
	tab := b.open(t, proxy.url+"/d/"+id)
	tab.waitSaved(t)
	// Every change inside a live region, as a screen reader would hear it.
	tab.eval(t, `window.heard = [], new MutationObserver(ms => {
		for (const m of ms) {
			const el = m.target.nodeType === Node.ELEMENT_NODE ? m.target : m.target.parentElement;
			const live = el && el.closest('[role=status], [role=alert], [role=log], [aria-live]:not([aria-live=off])');
			if (live) heard.push(live.textContent.trim());
		}
	}).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true}), folio.view.focus()`)
	if err := tab.typeKeys("typing along"); err != nil {
		t.Fatal(err)
	}
	converged(t, env, id, "typing along", tab)
	tab.waitJS(t, "nothing announced while typing and saving", `heard.length === 0`)

	proxy.cut()
	// With the button that came with it: a screen reader has no other way to learn it is there.
	tab.waitJS(t, "the lost connection announced, and Retry now", `heard.length === 1 && /^(Offline|Reconnecting).* · Retry now button available$/.test(heard[0]) &&
		document.getElementById('retry-now').checkVisibility()`)
	if names := tab.axNames(t, "button"); !slices.Contains(names, "Retry now") {
		t.Errorf("the announcement names a Retry now button; the page's buttons are %q", names)
	}
	if err := tab.typeKeys("!"); err != nil {
		t.Fatal(err)
	}
	tab.waitJS(t, "the offline edit counted, not announced", `/1 unsynced edit/.test(document.getElementById('status').textContent) &&
		heard.length === 1`)
	proxy.restore()
	converged(t, env, id, "typing along!", tab)
	tab.waitJS(t, "the connection back announced", `heard.length === 2 && heard[1].startsWith('Back online · ')`)
}

// testDeletedWhileOffline: a document deleted while the page was offline
// (a laptop asleep) is not brought back by the page's reconnect with only
// what was typed offline, the rest of the text gone from the screen and
// "Saved" shown: the page says the document was deleted and that its
// offline edits were not saved, keeps them visible to copy, and stops.
func testDeletedWhileOffline(t *testing.T, env *testEnv, proxy *cutProxy, b *browser) {
	id := env.create("gone", "important text\n")
	tab := b.open(t, proxy.url+"/d/"+id)
	tab.waitSaved(t)
	tab.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.length}}), folio.view.focus()`)
	proxy.cut()
	tab.waitJS(t, "offline", `document.getElementById('status').dataset.state === 'offline'`)
	if err := tab.typeKeys("more"); err != nil {
		t.Fatal(err)
	}
	if r := env.do(http.MethodDelete, "/api/v1/docs/"+id, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	proxy.restore()
	tab.waitJS(t, "closed: deleted, 4 edits not saved", `(s => s.dataset.state === 'closed' &&
		s.textContent === 'Closed · the document was deleted · 4 edits not saved' &&
		document.querySelector('.cm-content').contentEditable === 'false')(document.getElementById('status'))`)
	if got := tab.text(t); got != "important text\nmore" {
		t.Errorf("text after the refused reconnect %q", got)
	}
	if r := env.get("/api/v1/docs/" + id); r.status != http.StatusNotFound {
		t.Errorf("GET the deleted document after the reconnect: %d %s", r.status, r.body)
	}
}

func testReadonly(t *testing.T, env *testEnv, b *browser) {
	id := env.create("ro", "read me")
	tab := b.open(t, env.url+"/embed/"+id+"?readonly=1&name=Vera&theme=dark&lineNumbers=1")
	tab.waitSaved(t)
	tab.eval(t, `folio.view.focus()`)
	if err := tab.typeKeys("typed\b"); err != nil {
		t.Fatal(err)
	}
	if got := tab.text(t); got != "read me" {
		t.Fatalf("readonly page text %q after typing", got)
	}
	// Nothing of a viewer's is ever saved: the status says what the page is, not "Saved".
	tab.waitJS(t, "not editable, dark, line numbers, said to be read-only", `document.querySelector('.cm-content').contentEditable === 'false' &&
		document.getElementById('status').textContent === 'Read-only' &&
		document.documentElement.dataset.theme === 'dark' && document.querySelector('.cm-lineNumbers') !== null`)
	if r := env.send(http.MethodPut, "/api/v1/docs/"+id+"/text", "read me, again"); r.status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	converged(t, env, id, "read me, again", tab)
}

// testViewers: a read-only page has no current-line band (it has no line
// to type on), unlike an editor's, and everyone's people list says who only
// views, the viewer's own included.
func testViewers(t *testing.T, env *testEnv, b *browser) {
	id := env.create("viewers", "first\nsecond\nthird")
	ann := b.open(t, env.url+"/d/"+id+"?name=Ann")
	vera := b.open(t, env.url+"/d/"+id+"?name=Vera&readonly=1")
	ann.waitSaved(t)
	vera.waitSaved(t)
	for _, tb := range []*tab{ann, vera} {
		tb.eval(t, `folio.view.dispatch({selection: {anchor: 8}}), folio.view.focus()`)
	}
	ann.waitJS(t, "the editor's current line highlighted", `(l => l.length === 1 && l[0].textContent === 'second')(document.querySelectorAll('.cm-activeLine'))`)
	vera.waitJS(t, "the viewer's selection on line 2", `folio.view.state.doc.lineAt(folio.view.state.selection.main.head).number === 2`)
	if n := vera.evalInt(t, `document.querySelectorAll('.cm-activeLine').length`); n != 0 {
		t.Errorf("the read-only page highlights %d current lines", n)
	}
	const people = `[...document.querySelectorAll('#participants li')].map(l => l.textContent).join('|')`
	ann.waitJS(t, "Vera listed as viewing", people+` === 'Ann (you)|Vera (viewing)'`)
	vera.waitJS(t, "Vera sees herself as viewing, Ann as an editor", people+` === 'Vera (you, viewing)|Ann'`)
	// A viewer's page offers the read-only link only, never the edit link.
	const offers = `(e => e.hidden ? 'view' : 'edit')(document.getElementById('share-edit')) + ',' + document.getElementById('readonly-link').value.includes('readonly=1')`
	ann.waitJS(t, "the editor offered both links", offers+` === 'edit,true'`)
	vera.waitJS(t, "the viewer offered the read-only link only", offers+` === 'view,true'`)
}

// testLongName: a name of 35 code points is 65 UTF-16 units when 30 of them
// are emoji. The page cuts names to the server's 64 code points, never to 64
// UTF-16 units, which would leave half an emoji: the hello carrying it was
// refused (lone surrogate) and the page stayed "Connecting…" for good.
func testLongName(t *testing.T, env *testEnv, b *browser) {
	id := env.create("long-name", "text")
	name := "Anna " + strings.Repeat("🎉", 30)
	ann := b.open(t, env.url+"/d/"+id+"?name="+url.QueryEscape(name))
	ann.waitSaved(t)
	bob := b.open(t, env.url+"/d/"+id+"?name=Bob")
	bob.waitSaved(t)
	w, _ := json.Marshal("Bob (you)|" + name)
	bob.waitJS(t, "Anna listed with her whole name", `[...document.querySelectorAll('#participants li')].map(l => l.textContent).join('|') === `+string(w))
	// The name field takes as many characters as the server keeps (64 code
	// points), emoji included, not 64 UTF-16 units.
	typed := "B" + strings.Repeat("🎉", 40)
	bob.eval(t, `(i => { i.focus(); i.select(); document.execCommand('insertText', false, 'B' + '🎉'.repeat(40));
		i.dispatchEvent(new Event('change')); })(document.getElementById('user-name'))`)
	w, _ = json.Marshal(name + " (you)|" + typed)
	ann.waitJS(t, "Bob's name as typed", `[...document.querySelectorAll('#participants li')].map(l => l.textContent).join('|') === `+string(w))
	if n := bob.evalInt(t, `(i => { i.select(); document.execCommand('insertText', false, 'x'.repeat(80)); return [...i.value].length; })(document.getElementById('user-name'))`); n != 64 {
		t.Errorf("the name field holds %d characters after 80 typed, want 64", n)
	}
}

// testTheme: the pages are dark when the user prefers dark and follow a
// change of that preference, unless ?theme= asks for light or dark.
func testTheme(t *testing.T, env *testEnv, b *browser) {
	id := env.create("themes", "# colours")
	const (
		darkBg  = "rgb(20, 22, 27)"    // --bg, dark
		lightBg = "rgb(246, 247, 249)" // --bg, light
	)
	// The page's background, and CodeMirror's own idea of the scheme.
	looks := func(bg string, dark bool) string {
		return fmt.Sprintf(`window.folio !== undefined && getComputedStyle(document.body).backgroundColor === %q &&
			folio.view.state.facet(folio.view.constructor.darkTheme) === %t`, bg, dark)
	}
	tab := b.open(t, "about:blank")
	tab.prefers(t, "dark")
	tab.navigate(t, env.url+"/d/"+id)
	tab.waitJS(t, "dark, as preferred", looks(darkBg, true))
	tab.prefers(t, "light")
	tab.waitJS(t, "light once the preference changes", looks(lightBg, false))

	embed := b.open(t, "about:blank")
	embed.prefers(t, "dark")
	embed.navigate(t, env.url+"/embed/"+id+"?theme=light")
	embed.waitJS(t, "light, as the embed asks, whatever the preference", looks(lightBg, false))
	embed.prefers(t, "light")
	embed.navigate(t, env.url+"/embed/"+id+"?theme=dark")
	embed.prefers(t, "dark")
	embed.prefers(t, "light")
	embed.waitJS(t, "dark, as the embed asks, through a change of preference", looks(darkBg, true))
}

// testFocusRing: a keyboard user sees where the focus is. The editor, whose
// caret alone is easy to lose, gets a ring inside its card when it has the
// focus, and the page's controls one outside them, in light and dark.
func testFocusRing(t *testing.T, env *testEnv, b *browser) {
	id := env.create("focus", "text")
	for _, c := range []struct{ page, ring string }{
		{"/d/" + id + "?theme=light", "rgb(47, 95, 239)"},
		{"/d/" + id + "?theme=dark", "rgb(111, 143, 255)"},
		{"/embed/" + id + "?theme=dark", "rgb(111, 143, 255)"},
	} {
		tab := b.open(t, env.url+c.page)
		tab.waitSaved(t)
		ring := func(sel string) string {
			return fmt.Sprintf(`(s => s.outlineStyle === 'solid' && s.outlineWidth === '2px' && s.outlineColor === %q)(
				getComputedStyle(document.querySelector(%q)))`, c.ring, sel)
		}
		tab.waitJS(t, c.page+": no ring while the editor is not focused", "!"+ring(".cm-editor"))
		tab.eval(t, `folio.view.focus()`)
		tab.waitJS(t, c.page+": a ring round the focused editor", `document.querySelector('.cm-editor').classList.contains('cm-focused') && `+ring(".cm-editor"))
		if strings.HasPrefix(c.page, "/d/") {
			tab.eval(t, `document.querySelector('button[data-copy]').focus()`)
			tab.waitJS(t, c.page+": a ring round a focused button", `document.querySelector('button[data-copy]').matches(':focus-visible') && `+ring("button[data-copy]"))
		}
	}
}

// testKeysHint: Tab indents in the text, so a keyboard user needs to know
// that Escape then Tab leaves it. The text is described by a visually
// hidden hint that says so (a read-only text, which Tab leaves, has none),
// and the keys do what it says.
func testKeysHint(t *testing.T, env *testEnv, b *browser) {
	id := env.create("keys", "text")
	const hint = `(c => (h => h !== null && h.textContent === 'Press Escape then Tab to leave the editor' &&
		h.getBoundingClientRect().width <= 1)(document.getElementById(c.getAttribute('aria-describedby') ?? '')))(document.querySelector('.cm-content'))`
	for _, page := range []string{"/d/", "/embed/"} {
		tab := b.open(t, env.url+page+id)
		tab.waitSaved(t)
		tab.waitJS(t, page+": the hint describes the text", hint)
		tab.eval(t, `folio.view.dispatch({selection: {anchor: 0}}), folio.view.focus()`)
		ctx, cancel := tab.bounded()
		for _, k := range []string{"Tab", "Escape", "Tab"} {
			if err := tab.key(ctx, k, k, map[string]int64{"Tab": 9, "Escape": 27}[k], 0); err != nil {
				t.Fatal(err)
			}
		}
		cancel()
		tab.waitJS(t, page+": Tab indented, Escape then Tab left the text", `folio.view.state.doc.toString() !== 'text' &&
			folio.view.state.doc.toString().trim() === 'text' && !folio.view.hasFocus`)
	}
	ro := b.open(t, env.url+"/embed/"+id+"?readonly=1")
	ro.waitSaved(t)
	ro.waitJS(t, "no hint on a read-only text", `!document.querySelector('.cm-content').hasAttribute('aria-describedby')`)
}

func testRESTPut(t *testing.T, env *testEnv, b *browser) {
	id := env.create("rest", "hello")
	tab := b.open(t, env.url+"/d/"+id)
	tab.waitSaved(t)
	// Without access control: both share links, export links without a token.
	tab.waitJS(t, "share links of an open server", `(ro => ro.value === location.origin + '/d/`+id+`?readonly=1' &&
		document.getElementById('share-link').value === location.origin + '/d/`+id+`' &&
		!document.getElementById('share-edit').hidden && !document.getElementById('share-readonly').hidden)(
		document.getElementById('readonly-link')) && [...document.querySelectorAll('a[data-export]')].every(a => !a.href.includes('token'))`)
	tab.eval(t, `folio.view.dispatch({selection: {anchor: 5}}), folio.view.focus()`)
	if err := tab.typeKeys(" world"); err != nil {
		t.Fatal(err)
	}
	converged(t, env, id, "hello world", tab)
	if r := env.send(http.MethodPut, "/api/v1/docs/"+id+"/text", "héllo 🌍 world\n"); r.status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	converged(t, env, id, "héllo 🌍 world\n", tab)

	// Deleting the document closes the editor for good; the text stays visible.
	if r := env.do(http.MethodDelete, "/api/v1/docs/"+id, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	tab.waitJS(t, "closed status", `document.getElementById('status').dataset.state === 'closed' &&
		document.getElementById('status').textContent.includes('deleted') &&
		document.querySelector('.cm-content').contentEditable === 'false'`)
	if got := tab.text(t); got != "héllo 🌍 world\n" {
		t.Errorf("text after delete %q", got)
	}
}

// testCopyButtons: each Copy button and link is named for what it copies
// (the visible label names the input), and a button says Copied only for a
// moment, and only the last one clicked.
func testCopyButtons(t *testing.T, env *testEnv, b *browser) {
	id := env.create("copy", "x")
	tab := b.open(t, env.url+"/d/"+id)
	tab.waitSaved(t)
	tab.waitJS(t, "the read-only link", `document.getElementById('readonly-link').value !== ''`)
	// On an open server neither link ever stops working, and each says so.
	tab.waitJS(t, "both links said never to expire", `['share-link', 'readonly-link'].every(id => (n => n.checkVisibility() &&
		n.textContent === 'Never expires' && document.getElementById(id).getAttribute('aria-describedby') === n.id)(
		document.getElementById(id + '-expiry')))`)
	buttons, boxes := strings.Join(tab.axNames(t, "button"), "|"), strings.Join(tab.axNames(t, "textbox"), "|")
	if !strings.Contains(buttons, "Copy the edit link|Copy the read-only link") {
		t.Errorf("buttons named %q, want each Copy named for its link", buttons)
	}
	if !strings.Contains(boxes, "Anyone with this link can edit|Read-only link") {
		t.Errorf("text boxes named %q, want the share links named by their visible labels", boxes)
	}
	tab.eval(t, `window.copied = [], Object.defineProperty(navigator, 'clipboard', {configurable: true,
		value: {writeText: text => (copied.push(text), Promise.resolve())}})`)
	const state = `[...document.querySelectorAll('button[data-copy]')].map(b => b.textContent).join('|')`
	tab.eval(t, `document.querySelector('button[data-copy=readonly-link]').click()`)
	tab.waitJS(t, "the read-only link copied", `copied.join() === document.getElementById('readonly-link').value &&
		`+state+` === 'Copy the edit link|Copied the read-only link'`)
	tab.eval(t, `document.querySelector('button[data-copy=share-link]').click()`)
	tab.waitJS(t, "the edit link copied, the other button back to Copy", `copied[1] === document.getElementById('share-link').value &&
		`+state+` === 'Copied the edit link|Copy the read-only link'`)
	tab.waitJS(t, "Copy again after a moment", state+` === 'Copy the edit link|Copy the read-only link'`)
}

func testLanding(t *testing.T, env *testEnv, b *browser) {
	tab := b.open(t, env.url+"/")
	tab.eval(t, `document.getElementById('new-doc').click()`)
	tab.waitJS(t, "a new document opened", `location.pathname.startsWith('/d/') && window.folio !== undefined &&
		document.getElementById('status').dataset.state === 'saved'`)
	// Ready to type into: no click into the empty editor first.
	tab.waitJS(t, "the caret in the new document", `folio.view.hasFocus`)
	if err := tab.typeKeys("Hi"); err != nil {
		t.Fatal(err)
	}
	tab.waitJS(t, "typed at once", `folio.view.state.doc.toString() === 'Hi' && document.getElementById('status').dataset.state === 'saved'`)
	// The name typed in the page is used at once and remembered.
	tab.eval(t, `(i => { i.value = 'Zed'; i.dispatchEvent(new Event('change')); })(document.getElementById('user-name'))`)
	tab.waitJS(t, "the new name", `localStorage.getItem('folio.name') === 'Zed' &&
		document.getElementById('participants').textContent.includes('Zed (you)')`)

	other := b.open(t, env.url+"/")
	other.eval(t, `document.getElementById('open-id').value = 'by-id'; document.getElementById('open-form').requestSubmit()`)
	other.waitJS(t, "the document opened by id", `location.pathname === '/d/by-id' && window.folio !== undefined &&
		document.getElementById('status').dataset.state === 'saved' && document.getElementById('user-name').value === 'Zed'`)

	// A document with text is left unfocused: its reader may only read.
	id := env.create("has-text", "to read")
	reader := b.open(t, env.url+"/d/"+id)
	reader.waitSaved(t)
	if reader.evalInt(t, `folio.view.hasFocus ? 1 : 0`) != 0 {
		t.Error("the editor of a document with text took the focus")
	}
}

// testErrorPages: an error page is headed by what went wrong, in words; its
// HTTP status is still there, but smaller, for whoever reports it.
func testErrorPages(t *testing.T, env *testEnv, b *browser) {
	for path, c := range map[string]struct {
		heading string
		status  int
	}{
		"/nothing/here":  {"Page not found", 404},
		"/d/not%20an-id": {"Not a document address", 400},
		"/embed/a.b":     {"Not a document address", 400},
	} {
		tb := b.open(t, env.url+path)
		tb.waitJS(t, path+": headed in words, the status beside", errorPageCheck(c.heading, c.status))
	}
}

// testHostNotAllowedPage: a browser that reaches the server by a name it
// does not answer to (no --allowed-hosts) is shown the error page naming
// the host to allow, not raw JSON, and no link (back to the same refusal).
func testHostNotAllowedPage(t *testing.T, env *testEnv, b *browser) {
	u := "http://folio.example:" + env.port() + "/d/notes"
	tb := b.open(t, u)
	tb.waitJS(t, "the host error page", `document.title === 'Host name not allowed · Folio' &&
		performance.getEntriesByType('navigation')[0].responseStatus === 403 &&
		document.querySelector('h1')?.textContent === 'Host name not allowed' &&
		document.querySelector('.lead')?.textContent.includes('adds folio.example to --allowed-hosts') &&
		document.querySelector('.error-status')?.textContent === 'Error 403' &&
		document.links.length === 0`)
}

// errorPageCheck is a JS condition: the page answered status, its one
// heading is heading (the title too), styled by folio.css, and the status
// shows below it in smaller type.
func errorPageCheck(heading string, status int) string {
	return fmt.Sprintf(`(h => h.length === 1 && h[0].textContent === %q && document.title === %q &&
		performance.getEntriesByType('navigation')[0].responseStatus === %d &&
		(s => s !== null && s.checkVisibility() && s.textContent === 'Error %d' &&
			parseFloat(getComputedStyle(s).fontSize) * 2 < parseFloat(getComputedStyle(h[0]).fontSize) &&
			s.getBoundingClientRect().top > h[0].getBoundingClientRect().bottom)(document.querySelector('.error-status')) &&
		getComputedStyle(document.body).fontFamily.startsWith('system-ui'))(document.querySelectorAll('h1'))`,
		heading, heading+" · Folio", status, status)
}

func testEmbedAllowed(t *testing.T, env *testEnv, b *browser, host *httptest.Server) {
	id := env.create("embedded", "in a frame")
	src := env.url + "/embed/" + id + "?name=Emma&color=%23123456"
	tab := b.open(t, host.URL+"/?src="+url.QueryEscape(src))
	origin := env.url
	tab.waitJS(t, "folio:ready from the embed", fmt.Sprintf(
		`window.msgs.some(m => m.origin === %q && m.data.type === 'folio:ready' && m.data.id === %q)`, origin, id))
	tab.waitJS(t, "folio:status saved and folio:presence", fmt.Sprintf(`window.msgs.some(m => m.origin === %q &&
		m.data.type === 'folio:status' && m.data.state === 'saved') && window.msgs.some(m => m.data.type === 'folio:presence' && m.data.count === 1)`, origin))
	if r := env.send(http.MethodPut, "/api/v1/docs/"+id+"/text", "in a frame!"); r.status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	tab.waitJS(t, "folio:change", `window.msgs.some(m => m.data.type === 'folio:change' && m.data.version >= 1)`)

	// folio:presence comes when the number of participants changes, not
	// each time one of them moves their caret or types.
	bob := b.open(t, env.url+"/d/"+id+"?name=Bob")
	bob.waitSaved(t)
	bob.eval(t, `folio.view.dispatch({selection: {anchor: 3}}), folio.view.dispatch({changes: {from: 0, insert: ">"}})`)
	tab.waitJS(t, "Bob's edit", `window.msgs.some(m => m.data.type === 'folio:change' && m.data.version >= 2)`)
	bob.navigate(t, "about:blank")
	counts := `window.msgs.filter(m => m.data.type === 'folio:presence').map(m => m.data.count).join()`
	tab.waitJS(t, "Bob gone", `window.msgs.at(-1).data.type === 'folio:presence' && window.msgs.at(-1).data.count === 1`)
	tab.waitJS(t, "one folio:presence per change of the number: "+counts, counts+` === '1,2,1'`)
}

// testEmbedPresenceOffline: offline, the embed cannot know who is still
// there. It tells the parent that its count is the one last seen (stale),
// and the current count once it is back, even when the number has not
// changed meanwhile; count itself stays a number, for parents written
// before stale.
func testEmbedPresenceOffline(t *testing.T, env *testEnv, proxy *cutProxy, b *browser, host *httptest.Server) {
	id := env.create("embedded-offline", "in a frame")
	tab := b.open(t, host.URL+"/?src="+url.QueryEscape(proxy.url+"/embed/"+id+"?name=Emma"))
	presence := `window.msgs.filter(m => m.data.type === 'folio:presence').map(m => m.data.count + (m.data.stale === true ? ' as last seen' : '') +
		('stale' in m.data && m.data.stale !== true ? ' stale: ' + m.data.stale : '')).join()`
	tab.waitJS(t, "Emma alone: "+presence, presence+` === '1'`)
	bob := b.open(t, env.url+"/d/"+id+"?name=Bob")
	bob.waitSaved(t)
	tab.waitJS(t, "Emma and Bob: "+presence, presence+` === '1,2'`)
	cleo := b.open(t, env.url+"/d/"+id+"?name=Cleo")
	cleo.waitSaved(t)
	tab.waitJS(t, "and Cleo: "+presence, presence+` === '1,2,3'`)
	proxy.cut()
	tab.waitJS(t, "offline: three as last seen", `window.msgs.some(m => m.data.type === 'folio:status' && m.data.state === 'offline') &&
		`+presence+` === '1,2,3,3 as last seen'`)
	proxy.restore()
	// The welcome lists Bob and Cleo: one count for it, not 2 then 3.
	tab.waitJS(t, "back: three, live", `window.msgs.at(-1).data.type === 'folio:status' && window.msgs.at(-1).data.state === 'saved' &&
		`+presence+` === '1,2,3,3 as last seen,3'`)
	proxy.cut()
	bob.navigate(t, "about:blank")
	tab.waitJS(t, "offline again", presence+` === '1,2,3,3 as last seen,3,3 as last seen'`)
	proxy.restore()
	tab.waitJS(t, "back: Bob gone meanwhile", presence+` === '1,2,3,3 as last seen,3,3 as last seen,2'`)
}

func testEmbedRefused(t *testing.T, env *testEnv, b *browser, host *httptest.Server) {
	id := env.create("notframed", "x")
	src := env.url + "/embed/" + id
	tab := b.open(t, host.URL+"/?src="+url.QueryEscape(src))
	deadline := time.Now().Add(waitFor)
	for {
		ctx, cancel := tab.bounded()
		tree, err := chromedp.Call(ctx, page.GetFrameTree, cdp.Empty{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if kids := tree.FrameTree.ChildFrames; len(kids) == 1 {
			f := kids[0].Frame
			if f.URL == src {
				t.Fatalf("the embed was framed by %s, which is not an allowed origin", host.URL)
			}
			if f.UnreachableURL == src && strings.HasPrefix(f.URL, "chrome-error:") {
				break // blocked by frame-ancestors
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the frame neither loaded nor was refused")
		}
		time.Sleep(20 * time.Millisecond) // polling the frame tree, as eventually does
	}
	if n := tab.evalInt(t, `window.msgs.length`); n != 0 {
		t.Errorf("a refused frame posted %d messages", n)
	}
}

// converged waits until every tab shows want, has nothing unsynced, and the
// server's text is want too.
func converged(t *testing.T, env *testEnv, id, want string, tabs ...*tab) {
	t.Helper()
	w, _ := json.Marshal(want)
	for _, tb := range tabs {
		tb.waitJS(t, "text "+string(w), fmt.Sprintf(`folio.view.state.doc.toString() === %s && folio.client.unsynced === 0 &&
			document.getElementById('status').dataset.state === 'saved'`, w))
	}
	if got := env.text(id); got != want {
		t.Fatalf("server text %q, want %q", got, want)
	}
}
