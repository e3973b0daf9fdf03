package web

import (
	"net/http"
	"time"
)

// handleBackup streams a hot, consistent copy of the database file (one
// read transaction) for `folio backup`.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	if _, err := s.authorize(r, "", needAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	name := "folio-" + time.Now().UTC().Format("20060102T150405Z") + ".db"
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	n, err := s.store.Backup(r.Context(), w)
	if err != nil {
		// Headers are gone once bytes were written: the client sees a
		// truncated body (no trailer), so only a failure before the first
		// byte can still become an error response.
		if n == 0 {
			s.writeError(w, r, err)
			return
		}
		s.log.Error().Err(err).Int64(keyBytes, n).Msg("backup failed midway")
		panic(http.ErrAbortHandler)
	}
}
