package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/storage"
	"github.com/foliodocs/folio/web"
)

var _ collab.Store = (*storage.DB)(nil)
var _ web.Store = (*storage.DB)(nil)

// newLogger logs JSON, or readable console lines when the output is a
// terminal (format auto) or format is console.
func newLogger(w io.Writer, level, format string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	if format == "console" || format == "auto" && isTerminal(w) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func runServe(ctx context.Context, e env) error {
	cfg, err := parseServe(e.args, e.getenv, e.stderr)
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)
	cfg.logTo(log)
	return serve(ctx, cfg, log, nil)
}

// stack is the wired service: the only place concrete stores and servers
// are built and joined.
type stack struct {
	db   *storage.DB
	hub  *collab.Hub
	web  *web.Server
	http *http.Server
}

func build(cfg Config, log zerolog.Logger) (*stack, error) {
	auth, err := cfg.tokenAuth()
	if err != nil {
		return nil, err
	}
	trusted, err := cfg.trustedProxies()
	if err != nil {
		return nil, err
	}
	db, err := storage.Open(filepath.Join(cfg.Data, DBFile), cfg.storageOptions())
	if err != nil {
		if errors.Is(err, storage.ErrLocked) {
			return nil, fmt.Errorf("%w (is another folio server using %s?)", err, cfg.Data)
		}
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	hubOpts := cfg.collabOptions()
	hubOpts.Logger = log.With().Str("component", "collab").Logger()
	hubOpts.Metrics = collab.NewMetrics(reg)
	hub := collab.NewHub(db, hubOpts)
	opts := web.Options{
		Hub: hub, Store: db, Logger: log.With().Str("component", "web").Logger(), Registry: reg,
		AllowedOrigins: cfg.AllowedOrigins, EmbedOrigins: cfg.EmbedOrigins, CORSOrigins: cfg.CORSOrigins,
		AllowedHosts: cfg.allowedHosts(), BasePath: cfg.BasePath,
		MaxBodyBytes: cfg.MaxBodyBytes, MaxTextBytes: cfg.MaxTextBytes, Heartbeat: cfg.SSEHeartbeat, MaxWait: cfg.MaxWait,
		MaxConns: cfg.MaxConns, PageBytes: cfg.PageBytes,
		RateLimits: web.RateLimits{
			Upgrades:       web.Limit{PerSecond: cfg.UpgradeRate, Burst: cfg.UpgradeBurst},
			Writes:         web.Limit{PerSecond: cfg.WriteRate, Burst: cfg.WriteBurst},
			Exports:        web.Limit{PerSecond: cfg.ExportRate, Burst: cfg.ExportBurst},
			TrustedProxies: trusted,
		},
	}
	opts.Tokens = auth // nil: open access
	if auth == nil {
		log.Warn().Str("addr", cfg.Addr).Msg("access control is off (no --secret-file): anyone who can reach this " +
			"address can read, change, list, delete and back up every document")
	}
	srv := web.New(opts)
	// No ReadTimeout/WriteTimeout: SSE streams and long-polls are long
	// requests; every SSE write has its own deadline instead.
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
	}
	return &stack{db: db, hub: hub, web: srv, http: httpSrv}, nil
}

// serve runs the service until ctx ends (SIGINT/SIGTERM), then shuts down.
// ready, when not nil, receives the listening address once the server
// accepts connections.
func serve(ctx context.Context, cfg Config, log zerolog.Logger, ready chan<- string) error {
	// The addresses first: a port in use fails before the data directory
	// and the database file are created.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if cfg.PprofAddr != "" {
		_, stopPprof, err := startPprof(cfg.PprofAddr, log)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("pprof listen: %w", err)
		}
		defer stopPprof()
	}
	st, err := build(cfg, log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	log.Info().Str("addr", ln.Addr().String()).Msg("listening")
	if ready != nil {
		ready <- ln.Addr().String()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- st.http.Serve(ln) }()

	select {
	case err = <-serveErr:
		log.Error().Err(err).Msg("http server stopped")
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	st.shutdown(sctx, log, cfg.DrainDelay)
	<-serveErr
	log.Info().Msg("stopped")
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// shutdown stops the service in order, within ctx:
//  1. readiness goes to 503, SSE streams and long-polls end (web Drain),
//     and requests are still answered for drainDelay;
//  2. the listener closes and in-flight HTTP requests finish (Shutdown);
//  3. the hub closes: in-flight commits finish and are acknowledged, every
//     WebSocket is closed with 1001 and waited for (Shutdown does not wait
//     for hijacked connections), final snapshots are written;
//  4. the store closes.
func (st *stack) shutdown(ctx context.Context, log zerolog.Logger, drainDelay time.Duration) {
	st.web.Drain()
	if drainDelay > 0 {
		t := time.NewTimer(drainDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if err := st.http.Shutdown(ctx); err != nil {
		log.Warn().Err(err).Msg("http shutdown incomplete")
		_ = st.http.Close()
	}
	st.closeHubAndStore(ctx, log)
}

func (st *stack) closeHubAndStore(ctx context.Context, log zerolog.Logger) {
	if err := st.hub.Close(ctx); err != nil {
		log.Error().Err(err).Msg("hub close")
	}
	if err := st.db.Close(); err != nil {
		log.Error().Err(err).Msg("store close")
	}
}
