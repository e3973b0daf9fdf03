package web

import (
	"net/http"
	"net/url"
	"time"
)

type shareResponse struct {
	URL       string     `json:"url"`
	EmbedURL  string     `json:"embedUrl"`
	Token     string     `json:"token,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// handleShare answers POST /api/v1/docs/{id}/share with a read-only link to
// the document. With token auth, anyone who may read the document gets a
// view token for it that expires when the presented token does (sharing
// never extends access) and carries no name (viewers choose their own).
// Without access control the link only asks the editor for read-only mode.
func (s *Server) handleShare(w http.ResponseWriter, r *http.Request) {
	id, _, err := s.docRequest(r, needRead)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.store.Meta(r.Context(), id); err != nil { // A link to nothing is not_found, as on every document route.
		s.writeError(w, r, err)
		return
	}
	q := url.Values{"readonly": {"1"}}
	var resp shareResponse
	switch {
	case s.opts.Tokens != nil:
		c, err := s.opts.Tokens.Parse(requestToken(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		exp := c.ExpiresAt.Time
		tok, err := s.opts.Tokens.Mint(TokenSpec{Doc: id, Role: roleView, TTL: exp.Sub(s.opts.Tokens.now())})
		if err != nil {
			s.writeError(w, r, apiError(codeForbidden, "token expired"))
			return
		}
		q.Set("token", tok)
		resp.Token, resp.ExpiresAt = tok, &exp
	case s.opts.Authorize != nil:
		s.writeError(w, r, apiError(codeNotFound, "share links need the built-in token auth"))
		return
	}
	resp.URL = s.opts.BasePath + "/d/" + id + "?" + q.Encode()
	resp.EmbedURL = s.opts.BasePath + "/embed/" + id + "?" + q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}
