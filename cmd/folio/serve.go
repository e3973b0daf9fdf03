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

// serve runs the service until ctx ends, then shuts down in order:
//  1. readiness goes to 503, SSE streams and long-polls end (web Drain);
//  2. the listener closes and in-flight HTTP requests finish (Shutdown);
//  3. the hub closes: in-flight commits finish and are acknowledged, every
//     WebSocket is closed with 1001 and waited for, final snapshots written;
//  4. the store closes.
//
// All of it within cfg.ShutdownTimeout. ready, when not nil, receives the
// listening address once the server accepts connections.
func serve(ctx context.Context, cfg Config, log zerolog.Logger, ready chan<- string) error {
	db, err := storage.Open(filepath.Join(cfg.Data, DBFile), storage.Options{})
	if err != nil {
		if errors.Is(err, storage.ErrLocked) {
			return fmt.Errorf("%w (is another folio server using %s?)", err, cfg.Data)
		}
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	hub := collab.NewHub(db, collab.Options{
		Logger:          log.With().Str("component", "collab").Logger(),
		Metrics:         collab.NewMetrics(reg),
		IdleUnload:      cfg.IdleUnload,
		MaxMessageBytes: cfg.MaxMessageBytes,
		MaxDocLen:       cfg.MaxDocLen,
		OpsPerSecond:    cfg.OpsPerSecond,
		OpBurst:         cfg.OpBurst,
		MaxConnsPerDoc:  cfg.MaxConnsPerDoc,
	})
	srv := web.New(web.Options{
		Hub: hub, Store: db, Logger: log.With().Str("component", "web").Logger(), Registry: reg,
		AllowedOrigins: cfg.AllowedOrigins, EmbedOrigins: cfg.EmbedOrigins,
		MaxBodyBytes: cfg.MaxBodyBytes, MaxTextBytes: cfg.MaxTextBytes, Heartbeat: cfg.SSEHeartbeat,
	})
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		closeAll(context.Background(), log, hub, db)
		return fmt.Errorf("listen: %w", err)
	}
	log.Info().Str("addr", ln.Addr().String()).Msg("listening")
	if ready != nil {
		ready <- ln.Addr().String()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()

	select {
	case err = <-serveErr:
		log.Error().Err(err).Msg("http server stopped")
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	srv.Drain()
	if err := httpSrv.Shutdown(sctx); err != nil {
		log.Warn().Err(err).Msg("http shutdown incomplete")
	}
	<-serveErr
	closeAll(sctx, log, hub, db)
	log.Info().Msg("stopped")
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func closeAll(ctx context.Context, log zerolog.Logger, hub *collab.Hub, db *storage.DB) {
	if err := hub.Close(ctx); err != nil {
		log.Error().Err(err).Msg("hub close")
	}
	if err := db.Close(); err != nil {
		log.Error().Err(err).Msg("store close")
	}
}
