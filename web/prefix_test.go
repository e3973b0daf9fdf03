package web

// Folio behind a reverse proxy that serves it under a path prefix and strips
// it, as nginx's `location /folio/ { proxy_pass http://127.0.0.1:8080/; }`
// does (README.md, "Under a path prefix"): every page, asset, link, API
// call and WebSocket must stay under the prefix.

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// prefixProxy serves target under /folio/ with httputil.ReverseProxy
// (WebSocket upgrades included), passing the client's Host on as the
// README's nginx example does, and the path as it came (no ServeMux: it would
// clean the path, as nginx does unless merge_slashes is off, while other
// proxies pass /folio/d//x on as /d//x). What is asked outside /folio/ gets
// 404 and is recorded: whatever sent it escaped the prefix.
type prefixProxy struct {
	url  string // Folio's root through the proxy: http://127.0.0.1:port/folio/
	root string // the proxy's own root: http://127.0.0.1:port

	mu      sync.Mutex
	escaped []string
}

func newPrefixProxy(t *testing.T, target string) *prefixProxy {
	t.Helper()
	to, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(to)
		r.Out.Host = r.In.Host
		r.SetXForwarded()
	}}
	p := &prefixProxy{}
	strip := http.StripPrefix("/folio", rp)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/folio/") {
			strip.ServeHTTP(w, r)
			return
		}
		p.mu.Lock()
		p.escaped = append(p.escaped, r.Method+" "+r.URL.RequestURI())
		p.mu.Unlock()
		http.NotFound(w, r)
	}))
	t.Cleanup(ts.Close)
	p.root, p.url = ts.URL, ts.URL+"/folio/"
	return p
}

// checkNoneEscaped fails the test if anything was asked outside /folio/.
func (p *prefixProxy) checkNoneEscaped(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.escaped) > 0 {
		t.Errorf("requests escaped the prefix /folio/: %q", p.escaped)
	}
}

