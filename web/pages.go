package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// The editor bundle, built by `npm run build` in web/ui and committed, so that
// `go run ./cmd/folio` needs no Node.
//
//go:embed ui/dist/folio.js ui/dist/folio.css ui/templates/pages.html
var uiDist embed.FS

// Parsed once; both are read-only afterwards.
var (
	pageTemplates = template.Must(template.ParseFS(uiDist, "ui/templates/pages.html"))
	pageIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// routePages registers the HTML pages and their assets:
//
//	GET /           landing page (create a document, open one by id)
//	GET /d/{id}     the full editor
//	GET /embed/{id} the editor alone, for iframes
//	GET /assets/... the embedded bundle
//	/               any other path outside the API: the error page, 404
//
// Every page gets a strict CSP (scripts only from 'self', no inline script:
// the page's configuration is a JSON block), nosniff and no referrer. Only
// /embed/ may be framed, by Options.EmbedOrigins; other pages by 'self'.
//
// A page refers to the rest of Folio only through pageData.Root, never by a
// path from the server's root, so that the pages work behind a reverse
// proxy serving Folio under a path prefix that it strips
// (https://example.com/folio/ → /): Options.BasePath when it is set, else
// a URL relative to the page's own address.
func (s *Server) routePages(mux *http.ServeMux) {
	p := newPages(s.opts.EmbedOrigins)
	p.log = s.log
	p.basePath = s.opts.BasePath
	s.pages = p // guard answers refused pages with them
	mux.HandleFunc("GET /{$}", p.landing)
	mux.HandleFunc("GET /d/{id}", p.editor)
	mux.HandleFunc("GET /embed/{id}", p.embed)
	mux.HandleFunc("GET /assets/{name}", p.asset)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { p.notFound(w, r, mux) })
}

// pages holds what the page handlers need; it is immutable after newPages.
type pages struct {
	frameAncestors string   // CSP source list for /embed/
	embedOrigins   []string // origins the embed posts events to; ["*"] for any
	assets         map[string]asset
	version        string // content hash of the bundle, busts caches
	log            zerolog.Logger
	// basePath is Options.BasePath: when set, pages name Folio's root by
	// it rather than relative to their own address, which a proxy that
	// normalises the paths it forwards (nginx decodes %2F) would skew.
	basePath string
}

type asset struct {
	body, gz    []byte
	contentType string
	etag        string
}

func newPages(embedOrigins []string) *pages {
	p := &pages{assets: map[string]asset{}}
	p.embedOrigins, p.frameAncestors = embedPolicy(embedOrigins)
	sum := sha256.New()
	// A fixed order: the version hash must not depend on map iteration.
	for _, f := range []struct{ name, ct string }{
		{"folio.css", "text/css; charset=utf-8"},
		{"folio.js", "text/javascript; charset=utf-8"},
	} {
		name, ct := f.name, f.ct
		body, err := uiDist.ReadFile("ui/dist/" + name)
		if err != nil {
			panic("web: embedded asset missing: " + name) // a build error, caught by every test
		}
		h := sha256.Sum256(body)
		sum.Write(h[:])
		p.assets[name] = asset{body: body, gz: gzipBytes(body), contentType: ct,
			etag: `"` + hex.EncodeToString(h[:8]) + `"`}
	}
	p.version = hex.EncodeToString(sum.Sum(nil)[:6])
	return p
}

// embedPolicy turns the configured origins into the list given to the page
// for postMessage and the CSP frame-ancestors source list. Empty or "*"
// means any. Entries that could break out of the header are dropped.
func embedPolicy(origins []string) ([]string, string) {
	var list []string
	for _, o := range origins {
		o = strings.TrimSpace(o)
		if o == "*" {
			return []string{"*"}, "*"
		}
		if o == "" || strings.ContainsAny(o, " \t\r\n;,'\"") {
			continue
		}
		list = append(list, strings.TrimSuffix(o, "/"))
	}
	if len(list) == 0 {
		return []string{"*"}, "*"
	}
	return list, strings.Join(list, " ")
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// pageConfig is the JSON block the bundle reads (no inline script is allowed).
type pageConfig struct {
	Page string `json:"page"`
	ID   string `json:"id,omitempty"`
	// Root and API are relative to the page's address: Folio's root
	// ("../" from /d/{id}) and its REST API ("../api/v1").
	Root         string   `json:"root"`
	API          string   `json:"api"`
	EmbedOrigins []string `json:"embedOrigins,omitempty"`
}

type pageData struct {
	Title   string
	ID      string
	Version string // asset cache buster
	Root    string // Folio's root: Options.BasePath or relative to the page (rootOf); ends in "/"
	Config  pageConfig
	// The error page: what went wrong in words (Heading), the HTTP status
	// beside it, smaller, and what to do (Message).
	Heading string
	Status  int
	Message string
	// Refusal: the page answers a request refused for its token (guard). It
	// is never cached, and runs and loads nothing but the stylesheet.
	Refusal bool
	// Bare: a refusal that loads not even the stylesheet and links nowhere
	// (refuseHost): Folio's root under the refused name is refused too.
	Bare bool
	// Embed: the page answers /embed/{id} (the editor or its error page), so
	// it may be framed by the embed origins and links nowhere else.
	Embed bool
}

func (p *pages) landing(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, "landing", http.StatusOK, pageData{Title: "Folio", Config: pageConfig{Page: "landing"}})
}

