package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/web"
)

// loopbackAddr reports whether addr is host:port on a loopback host.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// pprofHandler serves the runtime profiles under /debug/pprof/ on its own
// mux, so they never reach the public listener. Only to a loopback Host: a
// page that points its DNS name at 127.0.0.1 (DNS rebinding) still sends its
// own name, and must not read the profiles (cmdline shows a --secret given
// as a flag).
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !web.LoopbackHost(r.Host) {
			http.Error(w, "pprof answers only to localhost and loopback addresses (DNS rebinding)", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// startPprof serves pprofHandler on addr until the returned stop is called;
// stop waits for the server goroutine and may be called more than once.
// bound is the address listened on.
func startPprof(addr string, log zerolog.Logger) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: pprofHandler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("pprof listener stopped")
		}
	}()
	log.Info().Str("addr", ln.Addr().String()).Msg("pprof listening")
	var once sync.Once
	return ln.Addr().String(), func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if srv.Shutdown(ctx) != nil {
				_ = srv.Close() // A running CPU profile does not end on Shutdown.
			}
			<-done
		})
	}, nil
}