func getURL(t *testing.T, u string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

var pageURLAttr = regexp.MustCompile(`\b(?:href|src)="([^"]*)"`)

// rootAbsolute finds, in the bundle, a path from the server's root written
// as a string ("/d/…", `/api/…`, `${x}/embed/…`) or an address built from
// the page's origin: both would leave a proxy's prefix.
var rootAbsolute = regexp.MustCompile("[\"'`}]/(?:d|embed|api|assets)/|location\\.(?:origin|host)\\b")

// TestPagesUnderPrefix: through a prefix-stripping proxy, every URL a page
// names (stylesheet, script, links, exports, its configuration's root and
// API) is relative, resolves under the prefix and is served there; the
// bundle builds no address from the server's root.
func TestPagesUnderPrefix(t *testing.T) {
	env := newEnv(t, nil)
	px := newPrefixProxy(t, env.url)
	id := env.create("under-prefix", "text")

	for _, path := range []string{"", "d/" + id, "embed/" + id, "nothing/here", "d/" + id + "/", "a/b/c/d",
		"d/not%20an-id", "embed/a.b", "d/a%2Fb"} {
		page := px.url + path
		r := getURL(t, page)
		if r.status != http.StatusOK && r.status != http.StatusNotFound && r.status != http.StatusBadRequest {
			t.Fatalf("%s: status %d", page, r.status)
		}
		checkPageURLs(t, px, page, string(r.body))
		cfg := pageConfigOf(t, string(r.body))
		base := must(url.Parse(page))
		if got := base.ResolveReference(must(url.Parse(cfg.Root))).String(); got != px.url {
			t.Errorf("%s: config root %q resolves to %s, want %s", page, cfg.Root, got, px.url)
		}
		if got := base.ResolveReference(must(url.Parse(cfg.API))).String(); got != px.url+"api/v1" {
			t.Errorf("%s: config api %q resolves to %s", page, cfg.API, got)
		}
	}

	js := getURL(t, px.url+"assets/folio.js")
	if js.status != http.StatusOK {
		t.Fatalf("bundle: status %d", js.status)
	}
	for _, m := range rootAbsolute.FindAllIndex(js.body, -1) {
		t.Errorf("the bundle builds an address from the server's root: …%s…", js.body[max(0, m[0]-40):min(len(js.body), m[1]+40)])
	}
	px.checkNoneEscaped(t)
}

// TestRefusalPageUnderPrefix: the page refusing a document without a token
// takes its stylesheet from under the prefix too.
func TestRefusalPageUnderPrefix(t *testing.T) {
	a := newTokenEnv(t)
	px := newPrefixProxy(t, a.url)
	for _, path := range []string{"d/secret", "embed/secret"} {
		r := getURL(t, px.url+path)
		if r.status != http.StatusForbidden {
			t.Fatalf("%s: status %d", path, r.status)
		}
		checkPageURLs(t, px, px.url+path, string(r.body))
	}
	px.checkNoneEscaped(t)
}

// TestPageRootAsSent: a page counts the directories of its path as the
// browser sent it, behind a proxy that forwards the path as received
// (http.StripPrefix here, as nginx's proxy_pass without a URI): with an
// escaped slash beside a "|" or "^", which browsers following the URL
// Standard send unescaped (Chromium escapes them), its stylesheet, script,
// links and configuration still lead to Folio's root under the prefix, not
// above it.
func TestPageRootAsSent(t *testing.T) {
	env := newEnv(t, nil)
	ts := httptest.NewServer(http.StripPrefix("/folio", env.srv.Handler()))
	t.Cleanup(ts.Close)
	for _, c := range []struct{ path, root string }{
		{"/folio/a%2Fb%2Fc|", "./"},
		{"/folio/a|/b%2Fc^", "../"},
		{"/folio/d/a%2Fb|", "../"},
	} {
		req := must(http.NewRequest(http.MethodGet, ts.URL, nil))
		req.URL.Opaque = c.path // The request line carries it as it is.
		resp := must(http.DefaultClient.Do(req))
		body := string(must(io.ReadAll(resp.Body)))
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: status %d", c.path, resp.StatusCode)
		}
		if cfg := pageConfigOf(t, body); cfg.Root != c.root || cfg.API != c.root+"api/v1" {
			t.Errorf("%s: config root %q, api %q; want %q, one \"../\" per directory the browser sees", c.path, cfg.Root, cfg.API, c.root)
		}
		for _, m := range pageURLAttr.FindAllStringSubmatch(body, -1) {
			ref := html.UnescapeString(m[1])
			if !strings.HasPrefix(ref, "data:") && (!strings.HasPrefix(ref, c.root) || strings.HasPrefix(ref, c.root+"../")) {
				t.Errorf("%s: %s does not lead to Folio's root %q", c.path, m[0], c.root)
			}
		}
	}
}

// checkPageURLs checks that each URL in body is relative, resolves under
// the proxy's prefix and is served there (200).
func checkPageURLs(t *testing.T, px *prefixProxy, page, body string) {
	t.Helper()
	base := must(url.Parse(page))
	for _, m := range pageURLAttr.FindAllStringSubmatch(body, -1) {
		ref := html.UnescapeString(m[1])
		if strings.HasPrefix(ref, "data:") {
			continue
		}
		if strings.HasPrefix(ref, "/") || strings.Contains(ref, "://") {
			t.Errorf("%s: %s is not relative to the page", page, m[0])
			continue
		}
		u := base.ResolveReference(must(url.Parse(ref))).String()
		if !strings.HasPrefix(u, px.url) {
			t.Errorf("%s: %s resolves to %s, outside %s", page, m[0], u, px.url)
			continue
		}
		if r := getURL(t, u); r.status != http.StatusOK {
			t.Errorf("%s: %s (%s): status %d", page, m[0], u, r.status)
		}
	}
}

