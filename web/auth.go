package web

import (
	"net/http"
	"strings"

	"github.com/foliodocs/folio/collab"
)

// need is the access a request requires.
type need int

const (
	needRead  need = iota // text, history, live views
	needEdit              // ops, PUT text
	needAdmin             // create with a chosen id, list, delete, backup
)

// Role names as they appear in collab.Grant.Role.
const (
	roleView  = "view"
	roleEdit  = "edit"
	roleAdmin = "admin"
)

// defaultAuthor is the author recorded for REST edits without a named grant.
const defaultAuthor = "api"

func createNeed(chosenID bool) need {
	if chosenID {
		return needAdmin
	}
	return needEdit
}

// requestToken returns the bearer token of r, or its ?token= parameter for
// browser APIs that cannot set headers (EventSource, iframe src).
func requestToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return r.URL.Query().Get("token")
}

// authorize is the access-control seam: with no Options.Authorize everything
// is allowed with role edit; otherwise the hook decides and the role must
// cover n. docID is "" for operations not about one document.
func (s *Server) authorize(r *http.Request, docID string, n need) (collab.Grant, error) {
	if s.opts.Authorize == nil {
		return collab.Grant{Role: roleEdit}, nil
	}
	g, err := s.opts.Authorize(docID, requestToken(r))
	if err != nil {
		return collab.Grant{}, err
	}
	role := string(g.Role)
	ok := role == roleAdmin ||
		n == needEdit && role == roleEdit ||
		n == needRead && (role == roleEdit || role == roleView)
	if !ok {
		return collab.Grant{}, apiError(codeForbidden, "this token does not allow that")
	}
	return g, nil
}

// docRequest validates the {id} path value first, then access to it.
func (s *Server) docRequest(r *http.Request, n need) (string, collab.Grant, error) {
	id, err := pathID(r)
	if err != nil {
		return "", collab.Grant{}, err
	}
	g, err := s.authorize(r, id, n)
	return id, g, err
}

func author(g collab.Grant) string {
	if g.Name != "" {
		return g.Name
	}
	return defaultAuthor
}
