package web

import (
	"bufio"
	"cmp"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	appOrigin  = "http://app.example"
	evilOrigin = "http://evil.example"
)

// fromOrigin are the headers of a browser's request from a page of origin.
func fromOrigin(origin string, more ...string) []string {
	return append([]string{"Origin", origin, "Sec-Fetch-Site", "cross-site"}, more...)
}

// preflight are the headers of a browser's preflight of method.
func preflight(origin, method, headers string) []string {
	return fromOrigin(origin, "Access-Control-Request-Method", method, "Access-Control-Request-Headers", headers)
}

// checkAllowed fails unless r carries the CORS headers of an allowed origin.
func checkAllowed(t *testing.T, what string, r response) {
	t.Helper()
	h := r.header
	if got := h.Get("Access-Control-Allow-Origin"); got != appOrigin {
		t.Errorf("%s: %d, Access-Control-Allow-Origin %q, want %q", what, r.status, got, appOrigin)
	}
	if got := h.Get("Access-Control-Expose-Headers"); got != corsExposedHeaders {
		t.Errorf("%s: Access-Control-Expose-Headers %q", what, got)
	}
	checkVaryOrigin(t, what, h)
	if got := h.Get("Access-Control-Allow-Credentials"); got != "" {
		t.Errorf("%s: Access-Control-Allow-Credentials %q: tokens are never cookies", what, got)
	}
}

func checkVaryOrigin(t *testing.T, what string, h http.Header) {
	t.Helper()
	for _, v := range h.Values("Vary") {
		if strings.EqualFold(v, "Origin") {
			return
		}
	}
	t.Errorf("%s: Vary %q lacks Origin", what, h.Values("Vary"))
}

// checkNoCORS fails if r carries any CORS header.
func checkNoCORS(t *testing.T, what string, r response) {
	t.Helper()
	for name := range r.header {
		if strings.HasPrefix(name, "Access-Control-") {
			t.Errorf("%s: %d with %s: %q", what, r.status, name, r.header.Get(name))
		}
	}
}

// TestCORSAllowedOrigin: a browser app of a --cors-origins origin can read
// every answer of the API, successes and errors alike, and change
// documents past the CSRF check; its preflights are answered before any
// handler.
func TestCORSAllowedOrigin(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.CORSOrigins = []string{appOrigin} })
	app := func(more ...string) []string { return fromOrigin(appOrigin, more...) }

	r := e.send("POST", "/api/v1/docs", `{"id":"d","text":"hi"}`, app("Content-Type", "application/json")...)
	if r.status != http.StatusCreated || r.header.Get("Location") != "/api/v1/docs/d" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	checkAllowed(t, "create", r)
	r = e.get("/api/v1/docs/d/text", app()...)
	if r.status != http.StatusOK || string(r.body) != "hi" || r.header.Get("ETag") == "" {
		t.Fatalf("get text: %d %s", r.status, r.body)
	}
	checkAllowed(t, "get text", r)
	r = e.send("PUT", "/api/v1/docs/d/text", "hello", app("If-Match", r.header.Get("ETag"))...)
	if r.status != http.StatusOK {
		t.Fatalf("put text: %d %s", r.status, r.body)
	}
	checkAllowed(t, "put text", r)
	r = e.send("POST", "/api/v1/docs/d/ops", `{"version":1,"op":[5,"!"]}`, app("Idempotency-Key", "k1")...)
	if r.status != http.StatusOK {
		t.Fatalf("post op: %d %s", r.status, r.body)
	}
	checkAllowed(t, "post op", r)
	r = e.get("/api/v1/docs/d/export/txt", app()...)
	if r.status != http.StatusOK || string(r.body) != "hello!" {
		t.Fatalf("export: %d %s", r.status, r.body)
	}
	checkAllowed(t, "export", r)
	r = e.get("/api/v1/docs/d/ops?since=0", app()...)
	checkAllowed(t, "ops", r)

	for _, c := range []struct {
		method, path, body, code string
	}{
		{"GET", "/api/v1/docs/nope/text", "", "not_found"},
		{"GET", "/api/v1/docs/d/ops?since=99", "", "version_ahead"},
		{"PUT", "/api/v1/docs/d/text", "x", "precondition_failed"},
		{"GET", "/api/v1/docs/bad%20id", "", "invalid_id"},
		{"GET", "/api/v1/nowhere", "", "not_found"},
	} {
		h := app()
		if c.code == "precondition_failed" {
			h = app("If-Match", `"0"`)
		}
		r := e.send(c.method, c.path, c.body, h...)
		if r.errCode() != c.code {
			t.Errorf("%s %s: %d %s, want %s", c.method, c.path, r.status, r.body, c.code)
		}
		checkAllowed(t, c.method+" "+c.path, r)
	}

	// The preflight of a PUT that would create a document creates nothing.
	for _, p := range []struct{ method, path, headers string }{
		{"PUT", "/api/v1/docs/made/text", "authorization,if-match"},
		{"POST", "/api/v1/docs", "authorization,content-type"},
		{"DELETE", "/api/v1/docs/d", "authorization"},
		{"GET", "/api/v1/docs/d/events", "last-event-id"},
	} {
		r := e.do("OPTIONS", p.path, nil, preflight(appOrigin, p.method, p.headers)...)
		if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != appOrigin ||
			r.header.Get("Access-Control-Max-Age") != corsMaxAge || r.header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight of %s %s: %d %v", p.method, p.path, r.status, r.header)
		}
		if !strings.Contains(r.header.Get("Access-Control-Allow-Methods"), p.method) {
			t.Errorf("preflight of %s: Access-Control-Allow-Methods %q", p.method, r.header.Get("Access-Control-Allow-Methods"))
		}
		for _, name := range strings.Split(p.headers, ",") {
			if !strings.Contains(strings.ToLower(r.header.Get("Access-Control-Allow-Headers")), name) {
				t.Errorf("preflight: Access-Control-Allow-Headers %q lacks %s", r.header.Get("Access-Control-Allow-Headers"), name)
			}
		}
		checkVaryOrigin(t, "preflight", r.header)
	}
	if r := e.get("/api/v1/docs/made"); r.status != http.StatusNotFound {
		t.Errorf("a preflight made a document: %d", r.status)
	}

	r = e.send("DELETE", "/api/v1/docs/d", "", app()...)
	if r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	checkAllowed(t, "delete", r)
}

