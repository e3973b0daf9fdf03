package web

import (
	"bufio"
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
	// document without ops yet still exports "ops": []. It is what a
	// decoded JSON export holds: LoadExport leaves it nil and has
	// WriteExport stream the ops from the store instead (history).
	History []ExportedOp `json:"ops,omitzero"`

	// history, when set, is where WriteExport reads the ops Base+1..Version
	// from, a page at a time, in place of History.
	history *opPages
}

// opPages reads a document's op log in pages of about pageBytes.
type opPages struct {
	store     Store
	pageBytes int
}

// ExportedOp is one committed op in a JSON export or a polling answer.
type ExportedOp struct {
	Version uint64    `json:"version"`
	Op      ot.Op     `json:"op"`
	Session string    `json:"session"`
	Author  string    `json:"author"`
	Time    time.Time `json:"time"`
}

// LoadExport reads document id at version (nil: head) from store. A
// version beyond the head is an error (never clamped). With history the
// JSON export carries the op log up to that version: WriteExport reads it
// from store as it writes, in pages of pageBytes (<= 0: DefaultPageBytes,
// and at least one op each), so that a long history is never all in memory.
func LoadExport(ctx context.Context, store Store, id string, version *uint64, history bool, pageBytes int) (Export, error) {
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
		if pageBytes <= 0 {
			pageBytes = DefaultPageBytes
		}
		e.history = &opPages{store: store, pageBytes: pageBytes}
	}
	return e, nil
}

// next reads the page of ops after version from, up to to.
func (p *opPages) next(ctx context.Context, id string, from, to uint64) ([]ExportedOp, error) {
	recs, _, err := p.store.OpsWithin(ctx, id, from, to, p.pageBytes)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 || recs[0].Version != from+1 {
		return nil, fmt.Errorf("export %s: ops after %d: the store did not return op %d", id, from, from+1)
	}
	return exportedOps(recs), nil
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
// preformatted text). A JSON export whose history LoadExport left to be read
// is written as it is read, page by page (writeJSONExport); ctx bounds those
// reads. An error after the first write leaves w with part of the export.
func WriteExport(ctx context.Context, w io.Writer, format string, e Export) error {
	switch format {
	case FormatText, FormatMarkdown:
		_, err := io.WriteString(w, e.Text)
		return err
	case FormatHTML:
		return writeHTML(w, e)
	case FormatJSON:
		if e.history != nil {
			return writeJSONExport(ctx, w, e)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(e)
	}
	return fmt.Errorf("unknown export format %q", format)
}

// writeJSONExport writes e as encoding e with its whole History would, byte
// for byte (indented, HTML escaped as json.Encoder does), holding one page
// of ops at a time: the object without "ops" is encoded and reopened, then
// the ops follow, each indented at the depth of the array's elements. The
// first page is read before anything is written, so that a failing store
// leaves w untouched when it fails at once.
func writeJSONExport(ctx context.Context, w io.Writer, e Export) error {
	var head bytes.Buffer
	enc := json.NewEncoder(&head)
	enc.SetIndent("", "  ")
	e.History = nil
	if err := enc.Encode(e); err != nil {
		return err
	}
	// head ends "\n}\n": the object's last field is followed by the ops.
	open := bytes.TrimSuffix(head.Bytes(), []byte("\n}\n"))
	var page []ExportedOp
	if e.Version > e.Base {
		var err error
		if page, err = e.history.next(ctx, e.ID, e.Base, e.Version); err != nil {
			return err
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(open)
	if len(page) == 0 {
		bw.WriteString(",\n  \"ops\": []\n}\n")
		return bw.Flush()
	}
	bw.WriteString(",\n  \"ops\": [")
	sep := "\n    "
	for {
		for _, op := range page {
			b, err := json.MarshalIndent(op, "    ", "  ")
			if err != nil {
				return err
			}
			bw.WriteString(sep)
			if _, err := bw.Write(b); err != nil {
				return err
			}
			sep = ",\n    "
		}
		last := page[len(page)-1].Version
		if last >= e.Version {
			break
		}
		var err error
		if page, err = e.history.next(ctx, e.ID, last, e.Version); err != nil {
			return err
		}
	}
	bw.WriteString("\n  ]\n}\n")
	return bw.Flush()
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
	e, err := LoadExport(r.Context(), s.store, id, &v, history && format == FormatJSON, s.opts.PageBytes)
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
	exportHeaders := map[string]string{
		"Content-Type":            ct,
		"Content-Disposition":     `attachment; filename="` + e.Filename(format, version != nil) + `"`,
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": ExportCSP,
	}
	h := w.Header()
	for k, v := range exportHeaders {
		h.Set(k, v)
	}
	// The export is streamed (a JSON history page by page): its headers
	// leave with the first byte, and an error after that can only cut the
	// connection, as for any streamed body; the client sees a truncated
	// body, never a complete-looking one.
	cw := &countingWriter{w: w}
	if err := WriteExport(r.Context(), cw, format, e); err != nil {
		if cw.n == 0 {
			for k := range exportHeaders {
				h.Del(k)
			}
			s.writeError(w, r, err)
			return
		}
		s.logFailure(r, err)
		panic(http.ErrAbortHandler)
	}
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
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
