package web

// The editor with access control on (docs/security.md), in real Chromium:
// tokens minted with TokenAuth.Mint, pages opened with ?token=.

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestEditorWithTokens(t *testing.T) {
	a := newTokenEnv(t)
	proxy := newCutProxy(t, a.ts.Listener.Addr().String())
	b := newBrowser(t)

	t.Run("EditAndViewTokens", func(t *testing.T) { testEditAndView(t, a, b) })
	t.Run("PagesRefusedWithoutAValidToken", func(t *testing.T) { testPagesRefused(t, a, b) })
	t.Run("ShareLinkOpensReadOnly", func(t *testing.T) { testShareLink(t, a, b) })
	t.Run("LandingNeedsAToken", func(t *testing.T) { testLandingWithAuth(t, a, b) })
	// Last: it moves the token clock.
	t.Run("ReconnectsWithTheTokenUntilRefused", func(t *testing.T) { testReconnects(t, a, proxy, b) })
	t.Run("ExpiredHidesShareAndExport", func(t *testing.T) { testExpiredLinks(t, a, proxy, b) })
}

// tokenEnv is a real stack whose server checks tokens. skew is added to the
// token clock, to expire tokens without waiting.
type tokenEnv struct {
	*testEnv
	auth *TokenAuth
	skew atomic.Int64
}

func newTokenEnv(t *testing.T) *tokenEnv {
	t.Helper()
	a := &tokenEnv{}
	auth, err := NewTokenAuth([]byte(rand.Text()+rand.Text()), func() time.Time {
		return time.Now().Add(time.Duration(a.skew.Load()))
	})
	if err != nil {
		t.Fatal(err)
	}
	a.auth = auth
	a.testEnv = newEnv(t, func(o *Options) { o.Tokens = auth })
	return a
}