// TestCORSStream: an allowed origin's EventSource gets the CORS headers on
// its stream, and on the 503 with Retry-After of a draining server.
func TestCORSStream(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.CORSOrigins = []string{appOrigin} })
	id := e.create("d", "x")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/api/v1/docs/"+id+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Origin", appOrigin)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	stream := &sseClient{t: t, resp: resp, rd: bufio.NewReader(resp.Body), cancel: cancel}
	defer stream.close()
	checkAllowed(t, "event stream", response{status: resp.StatusCode, header: resp.Header})
	if ev, ok := stream.next(); !ok || ev.name != sseSnapshot {
		t.Fatalf("first event %+v, %v; want the snapshot", ev, ok)
	}

	e.srv.Drain()
	r := e.get("/api/v1/docs/"+id+"/events", fromOrigin(appOrigin)...)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("stream of a draining server: %d %v %s", r.status, r.header, r.body)
	}
	checkAllowed(t, "503", r)
}

// TestCORSRateLimited: a 429 is readable by the allowed origin, with its
// Retry-After.
func TestCORSRateLimited(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.CORSOrigins = []string{appOrigin}
		o.RateLimits.Writes = Limit{PerSecond: 0.001, Burst: 1}
	})
	e.create("", "")
	r := e.send("POST", "/api/v1/docs", `{}`, fromOrigin(appOrigin)...)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("second create: %d %v %s", r.status, r.header, r.body)
	}
	checkAllowed(t, "429", r)
}

