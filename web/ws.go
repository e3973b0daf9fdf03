package web

import (
	"net/http"

	"github.com/coder/websocket"

	"github.com/foliodocs/folio/collab"
)

// handleWS upgrades an editor's connection and hands it to the hub, which
// owns it from then on (reader, writer, close codes). Access is decided by
// the hub on hello through Peer.Authorize, because the token travels in the
// hello message, not in the URL.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.Draining() {
		s.writeError(w, r, errDraining())
		return
	}
	if !s.limits.upgrades.admit(w, r) {
		return
	}
	if err := s.conns.acquire(); err != nil {
		s.writeError(w, r, err)
		return
	}
	conn, wire, err := collab.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{collab.Subprotocol},
		OriginPatterns: s.opts.AllowedOrigins,
	})
	if err != nil {
		// Accept has answered (403 for a foreign origin, 400/426 otherwise).
		s.conns.release()
		s.log.Debug().Err(err).Str(keyDoc, id).Str(keyRemote, r.RemoteAddr).Msg("websocket upgrade refused")
		return
	}
	// The hub serves the connection in its own goroutine (returning here
	// releases the request, its headers and this handler's stack), and
	// refuses one without the subprotocol as docs/protocol.md says. It
	// gives the slot back when it is done with the connection.
	s.hub.StartConn(conn, id, collab.Peer{Addr: r.RemoteAddr, Authorize: s.peerAuthorize(id), Wire: wire,
		Done: s.conns.release})
}

// peerAuthorize adapts Options.Authorize to the hub's per-connection hook;
// nil keeps the hub's open access. Sessions know only view and edit: an
// admin grant edits. A hello may create a missing document only with what
// creating it over REST with a chosen id needs: admin for every document.
func (s *Server) peerAuthorize(docID string) func(token string) (collab.Grant, error) {
	if s.opts.Authorize == nil {
		return nil
	}
	return func(token string) (collab.Grant, error) {
		g, err := s.opts.Authorize(docID, token)
		if err != nil {
			return g, err
		}
		if g.Role == roleAdmin {
			g.Role = collab.RoleEdit
			all, err := s.opts.Authorize("", token)
			g.Create = err == nil && all.Role == roleAdmin
		}
		return g, nil
	}
}
