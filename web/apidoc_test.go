package web

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// apiDoc is the reference of the HTTP API; each route has a "### METHOD /path"
// section in it.
const apiDoc = "../docs/api.md"

// routeHeading matches a route section heading of apiDoc.
var routeHeading = regexp.MustCompile(`^###\s+([A-Z]+)\s+(/\S*)\s*$`)

// wildcard matches a {name}, {name...} or {$} segment of a mux pattern.
var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// TestAPIDocumented keeps docs/api.md and the routes in step: every route
// the package registers (read from its source, as Server.routes writes them,
// and confirmed on a real Server's mux) has a "### METHOD /path" section, and
// every such section is a route. Pages and the API catch-all (and /api,
// answered as it) are not documented there.
func TestAPIDocumented(t *testing.T) {
	srv := New(Options{})
	routes := map[string]bool{}
	for _, p := range registeredPatterns(t) {
		method, path, ok := strings.Cut(p.pattern, " ")
		if !ok {
			method, path = "", p.pattern
		}
		if !documentedPath(path) {
			continue
		}
		if method == "" {
			t.Errorf("%s: route %q has no method; give it one so it can be documented", p.pos, p.pattern)
			continue
		}
		if got := muxPattern(srv, method, path); got != p.pattern {
			t.Errorf("%s: %q is not what the mux serves (it routes that request to %q)", p.pos, p.pattern, got)
		}
		routes[p.pattern] = true
	}
	if len(routes) == 0 {
		t.Fatal("found no routes: did the registration change shape?")
	}

	headings := map[string]bool{}
	for _, h := range routeHeadings(t) {
		if headings[h] {
			t.Errorf("%s: heading %q appears twice", apiDoc, "### "+h)
		}
		headings[h] = true
	}

	var undocumented, unknown []string
	for r := range routes {
		if !headings[r] {
			undocumented = append(undocumented, r)
		}
	}
	for h := range headings {
		if !routes[h] {
			unknown = append(unknown, h)
		}
	}
	slices.Sort(undocumented)
	slices.Sort(unknown)
	for _, r := range undocumented {
		t.Errorf("route %q has no %q section in %s", r, "### "+r, apiDoc)
	}
	for _, h := range unknown {
		t.Errorf("%s documents %q, which is no route", apiDoc, "### "+h)
	}
}

// documentedPath reports whether a route's path belongs in apiDoc: the API
// and the operational endpoints, not the pages and assets.
func documentedPath(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasPrefix(path, "/api/")
}

type registration struct {
	pattern string
	pos     token.Position
}

// registeredPatterns returns the patterns of every Handle and HandleFunc call
// in the package's non-test files. A pattern that is not a string literal
// fails the test (it could not be checked), except the API catch-all.
func registeredPatterns(t *testing.T) []registration {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var out []registration
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc" {
				return true
			}
			pos := fset.Position(call.Pos())
			switch arg := call.Args[0].(type) {
			case *ast.BasicLit:
				if p, err := strconv.Unquote(arg.Value); err == nil {
					out = append(out, registration{p, pos})
					return true
				}
			case *ast.Ident:
				if arg.Name == "apiCatchAll" || arg.Name == "apiRoot" {
					return true
				}
			}
			t.Errorf("%s: cannot read the pattern of this route; register it with a string literal", pos)
			return true
		})
	}
	return out
}

// muxPattern returns the pattern srv's mux picks for a request to the route
// method path, with each {wildcard} filled in.
func muxPattern(srv *Server, method, path string) string {
	target := wildcard.ReplaceAllStringFunc(path, func(w string) string {
		switch w {
		case "{$}":
			return ""
		case "{format}":
			return FormatText
		}
		return "x"
	})
	_, pattern := srv.mux.Handler(httptest.NewRequest(method, target, nil))
	return pattern
}

// routeHeadings returns "METHOD /path" of every route heading of apiDoc,
// outside code blocks.
func routeHeadings(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(apiDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	fenced := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		if m := routeHeading.FindStringSubmatch(line); m != nil {
			h := m[1] + " " + m[2]
			if line != "### "+h {
				t.Errorf("%s:%d: write the heading exactly as %q", apiDoc, n, "### "+h)
			}
			out = append(out, h)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
