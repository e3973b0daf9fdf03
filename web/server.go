package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/storage"
)

// Store is the read side of storage that web queries directly: listings,
// metadata, history, text at a version and hot backups. Writes always go
// through the hub. *storage.DB satisfies it.
type Store interface {
	List(ctx context.Context, after string, limit int) ([]storage.Meta, string, error)
	Meta(ctx context.Context, id string) (storage.Meta, error)
	OpsWithin(ctx context.Context, id string, from, to uint64, maxBytes int) ([]storage.OpRecord, int, error)
	TextAt(ctx context.Context, id string, version uint64) (string, error)
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// Defaults used for zero Options fields.
const (
	DefaultMaxBodyBytes = 1 << 20  // JSON bodies: POST docs, POST ops.
	DefaultMaxTextBytes = 16 << 20 // PUT text bodies.
	DefaultHeartbeat    = 15 * time.Second
	DefaultMaxWait      = 60 * time.Second
	DefaultPageLimit    = 100
	MaxPageLimit        = 1000
	DefaultPageBytes    = 8 << 20 // GET ops and export history: see Options.PageBytes.
	DefaultWriteTimeout = 10 * time.Second
	DefaultBodyTimeout  = time.Minute
)

// Options configures a Server. Zero values are the documented defaults.
type Options struct {
	Hub    *collab.Hub // Required: every write and live view goes through it.
	Store  Store       // Required: reads of metadata, history and old versions.
	Logger zerolog.Logger

	// Registry receives web's metrics and is served on /metrics (together with
	// whatever else was registered on it, e.g. collab's). Nil: a fresh registry.
	Registry *prometheus.Registry

	// AllowedOrigins are extra WebSocket origin patterns (coder/websocket
	// OriginPatterns: "example.com", "*.example.com", "https://host:port").
	// Same-origin requests are always accepted; empty means same-origin only.
	AllowedOrigins []string
	// EmbedOrigins are the origins allowed to frame /embed/ pages and to
	// receive its postMessage events. Empty means any ("*").
	EmbedOrigins []string
	// CORSOrigins are the origins whose browser apps may use the API
	// (/api and /api/...) across origins (cors.go): REST, SSE streams, exports. Each
	// is an exact origin as CORSOrigin describes, a host in Unicode taken in
	// its ASCII form ("https://bücher.example" is
	// "https://xn--bcher-kva.example"); other entries are ignored: they
	// would match nothing. Their state-changing requests pass the CSRF check, which
	// refuses every other origin's. Empty: none (same-origin pages need
	// nothing). Separate from AllowedOrigins, which are WebSocket patterns
	// of any scheme and grant editors, not the whole API.
	CORSOrigins []string
	// BasePath is the path prefix under which a reverse proxy serves this
	// server to browsers, stripping it before forwarding ("/folio" for
	// https://example.com/folio/). It goes before the paths the API answers
	// with (url and embedUrl of POST /api/v1/docs and of share, the
	// Location of a created document), which clients follow from the
	// proxy's side. The pages work without it, naming everything relative
	// to their own address; with it they and the clean-path redirect name
	// Folio's root by it (folioRoot). A trailing "/" is ignored; empty:
	// none. A value that CheckBasePath refuses is ignored as if empty: put
	// before those paths it could name another host ("//evil.example").
	BasePath string
	// AllowedHosts are the host names, beyond IP literals, localhost and
	// *.localhost, that requests may name in their Host header (host.go):
	// exact names ("docs.example.com", any port), "*.example.com" for the
	// names under example.com, or "*" for any. Others are refused with 403
	// host_not_allowed, except /healthz and /readyz, so that a page rebinding
	// its DNS name to this server cannot use it. Empty means none beyond those
	// when access is open (Authorize nil), and any host when tokens are
	// required, since a rebinding page has none.
	AllowedHosts []string

	MaxBodyBytes int64         // Default DefaultMaxBodyBytes.
	MaxTextBytes int64         // Default DefaultMaxTextBytes.
	Heartbeat    time.Duration // SSE comment interval. Default 15 s.
	MaxWait      time.Duration // Longest long-poll wait. Default 60 s.
	WriteTimeout time.Duration // Deadline of each SSE write. Default 10 s.
	BodyTimeout  time.Duration // Longest read of a request body (the server bounds headers only). Default 1 min.
	// PageBytes bounds a page of GET ops by the ops' storage.OpRecord.Size
	// as limit bounds it by count: the page ends before the op that would
	// pass it (but holds one op at least), and the client pages on. Ops of
	// an integration that replaces a whole large text are large: MaxPageLimit
	// of them would be read, held and encoded at once. A JSON export with
	// history reads its op log in pages of this size too (LoadExport).
	// Default DefaultPageBytes.
	PageBytes int

	// Tokens, when set, is the access control: Authorize defaults to
	// Tokens.Authorize, and POST /api/v1/docs/{id}/share mints view tokens.
	Tokens *TokenAuth

	// Authorize is the access-control seam (issue 8). Nil: open access, every
	// request may edit. Otherwise it receives the document id (empty for
	// admin operations) and the request's token ("" when none) and returns
	// the grant or an error (a *collab.Error with code forbidden, typically).
	Authorize func(docID, token string) (collab.Grant, error)

	// RateLimits are per-client-address limits on WebSocket upgrades, REST
	// writes and exports. The zero value limits nothing.
	RateLimits RateLimits

	// MaxConns bounds the connections held at once, whatever their
	// address: WebSocket sessions, SSE streams and long-polls waiting for
	// an op. Over it they are refused with 503 too_many_connections and
	// Retry-After (an EventSource with a reconnect event). Default
	// DefaultMaxConns.
	MaxConns int
}

func (o *Options) setDefaults() {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxTextBytes <= 0 {
		o.MaxTextBytes = DefaultMaxTextBytes
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = DefaultBodyTimeout
	}
	if o.PageBytes <= 0 {
		o.PageBytes = DefaultPageBytes
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.Authorize == nil && o.Tokens != nil {
		o.Authorize = o.Tokens.Authorize
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if CheckBasePath(o.BasePath) != nil {
		o.BasePath = ""
	}
	o.BasePath = strings.TrimSuffix(o.BasePath, "/")
	if len(o.EmbedOrigins) == 0 {
		o.EmbedOrigins = []string{"*"}
	}
}

// CheckBasePath reports whether p can be Options.BasePath: empty, "/", or
// a clean absolute URL path (a trailing "/" aside) that needs no escaping,
// since it is put as it is before the paths in the API's answers. What is
// left once the trailing "/" is dropped must not end in "/" either: from
// "//" it would keep "/", and every path the API answers with would start
// with "//", a URL naming another host ("//d/notes" is the host d).
func CheckBasePath(p string) error {
	if p == "" || p == "/" {
		return nil
	}
	trimmed := strings.TrimSuffix(p, "/")
	if !strings.HasPrefix(trimmed, "/") || strings.HasSuffix(trimmed, "/") || path.Clean(trimmed) != trimmed ||
		(&url.URL{Path: p}).EscapedPath() != p {
		return errors.New("must be an absolute path such as /folio: no query, fragment, escapes, empty, \".\" or \"..\" segments")
	}
	return nil
}

// Server is Folio's HTTP front: REST, SSE, polling, the WebSocket upgrade,
// the pages and the operational endpoints.
type Server struct {
	opts    Options // Static after New.
	hub     *collab.Hub
	store   Store
	log     zerolog.Logger
	metrics *metrics
	limits  limiters   // Static after New; each limiter guards its own map.
	conns   *connSlots // Static after New; its counters are atomic.
	hosts   hostPolicy // Static after New.
	handler http.Handler
	mux     *http.ServeMux
	pages   *pages // Static after New (routePages).

	// corsOrigins are the valid Options.CORSOrigins, in the form CORSOrigin
	// gives (cors.go). Static after New.
	corsOrigins map[string]bool

	// renders bounds the HTML exports rendered at once to the processors
	// (goldmark's worst case under MaxMarkdownHTML is seconds of CPU each).
	renders chan struct{}

	draining atomic.Bool
	// drainCtx ends every SSE stream and long-poll when Drain is called.
	drainCtx context.Context
	drain    context.CancelFunc
	once     sync.Once
}

// New builds a Server. It starts no goroutines of its own: handlers run on the
// http.Server's goroutines and end with their requests.
func New(opts Options) *Server {
	opts.setDefaults()
	s := &Server{
		opts:    opts,
		hub:     opts.Hub,
		store:   opts.Store,
		log:     opts.Logger,
		metrics: newMetrics(opts.Registry),
		limits:  newLimiters(opts.RateLimits),
		conns:   newConnSlots(opts.MaxConns, opts.Logger),
		hosts:   newHostPolicy(opts.AllowedHosts, opts.Authorize != nil),
		renders: make(chan struct{}, runtime.GOMAXPROCS(0)),

		corsOrigins: corsOrigins(opts.CORSOrigins),
	}
	registerStoreMetrics(opts.Registry, opts.Store)
	registerConnMetrics(opts.Registry, s.conns)
	s.drainCtx, s.drain = context.WithCancel(context.Background())
	s.mux = s.routes()
	s.handler = s.logRequests(apiHeaders(s.boundPath(s.checkHost(s.cors(s.guard(s.crossOrigin(s.canonicalPaths(s.mux))))))))
	return s
}

// canonicalPaths answers a path that is not canonical (/d//x, /d/./x) as
// the mux would, 307 to the clean path, but with a Location from Folio's
// root as the pages name it (Options.BasePath, else relative to the path:
// rootOf). The mux's starts from the server's root, which leaves the prefix
// of a proxy serving Folio under a path it strips (README.md), and it
// escapes an escaped path again (/d//a%20b went to /d/a%2520b).
func (s *Server) canonicalPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := sentPath(r)
		if r.Method == http.MethodConnect || !strings.HasPrefix(p, "/") {
			next.ServeHTTP(w, r)
			return
		}
		clean := path.Clean(p)
		if strings.HasSuffix(p, "/") && clean != "/" {
			clean += "/"
		}
		if clean == p {
			next.ServeHTTP(w, r)
			return
		}
		loc := folioRoot(r, s.opts.BasePath) + clean[1:]
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
}

// crossOrigin refuses state-changing requests that a browser sends from
// another site (CSRF: a page anywhere making its visitor's browser create,
// edit or delete documents on a server it can reach, such as an open one on
// a private network). net/http's CrossOriginProtection decides by
// Sec-Fetch-Site or Origin; clients that send neither (integrations, curl)
// and safe methods pass, and so do the origins of Options.CORSOrigins. The
// refusal is 403 forbidden, as JSON.
func (s *Server) crossOrigin(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	for o := range s.corsOrigins {
		_ = cop.AddTrustedOrigin(o) // Cannot fail: CORSOrigin made o.
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, apiError(codeForbidden, "cross-site request refused: browsers may change documents only from this server's own pages and the origins of --cors-origins (FOLIO_CORS_ORIGINS)"))
	}))
	return cop.Handler(h)
}

