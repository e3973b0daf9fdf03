package web

import (
	"net/http"
	"testing"

	"github.com/foliodocs/folio/collab"
)

// fakeAuthorize grants by token value; issue 8 replaces it with JWTs.
func fakeAuthorize(docID, token string) (collab.Grant, error) {
	switch token {
	case "admin":
		return collab.Grant{Role: roleAdmin, Name: "root"}, nil
	case "edit-d":
		if docID == "d" {
			return collab.Grant{Role: roleEdit, Name: "Ann"}, nil
		}
	case "view-d":
		if docID == "d" {
			return collab.Grant{Role: roleView}, nil
		}
	}
	return collab.Grant{}, &collab.Error{Code: collab.CodeForbidden, Message: "no access"}
}

// TestAuthorizeSeam checks that every REST route asks Options.Authorize with
// the right document and need, and that roles are enforced.
func TestAuthorizeSeam(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Authorize = fakeAuthorize })
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	if r := e.send("POST", "/api/v1/docs", `{"id":"d","text":"x"}`, bearer("edit-d")...); r.status != 403 {
		t.Errorf("create with a chosen id needs admin: %d", r.status)
	}
	if r := e.send("POST", "/api/v1/docs", `{"id":"d","text":"x"}`, bearer("admin")...); r.status != 201 {
		t.Fatalf("admin create: %d %s", r.status, r.body)
	}
	cases := []struct {
		method, path, body, token string
		status                    int
	}{
		{"GET", "/api/v1/docs/d/text", "", "", 403},
		{"GET", "/api/v1/docs/d/text", "", "view-d", 200},
		{"GET", "/api/v1/docs/d/text?token=view-d", "", "", 200},
		{"GET", "/api/v1/docs/d/events?token=nope", "", "", 403},
		{"PUT", "/api/v1/docs/d/text", "y", "view-d", 403},
		{"POST", "/api/v1/docs/d/ops", `{"version":0,"op":["z"]}`, "view-d", 403},
		{"POST", "/api/v1/docs/d/ops", `{"version":0,"op":["z"]}`, "edit-d", 200},
		{"GET", "/api/v1/docs", "", "edit-d", 403},
		{"GET", "/api/v1/docs", "", "admin", 200},
		{"DELETE", "/api/v1/docs/d", "", "edit-d", 403},
		{"GET", "/api/v1/admin/backup", "", "view-d", 403},
		{"GET", "/api/v1/docs/d/export/txt", "", "view-d", 200},
	}
	for _, c := range cases {
		var h []string
		if c.token != "" {
			h = bearer(c.token)
		}
		if r := e.send(c.method, c.path, c.body, h...); r.status != c.status {
			t.Errorf("%s %s with %q: %d %s, want %d", c.method, c.path, c.token, r.status, r.body, c.status)
		}
	}
	var p opsResponse
	e.get("/api/v1/docs/d/ops", bearer("view-d")...).json(t, &p)
	if len(p.Ops) != 1 || p.Ops[0].Author != "Ann" {
		t.Errorf("the author comes from the grant: %+v", p.Ops)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t, nil)
	r := e.send("PATCH", "/api/v1/docs/d/text", "x")
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD, PUT" {
		t.Errorf("%d %v %s", r.status, r.header, r.body)
	}
	if r := e.send("PUT", "/api/v1/docs", ""); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD, POST" {
		t.Errorf("%d %v %s", r.status, r.header, r.body)
	}
}

func TestParticipants(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "")
	ed := newEditor(t, e, "d")
	eventually(t, "the editor among the participants", func() bool {
		var d docResponse
		e.get("/api/v1/docs/d").json(t, &d)
		return len(d.Participants) == 1 && d.Participants[0].Session == ed.session && d.Participants[0].Name == "ed"
	})
}

// TestCrossSiteWritesRefused: a browser request from another site may not
// change anything (CSRF), whatever its content type; the server's own pages,
// clients that are not browsers, and reads pass.
func TestCrossSiteWritesRefused(t *testing.T) {
	e := newEnv(t, nil)
	e.create("d", "x")
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site", "Content-Type", "text/plain"},
		{"Origin", "http://evil.example", "Content-Type", "text/plain"},
	} {
		if r := e.send("POST", "/api/v1/docs", `{"id":"csrf"}`, h...); r.status != http.StatusForbidden || r.errCode() != "forbidden" {
			t.Errorf("create with %v: %d %s", h, r.status, r.body)
		}
		if r := e.send("POST", "/api/v1/docs/d/ops", `{"version":0,"op":["y"]}`, h...); r.status != http.StatusForbidden {
			t.Errorf("op with %v: %d %s", h, r.status, r.body)
		}
		if r := e.get("/api/v1/docs/d/text", h...); r.status != 200 || string(r.body) != "x" {
			t.Errorf("a read with %v: %d %s", h, r.status, r.body)
		}
	}
	if r := e.get("/api/v1/docs/csrf"); r.status != http.StatusNotFound {
		t.Errorf("a refused create made the document: %d", r.status)
	}
	for _, h := range [][]string{{"Sec-Fetch-Site", "same-origin"}, {"Origin", e.url}, nil} {
		if r := e.send("POST", "/api/v1/docs", `{}`, h...); r.status != http.StatusCreated {
			t.Errorf("create with %v: %d %s", h, r.status, r.body)
		}
	}
}