// TestEditorBehindPrefixProxy: Chromium uses Folio through a proxy serving
// it under /folio/: the landing page creates and opens documents there, the
// editor connects its WebSocket through the proxy and what is typed is
// stored and seen by another tab; export, share and brand links, the embed
// and the error pages stay under the prefix, and nothing asks the proxy
// for anything outside it.
func TestEditorBehindPrefixProxy(t *testing.T) {
	env := newEnv(t, nil)
	px := newPrefixProxy(t, env.url)
	b := newBrowser(t)

	land := b.open(t, px.url)
	land.eval(t, `document.getElementById('new-doc').click()`)
	land.waitJS(t, "a new document opened under the prefix", `location.pathname.startsWith('/folio/d/') &&
		window.folio !== undefined && document.getElementById('status').dataset.state === 'saved'`)
	id := land.evalString(t, `location.pathname.slice('/folio/d/'.length)`)
	land.waitJS(t, "the caret in the new document", `folio.view.hasFocus`)
	if err := land.typeKeys("Hi"); err != nil {
		t.Fatal(err)
	}
	land.waitJS(t, "typed and saved", `folio.view.state.doc.toString() === 'Hi' && document.getElementById('status').dataset.state === 'saved'`)
	if r := getURL(t, px.url+"api/v1/docs/"+id+"/text"); r.status != http.StatusOK || string(r.body) != "Hi" {
		t.Fatalf("text through the proxy: %d %q, want Hi", r.status, r.body)
	}

	second := b.open(t, px.url+"d/"+id)
	second.waitJS(t, "the text in a second tab", `window.folio !== undefined && folio.view.state.doc.toString() === 'Hi' &&
		document.getElementById('status').dataset.state === 'saved'`)
	second.eval(t, `folio.view.dispatch({selection: {anchor: 2}}), folio.view.focus()`)
	if err := second.typeKeys("!"); err != nil {
		t.Fatal(err)
	}
	land.waitJS(t, "the second tab's edit", `folio.view.state.doc.toString() === 'Hi!'`)
	if got := env.text(id); got != "Hi!" {
		t.Fatalf("server text %q, want Hi!", got)
	}

	// Export, share and brand links, under the prefix and served there.
	for _, f := range []string{"txt", "md", "html"} {
		href := second.evalString(t, fmt.Sprintf(`document.querySelector('a[data-export][href$="/export/%s"]').href`, f))
		if want := px.url + "api/v1/docs/" + id + "/export/" + f; href != want {
			t.Errorf("export link %s, want %s", href, want)
		}
		if st := second.evalAwait(t, fmt.Sprintf(`fetch(%q).then(r => r.status)`, href)); st != http.StatusOK {
			t.Errorf("export %s: status %d", href, st)
		}
	}
	second.waitJS(t, "both share links", `document.getElementById('readonly-link').value !== ''`)
	links := map[string]string{
		"share-link":    px.url + "d/" + id,
		"readonly-link": px.url + "d/" + id + "?readonly=1",
	}
	for el, want := range links {
		if got := second.evalString(t, `document.getElementById('`+el+`').value`); got != want {
			t.Errorf("%s %q, want %q", el, got, want)
		}
	}
	if got := second.evalString(t, `document.querySelector('a.brand').href`); got != px.url {
		t.Errorf("brand link %s, want %s", got, px.url)
	}
	ro := b.open(t, links["readonly-link"])
	ro.waitJS(t, "the read-only link opens read-only", `window.folio !== undefined && folio.readOnly &&
		folio.view.state.doc.toString() === 'Hi!' && document.getElementById('status').dataset.state === 'saved'`)

	// Opening a document by id from the landing page.
	open := b.open(t, px.url)
	open.eval(t, `document.getElementById('open-id').value = 'by-id'; document.getElementById('open-form').requestSubmit()`)
	open.waitJS(t, "the document opened by id", `location.pathname === '/folio/d/by-id' && window.folio !== undefined &&
		document.getElementById('status').dataset.state === 'saved'`)

	embed := b.open(t, px.url+"embed/"+id)
	embed.waitJS(t, "the embed connected", `window.folio !== undefined && folio.view.state.doc.toString() === 'Hi!' &&
		document.getElementById('status').dataset.state === 'saved'`)

	errPage := b.open(t, px.url+"nothing/here")
	errPage.waitJS(t, "the error page styled", errorPageCheck("Page not found", http.StatusNotFound))
	if got := errPage.evalString(t, `document.querySelector('.error-page a').href`); got != px.url {
		t.Errorf("Back to Folio links to %s, want %s", got, px.url)
	}
	px.checkNoneEscaped(t)
}