// Handler returns the root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Drain starts the shutdown: /readyz answers 503, new WebSocket upgrades and
// SSE streams are refused (503; an EventSource gets a reconnect event
// instead, see refuseStream), a long-poll answers at once with what exists
// (a plain poll), and the open SSE streams (with a reconnect event) and
// long-polls end now (clients resume by version elsewhere or later). WebSocket sessions are the hub's:
// collab.Hub.Close closes them with 1001. Idempotent.
func (s *Server) Drain() {
	s.once.Do(func() {
		s.draining.Store(true)
		s.drain()
	})
}

// Draining reports whether Drain was called.
func (s *Server) Draining() bool { return s.draining.Load() }

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Registry, promhttp.HandlerOpts{}))

	// Writes and exports are rate-limited per client address here; the
	// WebSocket upgrade limits itself after its cheap checks.
	writes, exports := s.limits.writes, s.limits.exports
	mux.HandleFunc("POST /api/v1/docs", limited(writes, s.handleCreate))
	mux.HandleFunc("GET /api/v1/docs", s.handleList)
	mux.HandleFunc("GET /api/v1/docs/{id}", s.handleGet)
	mux.HandleFunc("DELETE /api/v1/docs/{id}", limited(writes, s.handleDelete))
	mux.HandleFunc("GET /api/v1/docs/{id}/text", s.handleGetText)
	mux.HandleFunc("PUT /api/v1/docs/{id}/text", limited(writes, s.handlePutText))
	mux.HandleFunc("POST /api/v1/docs/{id}/ops", s.limitedOps(s.handlePostOps))
	mux.HandleFunc("GET /api/v1/docs/{id}/ops", s.handleGetOps)
	mux.HandleFunc("GET /api/v1/docs/{id}/events", s.handleEvents)
	mux.HandleFunc("GET /api/v1/docs/{id}/export/{format}", limited(exports, s.handleExport))
	mux.HandleFunc("GET /api/v1/docs/{id}/ws", s.handleWS)
	mux.HandleFunc("POST /api/v1/docs/{id}/share", s.handleShare)
	mux.HandleFunc("GET /api/v1/admin/backup", limited(exports, s.handleBackup))
	mux.HandleFunc(apiCatchAll, s.handleAPINotFound)
	mux.HandleFunc(apiRoot, s.handleAPINotFound)

	s.routePages(mux)
	return mux
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// apiCatchAll is the pattern answering unknown API paths in JSON.
const apiCatchAll = "/api/"

