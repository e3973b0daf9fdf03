package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/storage"
	"github.com/foliodocs/folio/web"
)

// target is the server under test: where to connect, which process to
// measure, and how to stop it.
type target struct {
	baseURL  string
	pid      int  // Process to sample; 0 means this process.
	measured bool // False for a URL without --server-pid: CPU and RSS unknown.
	remote   bool // A --url server, which may restart during a run.
	desc     string
	http     *http.Client // Its own transport, so stop can close idle connections.
	token    string       // Sent as a Bearer header and in hello; empty: none.
	stop     func(ctx context.Context) error
}

// newTarget wraps stop so that it also closes the target's idle HTTP connections.
func newTarget(t target) *target {
	t.http = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	stop := t.stop
	t.stop = func(ctx context.Context) error {
		defer t.http.CloseIdleConnections()
		return stop(ctx)
	}
	return &t
}

// startTarget connects to cfg.URL or starts a server as cfg.Server says.
func startTarget(ctx context.Context, cfg Config, stderr io.Writer) (*target, error) {
	if cfg.URL != "" {
		t := target{baseURL: strings.TrimSuffix(cfg.URL, "/"), pid: cfg.ServerPID, token: cfg.Token, remote: true,
			stop: func(context.Context) error { return nil }}
		t.measured = cfg.ServerPID != 0
		t.desc = "remote " + t.baseURL
		if t.measured {
			t.desc += fmt.Sprintf(" (pid %d sampled from /proc)", cfg.ServerPID)
		} else {
			t.desc += " (no --server-pid: CPU and RSS not measured)"
		}
		return newTarget(t), nil
	}
	if cfg.Server == "child" {
		return startChild(ctx, cfg, stderr)
	}
	s, err := startLocal(localOptions{cfg.DataDir, cfg.Pprof, cfg.NoSync, cfg.SendQueue, cfg.CommitDelay}, stderr)
	if err != nil {
		return nil, err
	}
	return newTarget(target{
		baseURL: s.url, measured: true, stop: s.close,
		desc: "in-process on " + s.url + ", " + durability(cfg.NoSync) + "; generator and server SHARE this process: CPU and RSS include the generator",
	}), nil
}

// localServer is a Folio server in this process on a loopback port.
type localServer struct {
	url   string
	close func(ctx context.Context) error
}

// startLocal opens storage in dataDir (a new temporary directory when empty,
// removed on close), builds the hub and the web handler, and serves them on
// 127.0.0.1. It is wired like cmd/folio, minus configuration.
// localOptions configure a started server.
type localOptions struct {
	dataDir, pprofAddr string
	noSync             bool          // Diagnosis only.
	sendQueue          int           // collab.Options.SendQueue; 0: collab's default.
	commitDelay        time.Duration // As folio serve --commit-delay: 0 never waits.
}