func (p *pages) editor(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !pageIDPattern.MatchString(id) {
		p.badID(w, r)
		return
	}
	p.render(w, r, "editor", http.StatusOK, pageData{Title: id + " · Folio", ID: id,
		Config: pageConfig{Page: "editor", ID: id}})
}

func (p *pages) embed(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !pageIDPattern.MatchString(id) {
		// In the site's iframe, where a page that may not be framed shows
		// only the browser's broken-frame icon.
		p.render(w, r, "error", http.StatusBadRequest, badIDPage(true))
		return
	}
	p.render(w, r, "embed", http.StatusOK, pageData{Title: id + " · Folio", ID: id, Embed: true,
		Config: pageConfig{Page: "embed", ID: id, EmbedOrigins: p.embedOrigins}})
}

// notFound answers a path no route serves with the error page, rather than
// net/http's bare "404 page not found". Another method than GET on a page
// is 405, as the mux would have answered without this catch-all.
func (p *pages) notFound(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		probe := r.Clone(r.Context())
		probe.Method = http.MethodGet
		if _, pattern := mux.Handler(probe); pattern != "/" {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		http.NotFound(w, r)
		return
	}
	p.render(w, r, "error", http.StatusNotFound, pageData{Title: "Page not found · Folio", Heading: "Page not found",
		Config: pageConfig{Page: "error"}, Status: http.StatusNotFound,
		Message: "There is no page at this address. A document's page is /d/ followed by its id."})
}

func (p *pages) badID(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, "error", http.StatusBadRequest, badIDPage(false))
}

func badIDPage(embed bool) pageData {
	return pageData{Title: "Not a document address · Folio", Heading: "Not a document address", Embed: embed,
		Config: pageConfig{Page: "error"}, Status: http.StatusBadRequest,
		Message: "A document id is 1 to 64 letters, digits, '-' or '_'."}
}

func (p *pages) render(w http.ResponseWriter, r *http.Request, name string, status int, d pageData) {
	d.Version = p.version
	d.Root = folioRoot(r, p.basePath)
	d.Config.Root, d.Config.API = d.Root, d.Root+"api/v1"
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, name, d); err != nil {
		p.log.Error().Err(err).Str(keyMethod, r.Method).Str(keyPath, r.URL.Path).Msg("page failed")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	ancestors := "'self'"
	if d.Embed {
		ancestors = p.frameAncestors
	} else {
		w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	}
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP(r.Host, ancestors))
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	if d.Refusal {
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors "+ancestors)
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// folioRoot is Folio's root as pages and redirects name it: basePath
// (Options.BasePath) when it is set, else relative to r's path (rootOf).
func folioRoot(r *http.Request, basePath string) string {
	if basePath != "" {
		return basePath + "/"
	}
	return rootOf(r)
}

// rootOf is the relative URL of Folio's root from the page at r's path:
// "./" for /, "../" for /d/{id}, one "../" per directory the browser sees,
// counted in the path as the client sent it (sentPath): an escaped slash is
// no directory to the browser. Paths with dot segments come here only for
// canonicalPaths' redirect: a client resolving its Location counts a "."
// as no directory and a ".." as one back (RFC 3986, 5.2.4).
func rootOf(r *http.Request) string {
	segs := strings.Split(sentPath(r), "/")
	n := 0
	for _, s := range segs[min(1, len(segs)-1) : len(segs)-1] {
		switch s {
		case ".":
		case "..":
			n = max(0, n-1)
		default:
			n++
		}
	}
	if n == 0 {
		return "./"
	}
	return strings.Repeat("../", n)
}

// sentPath is r's path as the client sent it. Not EscapedPath: when the
// path also holds a character Go would escape, such as the "|" that
// browsers following the URL Standard send as it is, EscapedPath escapes
// the decoded path again, its "%2F"s turned into directories, and one
// "../" too many leads out of a proxy's prefix.
func sentPath(r *http.Request) string {
	sent := r.URL.Path
	if raw := r.URL.RawPath; raw != "" {
		if p, err := url.PathUnescape(raw); err == nil && p == sent {
			sent = raw
		}
	}
	return sent
}

// pageCSP allows scripts and styles from this origin only (styles also
// inline: CodeMirror sets style attributes), WebSockets to this host, and
// framing by ancestors.
func pageCSP(host, ancestors string) string {
	connect := "'self'"
	if host != "" && !strings.ContainsAny(host, " ;,'\"") {
		connect += " ws://" + host + " wss://" + host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
		"font-src 'self'; connect-src " + connect + "; base-uri 'none'; form-action 'self'; frame-ancestors " + ancestors
}

func (p *pages) asset(w http.ResponseWriter, r *http.Request) {
	a, ok := p.assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	if r.URL.Query().Get("v") == p.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	body := a.body
	if acceptsGzip(r) {
		body = a.gz
		h.Set("Content-Encoding", "gzip")
	}
	// ServeContent answers If-None-Match with 304 from the ETag above.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