// apiRoot is /api itself, answered as an unknown API path. Without its
// own pattern the mux would redirect it to /api/ from the server's root,
// which leaves the prefix of a proxy serving Folio under a path it strips.
const apiRoot = "/api"

// apiPath reports whether p is the API's: /api itself or a path under
// /api/. Whatever treats API answers apart (their headers, CORS) asks it,
// so that /api, answered by the API's 404, is treated as the rest.
func apiPath(p string) bool {
	return p == apiRoot || strings.HasPrefix(p, apiCatchAll)
}

// readyProbeID is a document id read by /readyz to prove the store answers;
// it need not exist.
const readyProbeID = "_readyz"

// handleReadyz answers probes. Its 503 has no Retry-After, unlike the
// refusals that pass with time (retryAfter): probes poll on their own
// interval, a draining server is not coming back, and a failed store waits
// for a restart.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if s.Draining() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	if err := s.storeReady(r.Context()); err != nil {
		s.log.Warn().Err(err).Msg("readiness: store unavailable")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// storeReady proves the store answers a read (a closed or broken store
// fails); a missing probe document is fine.
func (s *Server) storeReady(ctx context.Context) error {
	if s.store == nil {
		return nil
	}
	if _, err := s.store.Meta(ctx, readyProbeID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}

// handleAPINotFound answers JSON for unknown API paths, and 405 with Allow
// for known paths asked with another method (the catch-all pattern would
// otherwise hide the mux's own 405).
func (s *Server) handleAPINotFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != apiCatchAll && pattern != apiRoot {
			allow = append(allow, m)
			if m == http.MethodGet { // A GET pattern serves HEAD too.
				allow = append(allow, http.MethodHead)
			}
		}
	}
	if len(allow) == 0 {
		s.writeError(w, r, apiError(codeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
		return
	}
	// 405 is about HTTP methods, not a collab error code.
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeJSON(w, http.StatusMethodNotAllowed, errorBody{errorDetail{"method_not_allowed",
		r.Method + " is not allowed here; use " + strings.Join(allow, ", ")}})
}

// errShuttingDown refuses requests that would start a long-lived stream
// while the server is shutting down.
var errShuttingDown = apiError(codeUnavailable, "the server is shutting down; retry elsewhere or later")

// errDraining is errShuttingDown, as an error.
func errDraining() error { return errShuttingDown }

// streamContext is a request context that also ends when the server drains.
func (s *Server) streamContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(s.drainCtx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}
