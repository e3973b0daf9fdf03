package web

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// pagesHandler is routePages alone, on a Server holding only the options
// the pages read.
func pagesHandler(embedOrigins ...string) http.Handler {
	opts := Options{EmbedOrigins: embedOrigins}
	if len(opts.EmbedOrigins) == 0 {
		opts.EmbedOrigins = []string{"*"}
	}
	s := &Server{opts: opts}
	mux := http.NewServeMux()
	s.routePages(mux)
	return mux
}

func pageGet(t *testing.T, h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var pageScriptTag = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)

// pageConfigOf returns the page's JSON configuration and checks that no
// script is inline (the CSP would block it anyway).
func pageConfigOf(t *testing.T, body string) pageConfig {
	t.Helper()
	var cfg pageConfig
	found := false
	for _, m := range pageScriptTag.FindAllStringSubmatch(body, -1) {
		attrs, content := m[1], m[2]
		switch {
		case strings.Contains(attrs, `assets/folio.js?v=`) && strings.TrimSpace(content) == "":
		case strings.Contains(attrs, `type="application/json"`) && strings.Contains(attrs, `id="folio-config"`):
			if err := json.Unmarshal([]byte(content), &cfg); err != nil {
				t.Fatalf("config block is not JSON: %v: %q", err, content)
			}
			found = true
		default:
			t.Errorf("inline or foreign script: %s", m[0])
		}
	}
	if !found {
		t.Fatalf("no #folio-config block in %s", body)
	}
	return cfg
}

func checkPageHeaders(t *testing.T, rec *httptest.ResponseRecorder, ancestors string) {
	t.Helper()
	h := rec.Header()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self';", "default-src 'none';", "base-uri 'none';",
		"frame-ancestors " + ancestors} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.HasSuffix(csp, ancestors) == false {
		t.Errorf("CSP %q does not end with frame-ancestors %s", csp, ancestors)
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
		"Content-Type": "text/html; charset=utf-8"} {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
}

func TestLandingPage(t *testing.T) {
	rec := pageGet(t, pagesHandler(), "/")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	checkPageHeaders(t, rec, "'self'")
	if rec.Header().Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("X-Frame-Options = %q", rec.Header().Get("X-Frame-Options"))
	}
	body := rec.Body.String()
	cfg := pageConfigOf(t, body)
	if cfg.Page != "landing" || cfg.Root != "./" || cfg.API != "./api/v1" {
		t.Errorf("config %+v", cfg)
	}
	for _, id := range []string{`id="new-doc"`, `id="open-form"`, `id="open-id"`} {
		if !strings.Contains(body, id) {
			t.Errorf("landing page lacks %s", id)
		}
	}
	// An unknown path gets the error page, not net/http's bare text.
	for _, path := range []string{"/nothing-here", "/d/", "/d/abc/more", "/docs/abc"} {
		rec := pageGet(t, pagesHandler(), path)
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d", path, rec.Code)
			continue
		}
		checkPageHeaders(t, rec, "'self'")
		// Headed in words; the status stays, smaller, beside them.
		if body := rec.Body.String(); !strings.Contains(body, "<h1>Page not found</h1>") ||
			!strings.Contains(body, `class="caption error-status">Error 404<`) || !strings.Contains(body, `>Back to Folio</a>`) {
			t.Errorf("%s: body %s", path, body)
		}
	}
	// Another method on a page is still 405, on anything else 404.
	for path, want := range map[string]int{"/d/abc": http.StatusMethodNotAllowed, "/": http.StatusMethodNotAllowed,
		"/nothing-here": http.StatusNotFound} {
		rec := httptest.NewRecorder()
		pagesHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
		if rec.Code != want || want == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("POST %s: status %d, Allow %q; want %d", path, rec.Code, rec.Header().Get("Allow"), want)
		}
	}
}

func TestEditorPage(t *testing.T) {
	rec := pageGet(t, pagesHandler("https://host.example"), "/d/Doc_1-x")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	checkPageHeaders(t, rec, "'self'") // only /embed/ follows EmbedOrigins
	body := rec.Body.String()
	cfg := pageConfigOf(t, body)
	if cfg.Page != "editor" || cfg.ID != "Doc_1-x" {
		t.Errorf("config %+v", cfg)
	}
	// The bundle finds these by id, and the export links (which it gives
	// the page's token) by data-export.
	for _, want := range []string{`id="editor"`, `id="status"`, `id="participants"`, `id="share"`,
		`id="share-edit"`, `id="share-link"`, `id="share-readonly"`, `id="readonly-link"`, `id="user-name"`,
		`id="user-color"`, `data-export href="../api/v1/docs/Doc_1-x/export/txt"`,
		`data-export href="../api/v1/docs/Doc_1-x/export/md"`, `data-export href="../api/v1/docs/Doc_1-x/export/html"`} {
		if !strings.Contains(body, want) {
			t.Errorf("editor page lacks %s", want)
		}
	}
}

