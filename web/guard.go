package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/storage"
)

// maxPathBytes bounds a request's path, as sent and as decoded: 4 KiB,
// far above any of Folio's URLs (an export's, the longest, is under 120
// bytes; a proxy strips its prefix before), and small enough that what
// grows with a path stays small (a page names Folio's root with one "../"
// per directory of its path, a few times).
const maxPathBytes = 4 << 10

// maxQueryBytes bounds a request's query string, as sent: 8 KiB, far above
// any a client of Folio sends (the longest, a ?token=, is a few hundred
// bytes: a document id, a role, a name and times, signed; a host
// application's own claims leave it far below), and small enough that what
// carries it (the 307 to a clean path names it in its Location) or parses
// it (each read of a parameter) stays small.
const maxQueryBytes = 8 << 10

// codeURITooLong refuses a request whose path is longer than maxPathBytes
// or whose query is longer than maxQueryBytes.
const codeURITooLong = collab.CodeURITooLong

// errPathTooLong and errQueryTooLong are the refusals of every request
// target too long: the same few bytes whatever the target, which they do
// not repeat, saying which part of it was too long.
var (
	errPathTooLong  = apiError(codeURITooLong, "the request's path is longer than %d bytes, more than any of this server's URLs", maxPathBytes)
	errQueryTooLong = apiError(codeURITooLong, "the request's query string is longer than %d bytes, more than any of this server's URLs", maxQueryBytes)
)

// boundPath answers a request whose path, as sent or decoded, is longer
// than maxPathBytes, or whose query string is longer than maxQueryBytes,
// with 414 uri_too_long, before anything else (the Host check included:
// the answer tells nothing), as the API's JSON error under /api and as a
// line of text elsewhere; an API refusal carries the CORS headers of a
// listed origin (corsRefusal), as if cors had run. What comes after it may
// grow with a path or a query (a page's "../"s, the 307 to a clean path
// naming both, the API's 404 naming the path, log lines) and so stays
// bounded; net/http only bounds the whole header, at 1 MB.
func (s *Server) boundPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err *collab.Error
		switch {
		case len(r.URL.Path) > maxPathBytes || len(r.URL.RawPath) > maxPathBytes:
			err = errPathTooLong
		case len(r.URL.RawQuery) > maxQueryBytes:
			err = errQueryTooLong
		default:
			next.ServeHTTP(w, r)
			return
		}
		if apiPath(r.URL.Path) {
			s.corsRefusal(w.Header(), r)
			s.writeError(w, r, err)
			return
		}
		http.Error(w, err.Message, collab.HTTPStatus(err))
	})
}

// apiHeaders sets the security headers every API response carries, the
// refusals before routing (checkHost) included.
func apiHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if apiPath(r.URL.Path) {
			h := w.Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
		}
		next.ServeHTTP(w, r)
	})
}

// guard runs before routing: when access control is on, it refuses the
// editor and embed pages of a document without a token that may read it
// (the page handlers themselves know nothing about tokens).
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := pageDocID(r); ok && s.opts.Authorize != nil {
			if _, err := s.authorize(r, id, needRead); err != nil {
				s.pages.refuse(w, r, errors.Is(err, errTokenExpired))
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

// refuse answers a page request without a valid token with the error page
// (403, no script), which says nothing about whether the document exists and
// is never cached: the answer depends on the token. A link whose token expired says
// so: its holder had access, and only needs a fresh link.
func (p *pages) refuse(w http.ResponseWriter, r *http.Request, expired bool) {
	d := pageData{Title: "Access needed · Folio", Heading: "Access needed", Status: http.StatusForbidden,
		Config:  pageConfig{Page: "error"},
		Message: "This document needs a link with a valid token (?token=...). Ask whoever shared it for a new link.",
		Embed:   strings.HasPrefix(r.URL.Path, "/embed/"), Refusal: true}
	if expired {
		d.Title, d.Heading = "Link expired · Folio", "Link expired"
		d.Message = "The access token in this link has expired. Ask whoever shared it for a new link."
	}
	p.render(w, r, "error", http.StatusForbidden, d)
}

// refuseHost answers a browser's request for a host name the server does not
// answer to (checkHost) with the error page: 403, never cached, naming only
// the host the browser asked for and the setting that allows it. It is bare:
// its stylesheet would be refused under that name too (and its versioned
// link would tell the page which build of Folio answered), and so would
// "Back to Folio", which only led to this page again.
func (p *pages) refuseHost(w http.ResponseWriter, r *http.Request, host string) {
	p.render(w, r, "error", http.StatusForbidden, pageData{Bare: true,
		Title: "Host name not allowed · Folio", Heading: "Host name not allowed", Status: http.StatusForbidden,
		Config: pageConfig{Page: "error"},
		Message: "This server does not answer to the name " + host + " (a guard against DNS rebinding). " +
			"If it should, its operator adds " + host + " to --allowed-hosts (FOLIO_ALLOWED_HOSTS).",
		Embed: strings.HasPrefix(r.URL.Path, "/embed/"), Refusal: true})
}
