package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/foliodocs/folio/storage"
)

// guard runs before routing: it sets the security headers every API
// response carries, and, when access control is on, refuses the editor and
// embed pages of a document without a token that may read it (the page
// handlers themselves know nothing about tokens).
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, apiCatchAll) {
			h := w.Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
		}
		if id, ok := pageDocID(r); ok && s.opts.Authorize != nil {
			if _, err := s.authorize(r, id, needRead); err != nil {
				refusePage(w, errors.Is(err, errTokenExpired))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// pageDocID returns the document id of a GET or HEAD of /d/{id} or
// /embed/{id}. Malformed ids are left to the page handlers, which answer
// them without touching any document.
func pageDocID(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", false
	}
	for _, prefix := range []string{"/d/", "/embed/"} {
		if id, ok := strings.CutPrefix(r.URL.Path, prefix); ok && storage.ValidID(id) {
			return id, true
		}
	}
	return "", false
}

// refusePage answers a page request without a valid token: a small HTML
// page (no script, no style, no external resource) that says nothing about
// whether the document exists. A link whose token expired says so: its
// holder had access, and only needs a fresh link.
func refusePage(w http.ResponseWriter, expired bool) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusForbidden)
	title, text := "Access refused", "This document needs a link with a valid token (?token=...)."
	if expired {
		title, text = "Link expired", "The access token in this link has expired."
	}
	_, _ = fmt.Fprintf(w, refusedHTML, title, title, text)
}

// refusedHTML is the refusal page: its title, heading and text, all
// constant (nothing from the request is written into it).
const refusedHTML = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>%s · Folio</title>
<h1>%s</h1>
<p>%s Ask whoever shared it for a new link.</p>
</html>
`