func TestEmbedFrameAncestors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		origins   []string
		ancestors string
		post      []string
	}{
		{"default any", nil, "*", []string{"*"}},
		{"star", []string{"*"}, "*", []string{"*"}},
		{"list", []string{"https://a.example", " http://127.0.0.1:8081/ "}, "https://a.example http://127.0.0.1:8081",
			[]string{"https://a.example", "http://127.0.0.1:8081"}},
		{"header injection dropped", []string{"https://a.example; script-src *", "https://b.example"},
			"https://b.example", []string{"https://b.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := pageGet(t, pagesHandler(tc.origins...), "/embed/abc")
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			checkPageHeaders(t, rec, tc.ancestors)
			if xfo := rec.Header().Get("X-Frame-Options"); xfo != "" {
				t.Errorf("embed sends X-Frame-Options %q, which would override frame-ancestors", xfo)
			}
			cfg := pageConfigOf(t, rec.Body.String())
			if cfg.Page != "embed" || cfg.ID != "abc" || strings.Join(cfg.EmbedOrigins, " ") != strings.Join(tc.post, " ") {
				t.Errorf("config %+v, want origins %v", cfg, tc.post)
			}
		})
	}
}

func TestPagesRejectBadIDs(t *testing.T) {
	h := pagesHandler("https://site.example")
	for _, path := range []string{"/d/a.b", "/d/%2e%2e", "/embed/" + strings.Repeat("x", 65), "/d/%3Cscript%3E",
		"/embed/a%20b", "/d/%C3%A9"} {
		rec := pageGet(t, h, path)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", path, rec.Code)
			continue
		}
		// An embed's error shows in the site's iframe, like the embed itself,
		// rather than as the browser's broken-frame icon.
		embed := strings.HasPrefix(path, "/embed/")
		ancestors := "'self'"
		if embed {
			ancestors = "https://site.example"
		}
		checkPageHeaders(t, rec, ancestors)
		if xfo := rec.Header().Get("X-Frame-Options"); embed && xfo != "" {
			t.Errorf("%s: X-Frame-Options %q refuses the embed's frame", path, xfo)
		}
		body := rec.Body.String()
		if strings.Contains(body, "<script>") || !strings.Contains(body, "1 to 64") {
			t.Errorf("%s: body %s", path, body)
		}
		if back := strings.Contains(body, `>Back to Folio</a>`); back == embed {
			t.Errorf("%s: link back to the landing page: %t (it may not be framed)", path, back)
		}
	}
	if rec := pageGet(t, h, "/d/"+strings.Repeat("x", 64)); rec.Code != http.StatusOK {
		t.Errorf("64-char id: status %d", rec.Code)
	}
}

func TestAssets(t *testing.T) {
	h := pagesHandler()
	p := newPages(nil)
	js, _ := uiDist.ReadFile("ui/dist/folio.js")

	rec := pageGet(t, h, "/assets/folio.js")
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), js) {
		t.Fatalf("plain: status %d, %d bytes (want %d)", rec.Code, rec.Body.Len(), len(js))
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if rec.Header().Get("Cache-Control") != "no-cache" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v", rec.Header())
	}

	rec = pageGet(t, h, "/assets/folio.js?v="+p.version, "Accept-Encoding", "br, gzip")
	if rec.Header().Get("Content-Encoding") != "gzip" || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
		t.Fatalf("versioned gzip: headers %v", rec.Header())
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, js) {
		t.Fatalf("gzip body differs from the bundle (err %v)", err)
	}

	etag := rec.Header().Get("ETag")
	if rec := pageGet(t, h, "/assets/folio.js", "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d", rec.Code)
	}
	if rec := pageGet(t, h, "/assets/folio.css", "Accept-Encoding", "gzip;q=0"); rec.Code != http.StatusOK ||
		rec.Header().Get("Content-Encoding") != "" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
		t.Errorf("css: status %d headers %v", rec.Code, rec.Header())
	}
	for _, path := range []string{"/assets/nope.js", "/assets/..%2fpages.go"} {
		if rec := pageGet(t, h, path); rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d", path, rec.Code)
		}
	}
}

func TestPagesReferenceTheCurrentBundle(t *testing.T) {
	p := newPages(nil)
	body := pageGet(t, pagesHandler(), "/d/x").Body.String()
	for _, want := range []string{`"../assets/folio.js?v=` + p.version, `"../assets/folio.css?v=` + p.version} {
		if !strings.Contains(body, want) {
			t.Errorf("page does not reference %s", want)
		}
	}
}
