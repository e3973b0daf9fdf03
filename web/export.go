package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"time"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// Export formats accepted by /api/v1/docs/{id}/export/{format} and `folio export`.
const (
	FormatText     = "txt"
	FormatMarkdown = "md"
	FormatHTML     = "html"
	FormatJSON     = "json"
)

// exportTypes maps each export format to its Content-Type.
var exportTypes = map[string]string{
	FormatText:     "text/plain; charset=utf-8",
	FormatMarkdown: "text/markdown; charset=utf-8",
	FormatHTML:     "text/html; charset=utf-8",
	FormatJSON:     "application/json",
}

// ExportContentType returns the Content-Type of format and whether format is known.
func ExportContentType(format string) (string, bool) {
	ct, ok := exportTypes[format]
	return ct, ok
}

// ExportCSP is the Content-Security-Policy sent with (and embedded in) HTML
// exports: nothing may run, styles only inline, images only from https/data.
const ExportCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; sandbox"

// Export is one document at one version, ready to be rendered.
type Export struct {
	ID        string    `json:"id"`
	Version   uint64    `json:"version"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Base is the version the document started at, where History begins:
	// 0 unless the id's earlier document was deleted (storage.Meta.Base).
	Base uint64 `json:"base,omitempty"`
	// History is nil unless asked for; asked for, it is never nil, so a
	// document without ops yet still exports "ops": [].
	History []ExportedOp `json:"ops,omitzero"`
}

// ExportedOp is one committed op in a JSON export or a polling answer.
type ExportedOp struct {
	Version uint64    `json:"version"`
	Op      ot.Op     `json:"op"`
	Session string    `json:"session"`
	Author  string    `json:"author"`
	Time    time.Time `json:"time"`
}

// LoadExport reads document id at version (nil: head) from store, with its
// whole op log up to that version when history is set. A version beyond the
// head is an error (never clamped).
func LoadExport(ctx context.Context, store Store, id string, version *uint64, history bool) (Export, error) {
	meta, err := store.Meta(ctx, id)
	if err != nil {
		return Export{}, err
	}
	v := meta.Version
	if version != nil {
		if *version > meta.Version {
			return Export{}, errVersionAhead(*version, meta.Version)
		}
		v = *version
	}
	text, err := store.TextAt(ctx, id, v)
	if err != nil {
		return Export{}, err
	}
	e := Export{ID: id, Version: v, Text: text, CreatedAt: meta.CreatedAt, UpdatedAt: meta.UpdatedAt, Base: meta.Base}
	if history {
		recs, err := store.Ops(ctx, id, meta.Base, v)
		if err != nil {
			return Export{}, err
		}
		e.History = exportedOps(recs)
	}
	return e, nil
}

func exportedOps(recs []storage.OpRecord) []ExportedOp {
	out := make([]ExportedOp, len(recs))
	for i, r := range recs {
		out[i] = ExportedOp{Version: r.Version, Op: r.Op, Session: r.Session, Author: r.Author, Time: r.Time.UTC()}
	}
	return out
}

// Filename is a safe download name: the id is already restricted to
// [A-Za-z0-9_-], so it needs no escaping.
func (e Export) Filename(format string, pinned bool) string {
	if pinned {
		return fmt.Sprintf("%s-v%d.%s", e.ID, e.Version, format)
	}
	return e.ID + "." + format
}

// WriteExport renders e in format to w. HTML is the Markdown rendered with
// goldmark, sanitised with bluemonday, in a standalone page whose CSP forbids
// every script (a text over MaxMarkdownHTML is not rendered: it is shown as
// preformatted text).
func WriteExport(w io.Writer, format string, e Export) error {
	switch format {
	case FormatText, FormatMarkdown:
		_, err := io.WriteString(w, e.Text)
		return err
	case FormatHTML:
		return writeHTML(w, e)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(e)
	}
	return fmt.Errorf("unknown export format %q", format)
}

// RenderMarkdown turns Markdown into sanitised HTML: raw HTML in the source is
// dropped by goldmark, and bluemonday removes anything executable that is left
// (script, event handlers, javascript: URLs).
func RenderMarkdown(src string) (template.HTML, error) {
	md := goldmark.New(goldmark.WithExtensions(extension.GFM))
	var buf bytes.Buffer
	if err := md.Convert([]byte(src), &buf); err != nil {
		return "", fmt.Errorf("render markdown: %w", err)
	}
	policy := bluemonday.UGCPolicy()
	policy.RequireNoReferrerOnLinks(true)
	// #nosec: the output of a strict sanitiser is what template.HTML is for.
	return template.HTML(policy.SanitizeBytes(buf.Bytes())), nil
}

var exportPage = template.Must(template.New("export").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="Folio">
<title>{{.Title}}</title>
<style>
body{max-width:46rem;margin:2rem auto;padding:0 1rem;font:16px/1.6 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328}
pre,code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;background:#f6f8fa;border-radius:4px}
pre{padding:.8rem;overflow:auto}code{padding:.1rem .3rem}pre code{padding:0}
blockquote{margin:0;padding-left:1rem;border-left:4px solid #d0d7de;color:#59636e}
table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.3rem .6rem}
img{max-width:100%}
</style>
</head>
<body>
<article>
{{.Body}}
</article>
</body>
</html>
`))

