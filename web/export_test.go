package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

func TestExportFormats(t *testing.T) {
	e := newEnv(t, nil)
	e.create("notes", "# Title\n\nsome *text*")
	e.postOp("notes", 0, `[20," 🎉"]`)

	cases := []struct {
		path, ctype, filename, contains string
	}{
		{"txt", "text/plain; charset=utf-8", "notes.txt", "some *text* 🎉"},
		{"md", "text/markdown; charset=utf-8", "notes.md", "# Title"},
		{"html", "text/html; charset=utf-8", "notes.html", "<h1"},
		{"json", "application/json", "notes.json", `"version": 1`},
		{"txt?version=0", "text/plain; charset=utf-8", "notes-v0.txt", "some *text*"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			r := e.get("/api/v1/docs/notes/export/" + c.path)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if got := r.header.Get("Content-Type"); got != c.ctype {
				t.Errorf("Content-Type %q", got)
			}
			if got := r.header.Get("Content-Disposition"); got != `attachment; filename="`+c.filename+`"` {
				t.Errorf("Content-Disposition %q", got)
			}
			if !strings.Contains(string(r.body), c.contains) {
				t.Errorf("body lacks %q:\n%s", c.contains, r.body)
			}
		})
	}
	if r := e.get("/api/v1/docs/notes/export/txt?version=0"); strings.Contains(string(r.body), "🎉") {
		t.Errorf("version 0 export has the later edit: %q", r.body)
	}
	for _, q := range []string{"version=2", "version=-1", "version=x", "version=", "version=0&version=0",
		"history=maybe", "history=", "history=1&history=1"} {
		if r := e.get("/api/v1/docs/notes/export/json?" + q); r.status != 400 {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
	if r := e.get("/api/v1/docs/missing/export/txt"); r.status != 404 {
		t.Errorf("missing: %d", r.status)
	}
	// A conditional export: the version is the entity tag.
	if r := e.get("/api/v1/docs/notes/export/md", "If-None-Match", `"1"`); r.status != http.StatusNotModified || len(r.body) != 0 || r.header.Get("ETag") != `"1"` {
		t.Errorf("If-None-Match of the head: %d %q, ETag %q", r.status, r.body, r.header.Get("ETag"))
	}
	if r := e.get("/api/v1/docs/notes/export/md?version=0", "If-None-Match", `"0"`); r.status != http.StatusNotModified {
		t.Errorf("If-None-Match of version 0: %d", r.status)
	}
	if r := e.get("/api/v1/docs/notes/export/md", "If-None-Match", `"0"`); r.status != 200 || r.header.Get("ETag") != `"1"` {
		t.Errorf("stale If-None-Match: %d, ETag %q", r.status, r.header.Get("ETag"))
	}
}

func TestExportJSONHistory(t *testing.T) {
	e := newEnv(t, nil)
	e.create("h", "")
	e.postOp("h", 0, `["a"]`)
	e.postOp("h", 1, `[1,"b"]`)
	var x Export
	e.get("/api/v1/docs/h/export/json").json(t, &x)
	if x.ID != "h" || x.Version != 2 || x.Text != "ab" || x.History != nil || x.CreatedAt.IsZero() {
		t.Errorf("plain json %+v", x)
	}
	r := e.get("/api/v1/docs/h/export/json?history=1")
	r.json(t, &x)
	if len(x.History) != 2 || x.History[0].Version != 1 || x.History[1].Version != 2 {
		t.Fatalf("history %s", r.body)
	}
	if b, _ := json.Marshal(x.History[1].Op); string(b) != `[1,"b"]` {
		t.Errorf("op %s", b)
	}
	r.json(t, &x)
	e.get("/api/v1/docs/h/export/json?history=1&version=1").json(t, &x)
	if len(x.History) != 1 || x.Text != "a" {
		t.Errorf("history at v1 %+v", x)
	}
	// Asked for, the history is there even when it has no op: a client
	// reads ops.length, not whether the key exists.
	for _, q := range []string{"h/export/json?history=1&version=0", "h/export/json?history=true&version=0"} {
		if r := e.get("/api/v1/docs/" + q); r.status != 200 || !strings.Contains(string(r.body), `"ops": []`) {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
	e.create("empty", "")
	if r := e.get("/api/v1/docs/empty/export/json?history=1"); !strings.Contains(string(r.body), `"ops": []`) {
		t.Errorf("a new document's history: %s", r.body)
	}
}

// TestExportHTMLIsInert feeds hostile Markdown through the HTML export: no
// script, event handler or javascript: URL may survive, and the page carries
// a CSP forbidding scripts anyway.
func TestExportHTMLIsInert(t *testing.T) {
	e := newEnv(t, nil)
	hostile := strings.Join([]string{
		"# Hi <script>alert(1)</script>",
		"<script>alert(2)</script>",
		"[click](javascript:alert(3))",
		"[click2](JaVaScRiPt:alert(4))",
		"<a href=\"javascript:alert(5)\">x</a>",
		"<img src=x onerror=\"alert(6)\">",
		"![img](x\" onerror=\"alert(7))",
		"<iframe src=\"https://evil.example\"></iframe>",
		"<svg onload=alert(8)>",
		"<div style=\"background:url(javascript:alert(9))\">s</div>",
		"[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxMCk8L3NjcmlwdD4=)",
		"plain **bold** text",
	}, "\n\n")
	e.create("x", hostile)
	r := e.get("/api/v1/docs/x/export/html")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	checkInert(t, string(r.body))
	page := strings.ToLower(string(r.body))
	if !strings.Contains(page, "<strong>bold</strong>") {
		t.Errorf("markdown not rendered:\n%s", r.body)
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP header %q", csp)
	}
	if !strings.Contains(string(r.body), `content="`+ExportCSP+`"`) && !strings.Contains(string(r.body), "default-src &#39;none&#39;") {
		t.Errorf("page lacks its CSP meta:\n%s", r.body)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
}

// checkInert parses page and fails on anything that could run: script-like
// elements, on* attributes, javascript:/vbscript:/data: URLs.
func checkInert(t *testing.T, page string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "iframe", "object", "embed", "svg", "math", "form", "base", "link", "frame":
				t.Errorf("element <%s> survived", n.Data)
			}
			for _, a := range n.Attr {
				k, v := strings.ToLower(a.Key), strings.ToLower(strings.TrimSpace(a.Val))
				if strings.HasPrefix(k, "on") {
					t.Errorf("attribute %s=%q on <%s> survived", a.Key, a.Val, n.Data)
				}
				if (k == "href" || k == "src" || k == "style" || k == "action") &&
					(strings.Contains(v, "javascript:") || strings.Contains(v, "vbscript:") || strings.HasPrefix(v, "data:text")) {
					t.Errorf("%s=%q on <%s> survived", a.Key, a.Val, n.Data)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
}

// TestExportHTMLBounded: goldmark takes time quadratic in some inputs (200 KB
// of '>' is a minute of CPU; a 2M-character document hours), so any reader of
// a document — a share link's — could pin the server's CPUs with HTML
// exports. Past MaxMarkdownHTML the export is the text, escaped, unrendered.
func TestExportHTMLBounded(t *testing.T) {
	e := newEnv(t, nil)
	for name, text := range map[string]string{
		"quotes":   strings.Repeat(">", 400_000),
		"emphasis": strings.Repeat("*a_", 130_000),
		"links":    strings.Repeat("[a](", 100_000) + "<script>alert(1)</script>",
	} {
		t.Run(name, func(t *testing.T) {
			e.create(name, "")
			if r := e.send(http.MethodPut, "/api/v1/docs/"+name+"/text", text); r.status != 200 {
				t.Fatalf("PUT: %d %s", r.status, r.body)
			}
			done := make(chan response, 1)
			go func() { done <- e.get("/api/v1/docs/" + name + "/export/html") }()
			var r response
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the HTML export of a pathological document took over 10 s")
			}
			if r.status != 200 {
				t.Fatalf("%d %.200s", r.status, r.body)
			}
			checkInert(t, string(r.body))
			if !strings.Contains(string(r.body), "<pre>") || len(r.body) < len(text) {
				t.Errorf("export lacks the text as <pre>: %.300s", r.body)
			}
		})
	}
	// Up to the bound, Markdown is still rendered.
	e.create("small", strings.Repeat("x", MaxMarkdownHTML-20)+" **bold**")
	if r := e.get("/api/v1/docs/small/export/html"); !strings.Contains(string(r.body), "<strong>bold</strong>") {
		t.Errorf("a document under the bound was not rendered: %.300s", r.body[len(r.body)-300:])
	}
}

// TestHTMLRendersBounded: HTML exports render one per processor; past that
// they wait for a turn (and a client that leaves meanwhile costs nothing),
// while other formats never wait.
func TestHTMLRendersBounded(t *testing.T) {
	e := newEnv(t, nil)
	e.create("r", "# title")
	for range cap(e.srv.renders) { // Every processor busy rendering.
		e.srv.renders <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/api/v1/docs/r/export/html", nil)
	if resp, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		if err == nil {
			resp.Body.Close()
		}
		t.Fatalf("an HTML export past the bound: %v, want it waiting until the client left", err)
	}
	if n := len(e.srv.renders); n != cap(e.srv.renders) {
		t.Fatalf("%d of %d turns taken after a waiting client left", n, cap(e.srv.renders))
	}
	big := strings.Repeat("> ", MaxMarkdownHTML)
	e.create("big", big)
	if r := e.get("/api/v1/docs/big/export/html"); r.status != 200 || !strings.Contains(string(r.body), "<pre>") {
		t.Fatalf("a text past MaxMarkdownHTML waited for a render: %d", r.status)
	}
	if r := e.get("/api/v1/docs/r/export/md"); r.status != 200 || string(r.body) != "# title" {
		t.Fatalf("a Markdown export waited for the renders: %d %s", r.status, r.body)
	}
	<-e.srv.renders // One turn frees up.
	if r := e.get("/api/v1/docs/r/export/html"); r.status != 200 || !strings.Contains(string(r.body), "<h1>title</h1>") {
		t.Fatalf("after a render ended: %d %.200s", r.status, r.body)
	}
	for len(e.srv.renders) > 0 {
		<-e.srv.renders
	}
}