func (a *tokenEnv) token(t *testing.T, doc, role, name string, ttl time.Duration) string {
	t.Helper()
	tok, err := a.auth.Mint(TokenSpec{Doc: doc, Role: role, Name: name, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (a *tokenEnv) admin(t *testing.T) []string {
	return []string{"Authorization", "Bearer " + a.token(t, TokenAllDocs, roleAdmin, "", time.Hour)}
}

func (a *tokenEnv) create(t *testing.T, id, text string) string {
	t.Helper()
	b, _ := json.Marshal(createRequest{ID: id, Text: text})
	if r := a.send(http.MethodPost, "/api/v1/docs", string(b), a.admin(t)...); r.status != http.StatusCreated {
		t.Fatalf("create %q: %d %s", id, r.status, r.body)
	}
	return id
}

func (a *tokenEnv) text(t *testing.T, id string) string {
	t.Helper()
	r := a.get("/api/v1/docs/"+id+"/text", a.admin(t)...)
	if r.status != http.StatusOK {
		t.Fatalf("text %s: %d %s", id, r.status, r.body)
	}
	return string(r.body)
}

// converged waits until every tab shows want with nothing unsynced and
// checks the server's text.
func (a *tokenEnv) converged(t *testing.T, id, want string, tabs ...*tab) {
	t.Helper()
	w, _ := json.Marshal(want)
	for _, tb := range tabs {
		tb.waitJS(t, "text "+string(w), fmt.Sprintf(`folio.view.state.doc.toString() === %s && folio.client.unsynced === 0 &&
			document.getElementById('status').dataset.state === 'saved'`, w))
	}
	if got := a.text(t, id); got != want {
		t.Fatalf("server text %q, want %q", got, want)
	}
}

func testEditAndView(t *testing.T, a *tokenEnv, b *browser) {
	id := a.create(t, "tokens", "shared\n")
	edit := b.open(t, a.url+"/d/"+id+"?token="+a.token(t, id, roleEdit, "Ann", time.Hour)+"&name=Mallory")
	viewToken := a.token(t, id, roleView, "Vic", time.Hour)
	view := b.open(t, a.url+"/d/"+id+"?token="+viewToken)
	embed := b.open(t, a.url+"/embed/"+id+"?token="+viewToken)
	edit.waitSaved(t)
	view.waitSaved(t)
	embed.waitSaved(t)

	edit.eval(t, `folio.view.dispatch({selection: {anchor: folio.view.state.doc.length}}), folio.view.focus()`)
	if err := edit.typeKeys("more 🎉\nok"); err != nil {
		t.Fatal(err)
	}
	const want = "shared\nmore 🎉\nok"
	a.converged(t, id, want, edit, view, embed)

	for _, tb := range []*tab{view, embed} {
		tb.waitJS(t, "read-only by the token's role", `folio.readOnly && document.querySelector('.cm-content').contentEditable === 'false' &&
			document.getElementById('status').textContent === 'Read-only'`)
	}
	edit.waitJS(t, "the editor's own status", `document.getElementById('status').textContent === 'Saved'`)
	view.eval(t, `folio.view.focus()`)
	if err := view.typeKeys("typed\b\n"); err != nil {
		t.Fatal(err)
	}
	if got := view.text(t); got != want {
		t.Fatalf("view page text %q after typing", got)
	}
	// Names come from the tokens (not ?name=); the viewer is listed, as one.
	edit.waitJS(t, "participants named by their tokens", `[...document.querySelectorAll('#participants li')].map(l => l.textContent).sort().join('|') === 'Ann (you)|Vic (viewing)|Vic (viewing)' &&
		document.getElementById('user-name').disabled && document.getElementById('user-name').value === 'Ann'`)

	// Both select text: the editor's cursor reaches the viewer, the viewer sends none.
	const record = `window.sent = []; (s => WebSocket.prototype.send = function (d) { sent.push(JSON.parse(d)); return s.call(this, d); })(WebSocket.prototype.send);
		folio.view.dispatch({selection: {anchor: 0, head: 6}})`
	edit.eval(t, record)
	view.eval(t, record)
	view.waitJS(t, "Ann's selection", `[...document.querySelectorAll('.cm-remote-selection')].map(e => e.textContent).join('') === 'shared'`)
	edit.waitJS(t, "Ann sent her cursor", `sent.some(m => m.type === 'presence' && m.cursor && m.cursor.head === 6)`)
	// Absence needs a window: ten times the viewer's presence interval.
	const quiet = `new Promise(r => setTimeout(() => r(sent.filter(m => m.type === 'presence').length + document.querySelectorAll('.cm-remote-caret').length), 500))`
	if n := view.evalAwait(t, quiet); n != 1 { // Ann's caret alone
		t.Errorf("viewer sent presence or shows extra carets: %d", n-1)
	}
	if n := edit.evalInt(t, `document.querySelectorAll('.cm-remote-caret').length`); n != 0 {
		t.Errorf("the editor shows %d remote carets; the viewer has none", n)
	}

	// Export links carry the token: a plain GET of the link is allowed.
	href := edit.evalString(t, `document.querySelector('a[data-export][href*="/export/txt"]').href`)
	if !strings.Contains(href, "token=") {
		t.Fatalf("export link without a token: %s", href)
	}
	r := a.get(strings.TrimPrefix(href, a.url))
	if r.status != http.StatusOK || string(r.body) != want {
		t.Fatalf("GET export link: %d %q", r.status, r.body)
	}
}

func testPagesRefused(t *testing.T, a *tokenEnv, b *browser) {
	id := a.create(t, "guarded", "secret text")
	other := a.create(t, "other", "")
	const (
		refused = "needs a link with a valid token"
		expired = "The access token in this link has expired" // Its holder only needs a fresh link.
	)
	for name, c := range map[string]struct{ path, says, heading string }{
		"no token":                     {"/d/" + id, refused, "Access needed"},
		"another document's token":     {"/d/" + id + "?token=" + a.token(t, other, roleEdit, "", time.Hour), refused, "Access needed"},
		"embed, another doc's token":   {"/embed/" + id + "?token=" + a.token(t, other, roleView, "", time.Hour), refused, "Access needed"},
		"embed, no token, readonly=1":  {"/embed/" + id + "?readonly=1", refused, "Access needed"},
		"expired token (not yet used)": {"/d/" + id + "?token=" + a.token(t, id, roleEdit, "", time.Nanosecond), expired, "Link expired"},
		"embed, expired token":         {"/embed/" + id + "?token=" + a.token(t, id, roleView, "", time.Nanosecond), expired, "Link expired"},
	} {
		tb := b.open(t, a.url+c.path)
		tb.waitJS(t, name+": a 403 page", fmt.Sprintf(`performance.getEntriesByType('navigation')[0].responseStatus === 403 &&
			document.body.innerText.includes(%q) && !document.body.innerText.includes('secret text') &&
			window.folio === undefined`, c.says))
		tb.waitJS(t, name+": headed in words, styled, the status beside", errorPageCheck(c.heading, 403))
	}
}

func testShareLink(t *testing.T, a *tokenEnv, b *browser) {
	id := a.create(t, "shared", "look")
	edit := b.open(t, a.url+"/d/"+id+"?token="+a.token(t, id, roleEdit, "Ann", 6*24*time.Hour))
	edit.waitSaved(t)
	edit.waitJS(t, "a read-only link with a token; no edit link", `document.getElementById('readonly-link').value.includes('token=') &&
		document.getElementById('share-edit').hidden && !document.getElementById('share-readonly').hidden`)
	link := edit.evalString(t, `document.getElementById('readonly-link').value`)
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme+"://"+u.Host != a.url || u.Path != "/d/"+id || u.Query().Get("readonly") != "1" {
		t.Fatalf("share link %s", link)
	}
	c, err := a.auth.Parse(u.Query().Get("token"))
	if err != nil || c.Role != roleView || c.Doc != id || c.Name != "" {
		t.Fatalf("share token claims %+v, %v; want a nameless view token for %s", c, err, id)
	}
	// The link stops working with the sharer's token, in 6 days: the share
	// box says so, in the user's locale, relative and absolute.
	exp := c.ExpiresAt.Time.UTC().Format("2006-01-02T15:04:05.000Z")
	edit.waitJS(t, "when the read-only link expires", fmt.Sprintf(`(n => n.checkVisibility() && n.dataset.expires === %q &&
		n.textContent === 'Expires ' + new Intl.RelativeTimeFormat(undefined, {numeric: 'always'}).format(6, 'day') + ' (' +
			new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'short'}).format(new Date(%q)) + ')')(
		document.getElementById('readonly-link-expiry'))`, exp, exp))

	ro := b.open(t, link)
	ro.waitSaved(t)
	ro.waitJS(t, "read-only", `folio.readOnly && document.querySelector('.cm-content').contentEditable === 'false'`)
	edit.eval(t, `folio.view.dispatch({selection: {anchor: 4}}), folio.view.focus()`)
	if err := edit.typeKeys(" here"); err != nil {
		t.Fatal(err)
	}
	a.converged(t, id, "look here", edit, ro)
}

func testLandingWithAuth(t *testing.T, a *tokenEnv, b *browser) {
	tab := b.open(t, a.url+"/")
	tab.eval(t, `document.getElementById('new-doc').click()`)
	tab.waitJS(t, "a message saying a token is needed", `location.pathname === '/' &&
		document.getElementById('error').textContent.includes('needs an access token to create documents')`)

	// A token for every document creates one and opens it, token carried on.
	all := a.token(t, TokenAllDocs, roleEdit, "Cleo", time.Hour)
	tab = b.open(t, a.url+"/?token="+url.QueryEscape(all))
	tab.eval(t, `document.getElementById('new-doc').click()`)
	tab.waitJS(t, "the new document opened", `location.pathname.startsWith('/d/') && new URLSearchParams(location.search).get('token') !== null &&
		window.folio !== undefined && document.getElementById('status').dataset.state === 'saved'`)
}

// testReconnects: every hello carries the page's token, the WebSocket URL
// never does; once the token has expired, the refused hello is final.
func testReconnects(t *testing.T, a *tokenEnv, proxy *cutProxy, b *browser) {
	defer a.skew.Store(0)
	id := a.create(t, "expiring", "soon")
	token := a.token(t, id, roleEdit, "Sam", time.Minute)
	tab := b.open(t, proxy.url+"/d/"+id+"?token="+token)
	tab.waitSaved(t)
	tab.eval(t, `window.sent = []; window.dialed = [];
		(s => WebSocket.prototype.send = function (d) { sent.push(JSON.parse(d)); return s.call(this, d); })(WebSocket.prototype.send);
		window.WebSocket = class extends WebSocket { constructor(u, p) { dialed.push(String(u)); super(u, p); } };
		folio.view.dispatch({selection: {anchor: 4}}), folio.view.focus()`)

	proxy.cut()
	tab.waitJS(t, "offline", `document.getElementById('status').dataset.state === 'offline'`)
	if err := tab.typeKeys(" enough"); err != nil {
		t.Fatal(err)
	}
	proxy.restore()
	a.converged(t, id, "soon enough", tab)
	hello := fmt.Sprintf(`sent.filter(m => m.type === 'hello').every(m => m.token === %q) && sent.some(m => m.type === 'hello')`, token)
	tab.waitJS(t, "the token in the reconnect's hello, not in the URL", hello+` &&
		dialed.length > 0 && dialed.every(u => !u.includes('token') && !u.includes(`+fmt.Sprintf("%q", token[:16])+`))`)

	// The token expires while the page is open; the next hello is refused.
	a.skew.Store(int64(2 * time.Minute))
	proxy.cut()
	proxy.restore()
	tab.waitJS(t, "access refused, for good", `document.getElementById('status').dataset.state === 'closed' &&
		document.getElementById('status').textContent.includes('access refused: token expired') &&
		document.querySelector('.cm-content').contentEditable === 'false' && folio.conn.stopped === true`)
	if got := tab.text(t); got != "soon enough" {
		t.Errorf("text after refusal %q", got)
	}
}

// testExpiredLinks: once the page's token has expired, its share and export
// links would only lead to an error: they go, and a line says why.
func testExpiredLinks(t *testing.T, a *tokenEnv, proxy *cutProxy, b *browser) {
	defer a.skew.Store(0)
	id := a.create(t, "expired-links", "text")
	tab := b.open(t, proxy.url+"/d/"+id+"?token="+a.token(t, id, roleEdit, "Sam", time.Minute))
	tab.waitSaved(t)
	const links = `[...document.querySelectorAll('a[data-export], #readonly-link')]`
	const why = `document.getElementById('links-gone')`
	tab.waitJS(t, "share and export links shown", links+`.length === 4 && `+links+`.every(e => e.checkVisibility()) &&
		!`+why+`?.checkVisibility()`)
	a.skew.Store(int64(2 * time.Minute))
	proxy.cut()
	proxy.restore()
	tab.waitJS(t, "closed: no share or export links, and why", `document.getElementById('status').dataset.state === 'closed' &&
		!`+links+`.some(e => e.checkVisibility()) && `+why+`?.checkVisibility() && `+why+`.textContent ===
		'Sharing and export are unavailable: access refused: token expired.'`)
}

func (tb *tab) evalString(t *testing.T, expr string) string {
	t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("%s: eval %s: %v", tb.url, expr, err)
	}
	return s
}

// evalAwait evaluates an expression giving a promise of an int.
func (tb *tab) evalAwait(t *testing.T, expr string) int {
	t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: eval %s: %v", tb.url, expr, err)
	}
	return n
}