// MaxMarkdownHTML is the largest text (in bytes) an HTML export renders as
// Markdown. goldmark takes time quadratic in some inputs (nested '>', runs of
// emphasis delimiters or link openers: 200 KB of '>' is a minute of CPU, a
// document at the default --max-doc-len hours), and any reader of a document
// may export it. Up to this bound the worst case is a few seconds; past it
// the page holds the text escaped in a <pre>, which takes linear time.
const MaxMarkdownHTML = 64 << 10

func writeHTML(w io.Writer, e Export) error {
	var body template.HTML
	if len(e.Text) > MaxMarkdownHTML {
		body = template.HTML("<pre>" + template.HTMLEscapeString(e.Text) + "</pre>")
	} else {
		var err error
		if body, err = RenderMarkdown(e.Text); err != nil {
			return err
		}
	}
	return exportPage.Execute(w, struct {
		CSP   string
		Title string
		Body  template.HTML
	}{ExportCSP, fmt.Sprintf("%s (version %d)", e.ID, e.Version), body})
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	id, _, err := s.docRequest(r, needRead)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	format := r.PathValue("format")
	ct, ok := ExportContentType(format)
	if !ok {
		s.writeError(w, r, apiError(codeNotFound, "unknown export format %q (use txt, md, html or json)", format))
		return
	}
	version, err := queryUint(r, "version")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	history, err := queryBool(r, "history")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.versionOf(r, id, version)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if notModified(w, r, v) { // A version's export never changes.
		return
	}
	e, err := LoadExport(r.Context(), s.store, id, &v, history && format == FormatJSON)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if format == FormatHTML && len(e.Text) <= MaxMarkdownHTML {
		// One Markdown render per processor; the rest wait their turn, or
		// leave (a longer text is only escaped: it never waits).
		select {
		case s.renders <- struct{}{}:
			defer func() { <-s.renders }()
		case <-r.Context().Done():
			s.writeError(w, r, r.Context().Err()) // Logged as the client's leaving.
			return
		}
	}
	var buf bytes.Buffer
	if err := WriteExport(&buf, format, e); err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", `attachment; filename="`+e.Filename(format, version != nil)+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", ExportCSP)
	_, _ = w.Write(buf.Bytes())
}

// queryBool reads an optional flag parameter: absent, "0" or "false" is
// false; "1" or "true" is true; anything else is a 400.
func queryBool(r *http.Request, name string) (bool, error) {
	vals, ok := r.URL.Query()[name]
	if !ok {
		return false, nil
	}
	if len(vals) == 1 {
		switch vals[0] {
		case "1", "true":
			return true, nil
		case "0", "false":
			return false, nil
		}
	}
	return false, apiError(codeInvalidMessage, "%s must be given once, as 1, true, 0 or false", name)
}