func startLocal(o localOptions, stderr io.Writer) (*localServer, error) {
	dataDir, pprofAddr := o.dataDir, o.pprofAddr
	tmp := dataDir == ""
	if tmp {
		d, err := os.MkdirTemp("", "folio-bench-")
		if err != nil {
			return nil, err
		}
		dataDir = d
	}
	cleanup := func() {
		if tmp {
			os.RemoveAll(dataDir)
		}
	}
	db, err := storage.Open(filepath.Join(dataDir, "folio.db"), storage.Options{NoSync: o.noSync, CommitDelay: commitDelay(o.commitDelay)})
	if err != nil {
		cleanup()
		return nil, err
	}
	logger := zerolog.New(stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	// Metrics on, as in production; they also tell the bench how long commits took.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector()) // As cmd/folio does; gives allocations per op.
	hubOpts := benchHubOptions(logger)
	hubOpts.Metrics = collab.NewMetrics(reg)
	hubOpts.SendQueue = o.sendQueue
	hub := collab.NewHub(db, hubOpts)
	handler := web.New(web.Options{Hub: hub, Store: db, Logger: logger, Registry: reg}).Handler()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		hub.Close(context.Background())
		db.Close()
		cleanup()
		return nil, err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	stopPprof, err := servePprof(pprofAddr)
	if err != nil {
		fmt.Fprintln(stderr, "folio-bench: pprof:", err)
	}
	return &localServer{url: "http://" + ln.Addr().String(), close: func(ctx context.Context) error {
		// The order of cmd/folio: stop accepting, close the hub (its sessions
		// are waited for), then close the store.
		stopPprof()
		err := srv.Shutdown(ctx)
		<-served
		err = errors.Join(err, hub.Close(ctx), db.Close())
		cleanup()
		return err
	}}, nil
}

// servePprof serves net/http/pprof on a loopback address when addr is set.
func servePprof(addr string) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return func() {}, err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return func() {}, fmt.Errorf("%s: pprof listens on loopback only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return func() {}, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	return func() { srv.Close(); <-done }, nil
}

// childServeArg makes folio-bench run only the server, in a child process, so
// that its CPU and RSS are measured apart from the generator's.
const childServeArg = "__serve"

// startChild re-executes this binary as a server and waits for its address.
func startChild(ctx context.Context, cfg Config, stderr io.Writer) (*target, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, childServeArg, "-data", cfg.DataDir, "-pprof", cfg.Pprof, fmt.Sprintf("-nosync=%v", cfg.NoSync), fmt.Sprintf("-send-queue=%d", cfg.SendQueue), fmt.Sprintf("-commit-delay=%v", cfg.CommitDelay))
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe() // Closing it (or our death) stops the child.
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := readListenLine(ctx, out)
	if err != nil {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("child server: %w", err)
	}
	go io.Copy(io.Discard, out)
	pid := cmd.Process.Pid
	return newTarget(target{
		baseURL: line, pid: pid, measured: true,
		desc: fmt.Sprintf("child process pid %d on %s, %s; CPU and RSS are the server's alone", pid, line, durability(cfg.NoSync)),
		stop: func(ctx context.Context) error {
			stdin.Close()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				return err
			case <-ctx.Done():
				cmd.Process.Kill()
				return errors.Join(ctx.Err(), <-done)
			}
		},
	}), nil
}

func readListenLine(ctx context.Context, r io.Reader) (string, error) {
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case line := <-got:
		url, ok := strings.CutPrefix(line, "LISTEN ")
		if !ok {
			return "", fmt.Errorf("unexpected first line %q", line)
		}
		return url, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// serveChild is the child's main: serve until stdin closes or a signal.
func serveChild(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("folio-bench "+childServeArg, stderr)
	dataDir := fs.String("data", "", "data directory")
	pprofAddr := fs.String("pprof", "", "pprof address")
	noSync := fs.Bool("nosync", false, "skip fsync")
	sendQueue := fs.Int("send-queue", 0, "collab SendQueue")
	commitDelay := fs.Duration("commit-delay", storage.DefaultCommitDelay, "storage commit delay (0: never)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	raiseFileLimit(65536)
	s, err := startLocal(localOptions{*dataDir, *pprofAddr, *noSync, *sendQueue, *commitDelay}, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "folio-bench server:", err)
		return 1
	}
	fmt.Fprintf(stdout, "LISTEN %s\n", s.url)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.close(sctx); err != nil {
		fmt.Fprintln(stderr, "folio-bench server: close:", err)
		return 1
	}
	return 0
}

// benchHubOptions are collab's defaults except the per-connection abuse
// limits that a load test must lift: ops and messages per second per
// connection (30 ops/s and 200 messages/s would cap --find-max) and sessions
// per document (default 250, below the 2,000-editor scenario). A --url
// server must be configured alike.
func benchHubOptions(logger zerolog.Logger) collab.Options {
	return collab.Options{
		Logger:         logger,
		OpsPerSecond:   10_000,
		OpBurst:        10_000,
		MessagesPerSec: 20_000,
		MaxConnsPerDoc: maxConnections,
	}
}

// commitDelay maps the --commit-delay of folio serve (0: never) to
// storage.Options.CommitDelay (0: the default, negative: never).
func commitDelay(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func durability(noSync bool) string {
	if noSync {
		return "NOT DURABLE (--nosync: fsync off, diagnosis only)"
	}
	return "durable storage (fsync on)"
}

// header is the WebSocket handshake's extra header: the token, if any.
func (t *target) header() http.Header {
	if t.token == "" {
		return nil
	}
	return http.Header{"Authorization": {"Bearer " + t.token}}
}

// do sends req with the target's token.
func (t *target) do(req *http.Request) (*http.Response, error) {
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	return t.http.Do(req)
}