// TestCORSRefusedOrigin: any other origin gets no CORS header, so its
// scripts read nothing; its preflights are refused before any handler and
// its writes by the CSRF check, as without CORS. A server without
// CORSOrigins answers every origin so.
func TestCORSRefusedOrigin(t *testing.T) {
	for _, list := range [][]string{{appOrigin}, nil} {
		e := newEnv(t, func(o *Options) { o.CORSOrigins = list })
		e.create("d", "x")
		origins := []string{evilOrigin, "null", "http://app.example:8080", "https://app.example"}
		if list == nil {
			origins = append(origins, appOrigin)
		}
		for _, origin := range origins {
			r := e.get("/api/v1/docs/d/text", fromOrigin(origin)...)
			if r.status != http.StatusOK {
				t.Errorf("read from %s: %d", origin, r.status)
			}
			checkNoCORS(t, "read from "+origin, r)
			r = e.get("/api/v1/docs/nope", fromOrigin(origin)...)
			checkNoCORS(t, "error to "+origin, r)
			r = e.do("OPTIONS", "/api/v1/docs/made/text", nil, preflight(origin, "PUT", "content-type")...)
			if r.status != http.StatusForbidden || r.errCode() != "forbidden" {
				t.Errorf("preflight from %s: %d %s", origin, r.status, r.body)
			}
			checkNoCORS(t, "preflight from "+origin, r)
			r = e.send("PUT", "/api/v1/docs/made/text", "y", fromOrigin(origin)...)
			if r.status != http.StatusForbidden {
				t.Errorf("write from %s: %d %s", origin, r.status, r.body)
			}
			checkNoCORS(t, "write from "+origin, r)
		}
		if r := e.get("/api/v1/docs/made"); r.status != http.StatusNotFound {
			t.Errorf("%v: a refused origin made a document: %d", list, r.status)
		}
		if r := e.get("/api/v1/docs/d/text"); len(list) > 0 {
			checkVaryOrigin(t, "a request without Origin", r.header)
		} else if v := r.header.Values("Vary"); len(v) != 0 {
			t.Errorf("without CORS origins: Vary %q", v)
		}
	}
}

// TestCORSKeepsGuards: CORS opens no Host that the DNS-rebinding check
// refuses (a listed origin may read the refusal, nothing more: its
// preflight fails), grants nothing without a token, and leaves pages alone.
func TestCORSKeepsGuards(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.CORSOrigins = []string{appOrigin}
		o.Authorize = fakeAuthorize
		o.AllowedHosts = []string{"docs.example"}
	})
	if r := e.send("POST", "/api/v1/docs", `{"id":"d","text":"x"}`, "Authorization", "Bearer admin"); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	for _, h := range [][]string{fromOrigin(appOrigin), preflight(appOrigin, "GET", "authorization")} {
		method := "GET"
		if len(h) > 4 {
			method = "OPTIONS"
		}
		r := e.withHost(method, "/api/v1/docs/d/text", "evil.example", nil, h...)
		if r.status != http.StatusForbidden || r.errCode() != "host_not_allowed" {
			t.Errorf("%s with Host evil.example: %d %s", method, r.status, r.body)
		}
		checkAllowed(t, method+" with Host evil.example", r)
		if m := r.header.Get("Access-Control-Allow-Methods"); m != "" {
			t.Errorf("%s with Host evil.example: Access-Control-Allow-Methods %q", method, m)
		}
	}

	r := e.get("/api/v1/docs/d/text", fromOrigin(appOrigin)...)
	if r.status != http.StatusForbidden || r.errCode() != "forbidden" {
		t.Errorf("read without a token: %d %s", r.status, r.body)
	}
	checkAllowed(t, "read without a token", r)
	r = e.get("/api/v1/docs/d/text", fromOrigin(appOrigin, "Authorization", "Bearer view-d")...)
	if r.status != http.StatusOK || string(r.body) != "x" {
		t.Errorf("read with a token: %d %s", r.status, r.body)
	}
	checkAllowed(t, "read with a token", r)
	r = e.send("PUT", "/api/v1/docs/d/text", "y", fromOrigin(appOrigin, "Authorization", "Bearer view-d")...)
	if r.status != http.StatusForbidden || r.errCode() != "forbidden" {
		t.Errorf("write with a view token: %d %s", r.status, r.body)
	}

	for _, path := range []string{"/d/d?token=view-d", "/healthz", "/"} {
		checkNoCORS(t, path, e.get(path, fromOrigin(appOrigin)...))
	}
}

