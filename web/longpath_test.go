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
