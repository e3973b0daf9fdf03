package web

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/storage"
)

type createRequest struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

type createResponse struct {
	ID       string `json:"id"`
	Version  uint64 `json:"version"`
	URL      string `json:"url"`
	EmbedURL string `json:"embedUrl"`
}

type docSummary struct {
	ID        string    `json:"id"`
	Version   uint64    `json:"version"`
	Length    int       `json:"length"`
	UpdatedAt time.Time `json:"updatedAt"`
}

type listResponse struct {
	Docs       []docSummary `json:"docs"`
	NextCursor string       `json:"nextCursor,omitempty"`
}

type docResponse struct {
	ID           string            `json:"id"`
	Version      uint64            `json:"version"`
	Length       int               `json:"length"`
	CreatedAt    time.Time         `json:"createdAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	Participants []collab.Presence `json:"participants"`
}

type versionResponse struct {
	Version uint64 `json:"version"`
}

// readBody reads at most limit bytes of r's body within BodyTimeout, so
// that a client trickling its body cannot hold the request open (net/http
// bounds only the headers here: SSE streams and long-polls are long
// requests).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.opts.BodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case err == nil, errors.As(err, &tooBig):
		return body, err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, apiError(codeInvalidMessage, "the request body did not arrive within %s", s.opts.BodyTimeout)
	}
	// A body cut before its Content-Length, or broken chunked framing: the
	// client's fault, not ours (a client that has gone away reads no answer).
	return nil, apiError(codeInvalidMessage, "the request body could not be read: %v", err)
}

// decodeJSON reads a size-limited JSON body strictly (see decodeBody).
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	return decodeBody(body, v)
}

// decodeBody decodes a JSON body strictly: it must be one object whose
// keys are v's exactly as spelled, each once (collab.CheckKeys: the rule of
// WebSocket frames, except that unknown keys are errors), and trailing
// data is an error.
func decodeBody(body []byte, v any) error {
	if !utf8.Valid(body) {
		return apiError(codeInvalidMessage, "request body is not valid UTF-8")
	}
	if collab.HasLoneSurrogate(body) {
		return apiError(codeInvalidMessage, "request body has a lone surrogate escape (\\ud800-\\udfff without its pair)")
	}
	if b := bytes.TrimSpace(body); len(b) == 0 || b[0] != '{' { // null would decode as {}.
		return apiError(codeInvalidMessage, "request body must be a JSON object")
	}
	if e := collab.CheckKeys(body, v); e != nil {
		return e
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields() // For a body CheckKeys could not split: refused below anyway.
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	// dec.More is false before a stray '}' or ']', so look at the bytes.
	if len(bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n")) > 0 {
		return apiError(codeInvalidMessage, "invalid JSON body: trailing data")
	}
	return nil
}

// bodyError says what is wrong with a JSON body in JSON's terms (which
// field, what it must be, where the syntax breaks): encoding/json's own
// messages name Go's structs and types.
func bodyError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		got, isNumber := strings.CutPrefix(typeErr.Value, "number ")
		if !isNumber {
			got = jsonKind[typeErr.Value]
		}
		return apiError(codeInvalidMessage, "invalid JSON body: %q must be %s, not %s", typeErr.Field, goKindInJSON(typeErr.Type), cmp.Or(got, typeErr.Value))
	case errors.As(err, &syntaxErr):
		return apiError(codeInvalidMessage, "invalid JSON body at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apiError(codeInvalidMessage, "invalid JSON body: unexpected end of JSON input")
	}
	return apiError(codeInvalidMessage, "invalid JSON body: %v", err)
}

// jsonKind names the kinds json.UnmarshalTypeError.Value gives.
var jsonKind = map[string]string{"string": "a string", "number": "a number", "bool": "true or false",
	"array": "an array", "object": "an object"}

// goKindInJSON says what JSON value decodes into t.
func goKindInJSON(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newID returns a random 16-character id (about 95 bits).
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails.
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	// The least any create needs, before the body is read.
	if _, err := s.authorize(r, "", createNeed(false)); err != nil {
		s.writeError(w, r, err)
		return
	}
	var req createRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	chosen := req.ID != ""
	if !chosen {
		req.ID = newID()
	} else if !storage.ValidID(req.ID) {
		s.writeError(w, r, apiError(codeInvalidID, "document ids are 1 to 64 characters from A-Z a-z 0-9 _ -"))
		return
	}
	if _, err := s.authorize(r, "", createNeed(chosen)); err != nil {
		s.writeError(w, r, err)
		return
	}
	meta, err := s.hub.Create(r.Context(), req.ID, req.Text)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	base := s.opts.BasePath
	w.Header().Set("Location", base+"/api/v1/docs/"+meta.ID)
	writeJSON(w, http.StatusCreated, createResponse{
		ID: meta.ID, Version: meta.Version, URL: base + "/d/" + meta.ID, EmbedURL: base + "/embed/" + meta.ID,
	})
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	limit := uint64(DefaultPageLimit)
	if l, err := queryUint(r, "limit"); err != nil {
		s.writeError(w, r, err)
		return
	} else if l != nil {
		if *l < 1 || *l > MaxPageLimit {
			s.writeError(w, r, apiError(codeInvalidMessage, "limit must be between 1 and %d", MaxPageLimit))
			return
		}
		limit = *l
	}
	// A cursor given is a document id, never "": a client that sends
	// cursor= meant a page it did not name, and the first page is asked
	// for without one.
	cursor := ""
	if cursors, ok := r.URL.Query()["cursor"]; ok {
		if len(cursors) != 1 || !storage.ValidID(cursors[0]) {
			s.writeError(w, r, apiError(codeInvalidMessage, "cursor must be given once, as a document id (the previous page's nextCursor); omit it for the first page"))
			return
		}
		cursor = cursors[0]
	}
	if _, err := s.authorize(r, "", needAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	metas, next, err := s.store.List(r.Context(), cursor, int(limit))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := listResponse{Docs: make([]docSummary, len(metas)), NextCursor: next}
	for i, m := range metas {
		resp.Docs[i] = docSummary{ID: m.ID, Version: m.Version, Length: m.Length, UpdatedAt: m.UpdatedAt.UTC()}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	id, _, err := s.docRequest(r, needRead)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	meta, err := s.store.Meta(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	peers, err := s.hub.Participants(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if peers == nil {
		peers = []collab.Presence{}
	}
	writeJSON(w, http.StatusOK, docResponse{
		ID: meta.ID, Version: meta.Version, Length: meta.Length,
		CreatedAt: meta.CreatedAt.UTC(), UpdatedAt: meta.UpdatedAt.UTC(), Participants: peers,
	})
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	id, _, err := s.docRequest(r, needAdmin)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.hub.Delete(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// etag is a version as an HTTP entity tag.
func etag(v uint64) string { return `"` + strconv.FormatUint(v, 10) + `"` }

// matchesETag reports whether an If-None-Match value lists tag (or is "*").
func matchesETag(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}

func (s *Server) handleGetText(w http.ResponseWriter, r *http.Request) {
	id, _, err := s.docRequest(r, needRead)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	version, err := queryUint(r, "version")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.versionOf(r, id, version)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	if notModified(w, r, v) {
		return
	}
	text, err := s.store.TextAt(r.Context(), id, v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Folio-Version", strconv.FormatUint(v, 10))
	_, _ = io.WriteString(w, text)
}

// versionOf is the version a read of document id asks for: version, which
// may not be beyond the head nor before the document's base (a version of a
// deleted document of that id), or the head when nil. Checked here, before
// If-None-Match, so a version this document never had is never 304.
func (s *Server) versionOf(r *http.Request, id string, version *uint64) (uint64, error) {
	meta, err := s.store.Meta(r.Context(), id)
	if err != nil {
		return 0, err
	}
	if version == nil {
		return meta.Version, nil
	}
	if *version > meta.Version {
		return 0, errVersionAhead(*version, meta.Version)
	}
	if *version < meta.Base {
		return 0, apiError(collab.CodeVersionTooOld, "version %d is from before the document was created at version %d; reload it", *version, meta.Base)
	}
	return *version, nil
}

// notModified sets the ETag of version v and, when the request's
// If-None-Match lists it, answers 304 Not Modified and reports true.
func notModified(w http.ResponseWriter, r *http.Request, v uint64) bool {
	tag := etag(v)
	w.Header().Set("ETag", tag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && matchesETag(inm, tag) {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	return false
}

// parseIfMatch reads If-Match: absent or "*" → nil (no precondition), else
// one strict quoted (or bare) version.
func parseIfMatch(r *http.Request) (*uint64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return nil, nil
	}
	tag := h
	if q, ok := strings.CutPrefix(h, "W/"); ok || strings.HasPrefix(h, `"`) {
		// An entity tag: exactly one pair of quotes (Trim would take ""1"").
		if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
			tag = ""
		} else {
			tag = q[1 : len(q)-1]
		}
	}
	v, ok := parseUint(tag)
	if !ok {
		return nil, apiError(codeInvalidMessage, `If-Match must be a version such as "12"`)
	}
	return &v, nil
}

func (s *Server) handlePutText(w http.ResponseWriter, r *http.Request) {
	id, g, err := s.docRequest(r, needEdit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ifVersion, err := parseIfMatch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := s.readBody(w, r, s.opts.MaxTextBytes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !utf8.Valid(body) {
		s.writeError(w, r, apiError(codeInvalidMessage, "text is not valid UTF-8"))
		return
	}
	v, err := s.hub.ReplaceText(r.Context(), id, string(body), ifVersion, author(g))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(v))
	writeJSON(w, http.StatusOK, versionResponse{Version: v})
}