// TestCORSEarlyRefusals: the API's refusals made before CORS runs — a
// path or a query too long (414), a Host the server does not answer to
// (403) — carry the CORS headers of a listed origin, so that its page can
// read why, and no CORS header for any other origin or none; pages get
// none either. Every such answer of the API carries Vary: Origin, as the
// others do.
func TestCORSEarlyRefusals(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.CORSOrigins = []string{appOrigin}
		o.AllowedHosts = []string{"docs.example"}
	})
	longPath := "/api/v1/docs/" + strings.Repeat("x", maxPathBytes)
	longQuery := "/api/v1/docs/d/text?x=" + strings.Repeat("q", maxQueryBytes)
	refusals := []struct {
		what, method, path, host string
		status                   int
		code                     string
	}{
		{"a path too long", "GET", longPath, "", http.StatusRequestURITooLong, "uri_too_long"},
		{"a path too long, PUT", "PUT", longPath, "", http.StatusRequestURITooLong, "uri_too_long"},
		{"a query too long", "GET", longQuery, "", http.StatusRequestURITooLong, "uri_too_long"},
		{"a Host not allowed", "GET", "/api/v1/docs/d/text", "evil.example", http.StatusForbidden, "host_not_allowed"},
		{"a Host not allowed, /api", "DELETE", "/api", "evil.example", http.StatusForbidden, "host_not_allowed"},
	}
	for _, c := range refusals {
		host := cmp.Or(c.host, "docs.example")
		for _, origin := range []string{appOrigin, evilOrigin, "null", ""} {
			var h []string
			if origin != "" {
				h = fromOrigin(origin)
			}
			what := c.what + " from " + origin
			r := e.withHost(c.method, c.path, host, nil, h...)
			if r.status != c.status || r.errCode() != c.code {
				t.Errorf("%s: %d %.200s, want %d %s", what, r.status, r.body, c.status, c.code)
			}
			checkVaryOrigin(t, what, r.header)
			if origin == appOrigin {
				checkAllowed(t, what, r)
			} else {
				checkNoCORS(t, what, r)
			}
		}
	}
	for _, path := range []string{"/d/" + strings.Repeat("x", maxPathBytes), "/d/d?x=" + strings.Repeat("q", maxQueryBytes)} {
		r := e.get(path, fromOrigin(appOrigin)...)
		if r.status != http.StatusRequestURITooLong {
			t.Errorf("page %.20s…: %d", path, r.status)
		}
		checkNoCORS(t, "page "+path[:20]+"…", r)
	}
	if r := e.withHost("GET", "/d/d", "evil.example", nil, fromOrigin(appOrigin)...); r.status != http.StatusForbidden {
		t.Errorf("page with Host evil.example: %d", r.status)
	} else {
		checkNoCORS(t, "page with Host evil.example", r)
	}

	// Without a list, nothing changes: no CORS header, no Vary.
	e = newEnv(t, func(o *Options) { o.AllowedHosts = []string{"docs.example"} })
	for _, c := range refusals {
		r := e.withHost(c.method, c.path, cmp.Or(c.host, "docs.example"), nil, fromOrigin(appOrigin)...)
		if r.status != c.status {
			t.Errorf("without a list, %s: %d", c.what, r.status)
		}
		checkNoCORS(t, "without a list, "+c.what, r)
		if v := r.header.Values("Vary"); len(v) != 0 {
			t.Errorf("without a list, %s: Vary %q", c.what, v)
		}
	}
}

func TestCheckCORSOrigin(t *testing.T) {
	for _, ok := range []string{"https://app.example.com", "http://localhost:3000", "http://127.0.0.1:5173", "https://[::1]:8443", "https://app.example.com:8443"} {
		if err := CheckCORSOrigin(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, c := range []struct{ origin, want string }{
		{"*", "is not an origin"},
		{"null", "is not an origin"},
		{"app.example.com", "is not an origin"},
		{"ftp://app.example.com", "is not an origin"},
		{"https://*.example.com", "is not an origin"},
		{"https://app.example.com/app", "is not an origin"},
		{"https://app.example.com?x=1", "is not an origin"},
		{"https://user@app.example.com", "is not an origin"},
		{"https://", "is not an origin"},
		{"https://app.example.com/", "browsers send it: https://app.example.com"},
		{"https://App.Example.com", "browsers send it: https://app.example.com"},
		{"https://app.example.com:443", "browsers send it: https://app.example.com"},
		{"http://[::1]:80", "browsers send it: http://[::1]"},
	} {
		if err := CheckCORSOrigin(c.origin); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.origin, err, c.want)
		}
	}
}

