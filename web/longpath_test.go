package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// deepPath is prefix followed by "a/" segments up to n bytes: a path whose
// pages would name Folio's root with one "../" per segment.
func deepPath(prefix string, n int) string {
	return prefix + strings.Repeat("a/", (n-len(prefix))/2) + strings.Repeat("a", (n-len(prefix))%2)
}

// TestLongPathsRefused: a path longer than maxPathBytes is answered 414 at
// once, the API's JSON error under /api and a line of text elsewhere, the
// same few bytes whatever its length or depth; a path up to the bound is
// served as before, its pages bounded with it. Neither the metrics' route
// label nor the request line carries such a path.
func TestLongPathsRefused(t *testing.T) {
	var logs syncBuffer
	log := zerolog.New(&logs)
	e := newEnv(t, func(o *Options) { o.Logger = log; o.AllowedHosts = []string{"docs.example"} })

	// The longest path served: a 404 page naming the root 2,000 directories
	// up, a few tens of KiB at most.
	r := e.get(deepPath("/", maxPathBytes))
	if r.status != http.StatusNotFound || len(r.body) > 16*maxPathBytes {
		t.Errorf("404 page of a %d-byte path: %d, %d bytes", maxPathBytes, r.status, len(r.body))
	}
	if r := e.get(deepPath("/api/v1/docs/", maxPathBytes)); r.errCode() != "not_found" {
		t.Errorf("API path of %d bytes: %d %s", maxPathBytes, r.status, r.body)
	}

	sizes := map[bool]int{} // by apiPath: every refusal has the same size
	for _, n := range []int{maxPathBytes + 1, 2 * maxPathBytes, 400 << 10} {
		for _, c := range []struct {
			path string
			api  bool
		}{
			{deepPath("/", n), false},
			{"/d/" + strings.Repeat("x", n), false},
			{deepPath("/embed/", n), false},
			{"/assets/" + strings.Repeat("%61", n/3+1), false}, // short once decoded
			{deepPath("/api/", n), true},
			{"/api/v1/docs/" + strings.Repeat("x", n) + "/text", true},
		} {
			for _, method := range []string{"GET", "PUT", "OPTIONS"} {
				r := e.do(method, c.path, nil, "Accept", "text/html", "Origin", "http://evil.example")
				what := method + " " + c.path[:20] + "… of " + itoa(uint64(len(c.path))) + " bytes"
				if r.status != http.StatusRequestURITooLong {
					t.Errorf("%s: %d, want 414", what, r.status)
					continue
				}
				if c.api && (r.errCode() != "uri_too_long" || r.header.Get("Content-Type") != "application/json") ||
					!c.api && !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
					t.Errorf("%s: %s %q", what, r.header.Get("Content-Type"), r.body)
				}
				if len(r.body) > 256 || sizes[c.api] != 0 && len(r.body) != sizes[c.api] {
					t.Errorf("%s: %d bytes (others %d): %q", what, len(r.body), sizes[c.api], r.body)
				}
				sizes[c.api] = len(r.body)
			}
		}
	}
	// First of all, whatever the Host: nothing after it sees the path.
	if r := e.withHost("GET", deepPath("/", 2*maxPathBytes), "evil.example", nil); r.status != http.StatusRequestURITooLong {
		t.Errorf("long path with Host evil.example: %d %s", r.status, r.body)
	}

	metrics := string(e.get("/metrics").body)
	if !strings.Contains(metrics, `folio_http_requests_total{code="414",route="unmatched"} 55`+"\n") ||
		strings.Contains(metrics, "a/a/") || strings.Contains(metrics, "xxxx") {
		t.Errorf("/metrics, after 55 paths too long:\n%s", metrics)
	}
	e.close()
	for _, l := range parseLogs(t, logs.String()) {
		if p, _ := l[keyPath].(string); len(p) > maxPathBytes+len("…") {
			t.Errorf("a log line carries a path of %d bytes: %.200s", len(p), l)
		}
	}
}

// TestLongQueriesRefused: a query string longer than maxQueryBytes is
// answered 414 as a path too long is, first of all and whatever the route
// (here a read, a page and a path the server would redirect, naming the
// query in its Location), its message saying that the query was too
// long; a query up to the bound is served as before.
func TestLongQueriesRefused(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowedHosts = []string{"docs.example"} })
	e.create("d", "hi")
	query := func(n int) string { return "?x=" + strings.Repeat("q", n-len("x=")) }

	if r := e.get("/api/v1/docs/d/text" + query(maxQueryBytes)); r.status != http.StatusOK || string(r.body) != "hi" {
		t.Errorf("a query of %d bytes: %d %s", maxQueryBytes, r.status, r.body)
	}
	if r := e.get("/api//v1/docs/d/text" + query(maxQueryBytes)); r.status != http.StatusTemporaryRedirect {
		t.Errorf("a path to clean with a query of %d bytes: %d %s", maxQueryBytes, r.status, r.body)
	}
	for _, n := range []int{maxQueryBytes + 1, 900 << 10} {
		for _, c := range []struct {
			path string
			api  bool
		}{
			{"/api/v1/docs/d/text", true},
			{"/api//v1/docs/d/text", true}, // would be a 307 naming the query
			{"/api/v1/docs", true},
			{"/d/d", false},
			{"/", false},
		} {
			for _, method := range []string{"GET", "POST"} {
				what := method + " " + c.path + " with a query of " + itoa(uint64(n)) + " bytes"
				r := e.do(method, c.path+query(n), nil)
				if r.status != http.StatusRequestURITooLong || r.header.Get("Location") != "" {
					t.Errorf("%s: %d %.200s, want 414", what, r.status, r.body)
					continue
				}
				if c.api && (r.errCode() != "uri_too_long" || r.header.Get("Content-Type") != "application/json") ||
					!c.api && !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
					t.Errorf("%s: %s %q", what, r.header.Get("Content-Type"), r.body)
				}
				if !strings.Contains(string(r.body), "query string is longer than 8192 bytes") || len(r.body) > 256 {
					t.Errorf("%s: the answer does not say the query was too long: %q", what, r.body)
				}
			}
		}
	}
	// First of all, whatever the Host.
	if r := e.withHost("GET", "/api/v1/docs/d/text"+query(2*maxQueryBytes), "evil.example", nil); r.errCode() != "uri_too_long" {
		t.Errorf("long query with Host evil.example: %d %s", r.status, r.body)
	}
	// A path too long says so, whatever its query.
	if r := e.get(deepPath("/api/", 2*maxPathBytes) + query(2*maxQueryBytes)); !strings.Contains(string(r.body), "path is longer than 4096 bytes") {
		t.Errorf("a path and a query too long: %d %s", r.status, r.body)
	}
}