// TestAPIURLsUnderBasePath: with Options.BasePath, the URLs the API answers
// with (a created document's url, embedUrl and Location, a share link's)
// start with the proxy's prefix, so that a client following them through
// the proxy gets there.
func TestAPIURLsUnderBasePath(t *testing.T) {
	env := newEnv(t, func(o *Options) { o.BasePath = "/folio/" }) // the trailing "/" ignored
	px := newPrefixProxy(t, env.url)
	post := func(u, body string) response {
		t.Helper()
		resp, err := http.Post(u, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return response{resp.StatusCode, resp.Header, must(io.ReadAll(resp.Body))}
	}
	r := post(px.url+"api/v1/docs", `{"id":"via-proxy","text":"x"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var c createResponse
	r.json(t, &c)
	var s shareResponse
	sr := post(px.url+"api/v1/docs/via-proxy/share", "")
	if sr.status != http.StatusOK {
		t.Fatalf("share: %d %s", sr.status, sr.body)
	}
	sr.json(t, &s)
	for _, u := range [][2]string{
		{c.URL, "/folio/d/via-proxy"}, {c.EmbedURL, "/folio/embed/via-proxy"}, {r.header.Get("Location"), "/folio/api/v1/docs/via-proxy"},
		{s.URL, "/folio/d/via-proxy?readonly=1"}, {s.EmbedURL, "/folio/embed/via-proxy?readonly=1"},
	} {
		got, want := u[0], u[1]
		if got != want {
			t.Errorf("%q, want %q", got, want)
			continue
		}
		if r := getURL(t, px.root+got); r.status != http.StatusOK {
			t.Errorf("%s through the proxy: status %d", got, r.status)
		}
	}
	px.checkNoneEscaped(t)
}

// TestPageRootFromBasePath: with Options.BasePath set, pages name Folio's
// root by it, whatever path reached the server. A proxy that normalises the
// paths it forwards (nginx with proxy_pass …/ decodes %2F) gives Folio more
// directories than the browser sees; a root counted from that path would
// lead the page's stylesheet, script and API out of the prefix.
func TestPageRootFromBasePath(t *testing.T) {
	env := newEnv(t, func(o *Options) { o.BasePath = "/folio" })
	for _, path := range []string{"/", "/d/doc", "/a/b/c", "/embed/doc"} {
		r := getURL(t, env.url+path)
		if cfg := pageConfigOf(t, string(r.body)); cfg.Root != "/folio/" || cfg.API != "/folio/api/v1" {
			t.Errorf("%s: config root %q, api %q; want /folio/ and /folio/api/v1", path, cfg.Root, cfg.API)
		}
		for _, m := range pageURLAttr.FindAllStringSubmatch(string(r.body), -1) {
			if ref := html.UnescapeString(m[1]); !strings.HasPrefix(ref, "data:") && !strings.HasPrefix(ref, "/folio/") {
				t.Errorf("%s: %s is not under /folio/", path, m[0])
			}
		}
	}
}

// TestNonCanonicalPathsUnderPrefix: a path that is not canonical (an empty,
// "." or ".." segment) is redirected to its clean form through a
// prefix-stripping proxy to an address under the prefix, served there, query
// and escapes kept: by a Location relative to the path, or, with
// Options.BasePath, under it.
func TestNonCanonicalPathsUnderPrefix(t *testing.T) {
	for _, base := range []string{"", "/folio"} {
		env := newEnv(t, func(o *Options) { o.BasePath = base })
		px := newPrefixProxy(t, env.url)
		id := env.create("clean", "text")
		for _, c := range []struct{ path, want string }{
			{"d//" + id, "d/" + id},
			{"d/./" + id, "d/" + id},
			{"d/x/../" + id, "d/" + id},
			{"d//" + id + "?readonly=1", "d/" + id + "?readonly=1"},
			{".//d/" + id, "d/" + id},
			{"d/" + id + "//", "d/" + id + "/"},
			{"api/v1/docs//" + id + "/./text", "api/v1/docs/" + id + "/text"},
			{"assets//folio.css", "assets/folio.css"},
			{"d//a%20b", "d/a%20b"},
			{"d//a%2Fb", "d/a%2Fb"},
		} {
			u := px.url + c.path
			r := getURL(t, u)
			loc := r.header.Get("Location")
			if relative := !strings.HasPrefix(loc, "/") && !strings.Contains(loc, "://"); r.status != http.StatusTemporaryRedirect ||
				base == "" && !relative || base != "" && !strings.HasPrefix(loc, base+"/") {
				t.Errorf("BasePath %q, %s: %d Location %q, want 307 relative or under BasePath", base, u, r.status, loc)
				continue
			}
			got := must(url.Parse(u)).ResolveReference(must(url.Parse(loc))).String()
			if got != px.url+c.want {
				t.Errorf("BasePath %q, %s: Location %q resolves to %s, want %s", base, u, loc, got, px.url+c.want)
				continue
			}
			if r := getURL(t, got); r.status == http.StatusTemporaryRedirect || r.status >= 500 {
				t.Errorf("BasePath %q, %s: %d", base, got, r.status)
			}
		}
		px.checkNoneEscaped(t)
	}
}

// TestInvalidBasePathIgnored: a BasePath that CheckBasePath refuses is
// ignored, as if empty, by a program embedding package web (cmd/folio
// refuses it at start): the URLs the API answers with and the redirects to
// clean paths stay on this server, never naming another host ("//evil.example/d/x").
func TestInvalidBasePathIgnored(t *testing.T) {
	for _, base := range []string{"//", "//evil.example", "///", `/\evil.example`, "folio", "https://evil.example/folio"} {
		if CheckBasePath(base) == nil {
			t.Errorf("CheckBasePath(%q) accepts it", base)
		}
		env := newEnv(t, func(o *Options) { o.BasePath = base })
		resp, err := http.Post(env.url+"/api/v1/docs", "application/json", strings.NewReader(`{"id":"doc","text":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		r := response{resp.StatusCode, resp.Header, must(io.ReadAll(resp.Body))}
		resp.Body.Close()
		if r.status != http.StatusCreated {
			t.Fatalf("BasePath %q: create: %d %s", base, r.status, r.body)
		}
		var c createResponse
		r.json(t, &c)
		if c.URL != "/d/doc" || c.EmbedURL != "/embed/doc" || r.header.Get("Location") != "/api/v1/docs/doc" {
			t.Errorf("BasePath %q: url %q, embedUrl %q, Location %q; want them without a prefix",
				base, c.URL, c.EmbedURL, r.header.Get("Location"))
		}
		if loc := getURL(t, env.url+"/d//doc").header.Get("Location"); strings.HasPrefix(loc, "//") || strings.Contains(loc, "evil") {
			t.Errorf("BasePath %q: /d//doc redirected to %q", base, loc)
		}
	}
}

// TestAPIRootUnderPrefix: /api itself, through a prefix-stripping proxy,
// answers the API's JSON 404 like any unknown API path, whatever the
// method, instead of the mux's redirect to /api/ from the server's root,
// which left the prefix. Other API paths answer as before: 404 when
// unknown, 405 with Allow when known but asked with another method.
func TestAPIRootUnderPrefix(t *testing.T) {
	env := newEnv(t, nil)
	px := newPrefixProxy(t, env.url)
	do := func(method, u string) response {
		t.Helper()
		req, err := http.NewRequest(method, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return response{resp.StatusCode, resp.Header, must(io.ReadAll(resp.Body))}
	}
	for _, c := range []struct{ method, path, code, allow string }{
		{http.MethodGet, "api", "not_found", ""},
		{http.MethodPost, "api", "not_found", ""},
		{http.MethodDelete, "api", "not_found", ""},
		{http.MethodGet, "api/v1/nope", "not_found", ""},
		{http.MethodDelete, "api/v1/docs", "method_not_allowed", "GET, HEAD, POST"},
	} {
		r := do(c.method, px.url+c.path)
		want := http.StatusNotFound
		if c.allow != "" {
			want = http.StatusMethodNotAllowed
		}
		if r.status != want || r.errCode() != c.code || r.header.Get("Allow") != c.allow ||
			r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s /folio/%s: %d %q Allow %q nosniff %q; want %d %s Allow %q", c.method, c.path, r.status, r.errCode(),
				r.header.Get("Allow"), r.header.Get("X-Content-Type-Options"), want, c.code, c.allow)
		}
	}
	px.checkNoneEscaped(t)
}