// TestCORSPreflightMetrics: preflights, answered or refused before
// routing, are counted under the route "preflight" in /metrics, apart from
// the requests refused before routing ("unmatched", here a Host).
func TestCORSPreflightMetrics(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.CORSOrigins = []string{appOrigin} })
	for _, origin := range []string{appOrigin, appOrigin, evilOrigin} {
		e.do("OPTIONS", "/api/v1/docs/d/text", nil, preflight(origin, "PUT", "content-type")...)
	}
	if r := e.withHost("GET", "/api/v1/docs/d/text", "evil.example", nil); r.status != http.StatusForbidden {
		t.Fatalf("Host evil.example: %d %s", r.status, r.body)
	}
	body := string(e.get("/metrics").body)
	for _, want := range []string{
		`folio_http_requests_total{code="204",route="preflight"} 2`,
		`folio_http_requests_total{code="403",route="preflight"} 1`,
		`folio_http_requests_total{code="403",route="unmatched"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}

// TestCORSAPIRoot: /api itself is part of the API for CORS, as for its
// JSON 404: a listed origin's preflight of it is answered and its 404 is
// readable; another origin's preflight is refused, and gets no CORS header.
func TestCORSAPIRoot(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.CORSOrigins = []string{appOrigin} })
	r := e.do("OPTIONS", "/api", nil, preflight(appOrigin, "GET", "authorization")...)
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != appOrigin ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight of /api from %s: %d %v %s", appOrigin, r.status, r.header, r.body)
	}
	checkVaryOrigin(t, "preflight of /api", r.header)
	r = e.get("/api", fromOrigin(appOrigin, "Authorization", "Bearer x")...)
	if r.status != http.StatusNotFound || r.errCode() != "not_found" {
		t.Errorf("GET /api: %d %s, want the API's 404", r.status, r.body)
	}
	checkAllowed(t, "GET /api", r)

	r = e.do("OPTIONS", "/api", nil, preflight(evilOrigin, "GET", "authorization")...)
	if r.status != http.StatusForbidden || r.errCode() != "forbidden" {
		t.Errorf("preflight of /api from %s: %d %s", evilOrigin, r.status, r.body)
	}
	checkNoCORS(t, "preflight of /api from "+evilOrigin, r)
	checkNoCORS(t, "GET /api from "+evilOrigin, e.get("/api", fromOrigin(evilOrigin)...))
}

// TestCORSOriginIDN: an origin whose host is written in Unicode is kept in
// the ASCII form browsers send (IDNA), so that it matches their Origin
// header; other spellings are refused with that form.
func TestCORSOriginIDN(t *testing.T) {
	for _, c := range []struct{ origin, want string }{
		{"https://bücher.example", "https://xn--bcher-kva.example"},
		{"https://Bücher.example:8443", "https://xn--bcher-kva.example:8443"},
		{"http://faß.de", "http://xn--fa-hia.de"}, // Not transitional: ß stays.
		{"https://my_app.bücher。example", "https://my_app.xn--bcher-kva.example"},
		{"https://xn--bcher-kva.example", "https://xn--bcher-kva.example"},
	} {
		got, err := CORSOrigin(c.origin)
		if got != c.want || err != nil {
			t.Errorf("CORSOrigin(%q) = %q, %v; want %q", c.origin, got, err, c.want)
		}
	}
	for _, c := range []struct{ origin, want string }{
		{"https://bücher.example/", "browsers send it: https://xn--bcher-kva.example"},
		{"https://bücher.example:443", "browsers send it: https://xn--bcher-kva.example"},
		{"https://b%C3%BCcher.example", "browsers send it: https://xn--bcher-kva.example"},
		{"https://a\u200db.example", "not a host name"},
		{"https://bü<cher.example", "not a host name"},
	} {
		if got, err := CORSOrigin(c.origin); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CORSOrigin(%q) = %q, %v; want an error naming %q", c.origin, got, err, c.want)
		}
	}

	// A server given the Unicode form answers the browser's punycode Origin.
	const idn, puny = "https://bücher.example", "https://xn--bcher-kva.example"
	e := newEnv(t, func(o *Options) { o.CORSOrigins = []string{idn} })
	r := e.do("OPTIONS", "/api/v1/docs", nil, preflight(puny, "POST", "content-type")...)
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != puny {
		t.Errorf("preflight from %s: %d %v %s", puny, r.status, r.header, r.body)
	}
	r = e.send("POST", "/api/v1/docs", `{"id":"d","text":"x"}`, fromOrigin(puny, "Content-Type", "application/json")...)
	if r.status != http.StatusCreated || r.header.Get("Access-Control-Allow-Origin") != puny {
		t.Errorf("create from %s: %d %v %s", puny, r.status, r.header, r.body)
	}
}
