package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/storage"
	"github.com/foliodocs/folio/web"
)

// Config is every setting of `folio serve`. Precedence: the defaults below,
// then FOLIO_* environment variables, then flags. Validate runs once.
type Config struct {
	Addr            string
	Data            string
	LogLevel        string
	LogFormat       string // auto (console on a terminal, else JSON), json, console
	AllowedOrigins  []string
	EmbedOrigins    []string
	CORSOrigins     []string // Browser apps that may use the API across origins (web.Options.CORSOrigins).
	AllowedHosts    []string // Host names served beyond IP literals and localhost, against DNS rebinding (allowedHosts).
	MaxBodyBytes    int64
	MaxTextBytes    int64
	MaxMessageBytes int64
	MaxDocLen       int
	MaxConnsPerDoc  int
	// MaxStreamsPerDoc bounds one document's SSE streams and waiting
	// long-polls (collab.Options.MaxSubscribersPerDoc).
	MaxStreamsPerDoc int
	// MaxConns bounds the connections held at once: WebSocket sessions,
	// SSE streams, waiting long-polls (web.Options.MaxConns).
	MaxConns     int
	OpsPerSecond float64
	OpBurst      int
	IdleUnload   time.Duration
	OpWindow     int // Recent ops each open document keeps in memory (collab.Options.OpWindow).
	// SendQueueBytes bounds what waits for one peer before it is cut as a
	// slow consumer (collab.Options.SendQueueBytes); 0: collab's default
	// for MaxDocLen (sendQueueBytes says which).
	SendQueueBytes int
	// CatchUpBytes is the least byte budget of a catch-up, past which a
	// resuming client gets the text instead of the ops it missed
	// (collab.Options.CatchUpBytes).
	CatchUpBytes int
	// PageBytes bounds by bytes a page of GET ops and each read of a JSON
	// export's history (web.Options.PageBytes).
	PageBytes    int
	SSEHeartbeat time.Duration
	// MaxWait is the longest long-poll wait of GET ops (web.Options.MaxWait):
	// below a proxy's read timeout, or the proxy cuts waits that end quietly.
	MaxWait         time.Duration
	ShutdownTimeout time.Duration
	// DrainDelay is how long a shutdown keeps listening after /readyz turns
	// 503, so that a load balancer sees it and stops sending traffic before
	// the port closes (part of ShutdownTimeout).
	DrainDelay        time.Duration
	ReadHeaderTimeout time.Duration
	// CommitDelay is how long a busy storage committer waits to gather more
	// writes into one transaction (storage.Options.CommitDelay); 0: never.
	CommitDelay time.Duration
	// Check runs the full database check (as `folio check`) before serving
	// and refuses to start on a failure (storage.Options.Verify).
	Check bool

	// Access control (secret.go): with a secret, every request for a
	// document needs a token signed with it. Never logged.
	Secret     string
	SecretFile string

	// Per-client-address rate limits; a zero rate turns one off.
	UpgradeRate  float64
	UpgradeBurst int
	WriteRate    float64
	WriteBurst   int
	ExportRate   float64
	ExportBurst  int
	// TrustedProxies are CIDRs or addresses of reverse proxies whose
	// X-Forwarded-For names the client for the rate limits.
	TrustedProxies []string

	// PprofAddr, when set, serves net/http/pprof on this loopback address
	// (pprof.go) for operators profiling a live server; empty: off.
	PprofAddr string

	// BasePath is the path prefix a reverse proxy serves Folio under and
	// strips (web.Options.BasePath): only the URLs the API answers with
	// need it, the pages work under any prefix without it.
	BasePath string
}

// maxCommitDelay bounds --commit-delay: every busy write waits up to it.
const maxCommitDelay = 50 * time.Millisecond

// maxBoundBytes bounds --send-queue-bytes, --catch-up-bytes and
// --page-bytes: each is memory that one peer, resuming client or request may
// hold, and a bound past 1 GiB is no bound a server can afford.
const maxBoundBytes = 1 << 30

// minSendQueueBytes is the least --send-queue-bytes but 0 (the default):
// the smallest --max-message. Below it a few large ops cut every peer that
// does not read them at once, and each comes back for the whole text.
const minSendQueueBytes = collab.MinMessageBytes

// storageOptions is the storage configuration of `folio serve`.
func (c Config) storageOptions() storage.Options {
	d := c.CommitDelay
	if d == 0 {
		d = -1 // storage: negative disables the wait, zero means the default.
	}
	return storage.Options{CommitDelay: d, Verify: c.Check}
}

// collabOptions is the hub's share of the configuration; the caller adds
// the logger and metrics.
func (c Config) collabOptions() collab.Options {
	return collab.Options{
		IdleUnload:      c.IdleUnload,
		OpWindow:        c.OpWindow,
		MaxMessageBytes: c.MaxMessageBytes,
		MaxDocLen:       c.MaxDocLen,
		OpsPerSecond:    c.OpsPerSecond,
		OpBurst:         c.OpBurst,
		MaxConnsPerDoc:  c.MaxConnsPerDoc,
		SendQueueBytes:  c.SendQueueBytes, // 0: collab's default, as sendQueueBytes says.
		CatchUpBytes:    c.CatchUpBytes,

		MaxSubscribersPerDoc: c.MaxStreamsPerDoc,
	}
}

// sendQueueBytes is the SendQueueBytes the hub applies: the setting, or
// collab's default for MaxDocLen when it is 0.
func (c Config) sendQueueBytes() int {
	if c.SendQueueBytes == 0 {
		return collab.DefaultSendQueueBytes(c.MaxDocLen)
	}
	return c.SendQueueBytes
}

// DBFile is the database file inside the data directory.
const DBFile = "folio.db"

func defaultConfig() Config {
	return Config{
		Addr:              ":8080",
		Data:              "./data",
		LogLevel:          "info",
		LogFormat:         "auto",
		MaxBodyBytes:      1 << 20,
		MaxTextBytes:      16 << 20,
		MaxMessageBytes:   2 << 20,
		MaxDocLen:         2_000_000,
		MaxConnsPerDoc:    250,
		MaxStreamsPerDoc:  collab.DefaultMaxSubscribersPerDoc,
		MaxConns:          web.DefaultMaxConns,
		OpsPerSecond:      30,
		OpBurst:           60,
		IdleUnload:        time.Minute,
		OpWindow:          1000,
		CatchUpBytes:      collab.DefaultCatchUpBytes,
		PageBytes:         web.DefaultPageBytes,
		SSEHeartbeat:      15 * time.Second,
		MaxWait:           web.DefaultMaxWait,
		ShutdownTimeout:   15 * time.Second,
		ReadHeaderTimeout: 10 * time.Second,
		CommitDelay:       storage.DefaultCommitDelay,
		// Generous buckets: an office behind one NAT shares an address and
		// reconnects at once after a restart.
		UpgradeRate:  5,
		UpgradeBurst: 100,
		WriteRate:    20,
		WriteBurst:   200,
		ExportRate:   2,
		ExportBurst:  30,
	}
}

// listValue is a comma-separated flag.
type listValue struct{ p *[]string }

func (l listValue) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l listValue) Set(s string) error {
	*l.p = nil
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l.p = append(*l.p, v)
		}
	}
	return nil
}

// envName is a flag's environment twin: --max-body → FOLIO_MAX_BODY.
func envName(flagName string) string {
	return "FOLIO_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// bindServe declares each setting as a flag on fs. Every flag has an
// environment twin named by envName.
func (c *Config) bindServe(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (host:port)")
	fs.StringVar(&c.Data, "data", c.Data, "data directory; the database is "+DBFile+" inside it")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: auto (console on a terminal, JSON otherwise), json, console")
	fs.Var(listValue{&c.AllowedOrigins}, "allowed-origins", "extra origins allowed to open editor WebSockets, comma-separated host patterns (\"app.example.com\", \"*.example.com\"; a host in Unicode in its ASCII form, xn--…); same-origin is always allowed")
	fs.Var(listValue{&c.EmbedOrigins}, "embed-origins", "origins allowed to frame /embed/ pages, comma-separated (\"https://app.example.com\"; a host in Unicode in its ASCII form, xn--…); empty means any")
	fs.Var(listValue{&c.CORSOrigins}, "cors-origins", "origins whose browser apps may call the API (/api and under it: REST, SSE, exports) from their pages, comma-separated, each exactly as browsers send it (\"https://app.example.com\", \"http://localhost:3000\"; a host in Unicode is taken in its ASCII form: \"https://bücher.example\" is \"https://xn--bcher-kva.example\"); separate from --allowed-origins. Empty: none (same-origin pages need nothing)")
	fs.Var(listValue{&c.AllowedHosts}, "allowed-hosts", "host names requests may address, beyond IP literals, localhost and the host of --addr, comma-separated (\"docs.example.com\", \"*.example.com\"; ports are ignored; a host in Unicode in its ASCII form, xn--…), or * for any; others get 403 host_not_allowed (DNS rebinding). Empty: any when a secret is set. Behind a reverse proxy that passes the public Host, list that name")
	fs.StringVar(&c.BasePath, "base-path", c.BasePath, "path prefix under which a reverse proxy serves Folio and strips before forwarding (e.g. /folio); put before the paths the API answers with (url, embedUrl, Location). The pages work under any prefix without it, and name their URLs under it when it is set. Empty: none")
	fs.Int64Var(&c.MaxBodyBytes, "max-body", c.MaxBodyBytes, "largest JSON request body in bytes (413 above)")
	fs.Int64Var(&c.MaxTextBytes, "max-text", c.MaxTextBytes, "largest PUT text body in bytes (413 above)")
	fs.Int64Var(&c.MaxMessageBytes, "max-message", c.MaxMessageBytes, "largest WebSocket message in bytes (at least 1048576, 1 MiB)")
	fs.IntVar(&c.MaxDocLen, "max-doc-len", c.MaxDocLen, "largest document in code points")
	fs.IntVar(&c.MaxConnsPerDoc, "max-conns-per-doc", c.MaxConnsPerDoc, "most editor connections on one document")
	fs.IntVar(&c.MaxStreamsPerDoc, "max-streams-per-doc", c.MaxStreamsPerDoc, "most SSE streams and waiting long-polls on one document (viewers; editors count in --max-conns-per-doc); more get 503 too_many_connections")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "most connections held at once: WebSocket sessions, SSE streams and waiting long-polls; more get 503 too_many_connections. Each needs a file descriptor: keep it under the process's open-file limit (ulimit -n)")
	fs.Float64Var(&c.OpsPerSecond, "ops-per-second", c.OpsPerSecond, "sustained ops per second per connection")
	fs.IntVar(&c.OpBurst, "op-burst", c.OpBurst, "op burst per connection")
	fs.DurationVar(&c.IdleUnload, "idle-unload", c.IdleUnload, "unload a document from memory after this long without clients")
	fs.IntVar(&c.OpWindow, "op-window", c.OpWindow, "recent ops each open document keeps in memory (about 210 bytes each) for clients that are behind; older ones are read from storage")
	fs.IntVar(&c.SendQueueBytes, "send-queue-bytes", c.SendQueueBytes, "bytes that may wait for one peer (an editor's messages queued or being written; an SSE stream's or long-poll's events, with the snapshot it started with) before it is cut as a slow consumer (close 4002, or slow_consumer: the client resumes); from 1048576 (1 MiB) to 1073741824 (1 GiB), or 0 for the default: 32 MiB, or 12 bytes per code point of --max-doc-len when more")
	fs.IntVar(&c.CatchUpBytes, "catch-up-bytes", c.CatchUpBytes, "least byte budget of a catch-up: a client resuming at a version (an editor reconnecting, an SSE stream's Last-Event-ID) whose missed ops weigh more than this and than 4 bytes per code point of the text gets the text instead of the ops; up to 1073741824 (1 GiB)")
	fs.IntVar(&c.PageBytes, "page-bytes", c.PageBytes, "bytes of ops in one page of GET /api/v1/docs/{id}/ops (the page ends before the op that would pass it, holding one op at least) and in each read of a JSON export's history; up to 1073741824 (1 GiB)")
	fs.DurationVar(&c.SSEHeartbeat, "sse-heartbeat", c.SSEHeartbeat, "interval of SSE heartbeat comments")
	fs.DurationVar(&c.MaxWait, "max-wait", c.MaxWait, "longest long-poll wait of GET ops (?wait=, whole seconds); keep it below the read timeout of any proxy in front")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long a graceful shutdown (on SIGINT or SIGTERM) may take; a second signal ends the process at once")
	fs.DurationVar(&c.DrainDelay, "drain-delay", c.DrainDelay, "how long a shutdown keeps the port open with /readyz at 503 before closing it, for a load balancer to notice (part of --shutdown-timeout; 0: none)")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", c.ReadHeaderTimeout, "how long a client may take to send request headers")
	fs.DurationVar(&c.CommitDelay, "commit-delay", c.CommitDelay, "how long a busy storage committer waits to put more writes in one fsync'd commit (0: never; at most 50ms); only when writes from other documents arrive fast enough to expect two more within it, so a lone writer never waits")
	fs.BoolVar(&c.Check, "check", c.Check, "check the whole database (as folio check: structure, every snapshot and length replayed from the op log) before serving, and refuse to start if it fails; start-up then takes about as long as folio check")
	bindSecret(fs, c)
	fs.Float64Var(&c.UpgradeRate, "upgrade-rate", c.UpgradeRate, "WebSocket upgrades and SSE streams opened per second per client address (0: no limit)")
	fs.IntVar(&c.UpgradeBurst, "upgrade-burst", c.UpgradeBurst, "WebSocket upgrade and SSE stream burst per client address")
	fs.Float64Var(&c.WriteRate, "write-rate", c.WriteRate, "REST writes per second per client address (0: no limit)")
	fs.IntVar(&c.WriteBurst, "write-burst", c.WriteBurst, "REST write burst per client address")
	fs.Float64Var(&c.ExportRate, "export-rate", c.ExportRate, "exports and backups per second per client address (0: no limit)")
	fs.IntVar(&c.ExportBurst, "export-burst", c.ExportBurst, "export and backup burst per client address")
	fs.StringVar(&c.PprofAddr, "pprof-addr", c.PprofAddr, "serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060); empty: off")
	fs.Var(listValue{&c.TrustedProxies}, "trusted-proxies", "reverse proxies (CIDRs or addresses, comma-separated) whose X-Forwarded-For names the client for rate limits; empty: the peer address is the client")
}

// parseServe builds the configuration of `folio serve` from args and the
// environment (getenv), in the order defaults < environment < flags.
func parseServe(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("folio serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.bindServe(fs)
	fs.Usage = func() { usageFor(fs, "folio [serve] [flags]", "Run the Folio service.", nil) }
	if err := fs.Parse(args); err != nil {
		return cfg, flagError(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "folio serve: unexpected arguments %q\n", fs.Args())
		return cfg, errUsage
	}
	if err := applyEnv(fs, getenv); err != nil {
		return cfg, fmt.Errorf("environment: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("invalid configuration: %w", err)
	}
	for i, o := range cfg.CORSOrigins {
		// As browsers send it, the form the configuration line shows and
		// web compares Origin headers with: a Unicode host in ASCII.
		cfg.CORSOrigins[i], _ = web.CORSOrigin(o) // Validate accepted o.
	}
	return cfg, nil
}

// applyEnv sets every flag that was not given on the command line from its
// FOLIO_* environment twin. --secret and --secret-file are one setting: when
// either is given, neither twin is read.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if set[f.Name] || v == "" || secretFlag(f.Name) && secretOnCommandLine(set) {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %v", envName(f.Name), v, err))
		}
	})
	return errors.Join(errs...)
}

// usageFor prints a synopsis and every flag, with its environment twin when
// twin says it has one (nil: all do).
func usageFor(fs *flag.FlagSet, synopsis, what string, twin func(name string) bool) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\nFlags (precedence: default < environment twin < flag):\n", synopsis, what)
	fs.VisitAll(func(f *flag.Flag) {
		if twin == nil || twin(f.Name) {
			fmt.Fprintf(w, "  --%s  (env %s, default %q)\n      %s\n", f.Name, envName(f.Name), f.DefValue, f.Usage)
		} else {
			fmt.Fprintf(w, "  --%s  (no environment twin, default %q)\n      %s\n", f.Name, f.DefValue, f.Usage)
		}
	})
}

// Validate checks the whole configuration once and reports every problem.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Addr == "" {
		bad("--addr must not be empty")
	}
	if c.Data == "" {
		bad("--data must not be empty")
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil || c.LogLevel == "" {
		bad("--log-level %q: use debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "auto", "json", "console":
	default:
		bad("--log-format %q: use auto, json or console", c.LogFormat)
	}
	for _, o := range append(append([]string{}, c.AllowedOrigins...), c.EmbedOrigins...) {
		if _, err := path.Match(o, ""); err != nil || strings.ContainsAny(o, " \"';") {
			bad("origin pattern %q is malformed", o)
		}
	}
	for _, list := range []struct {
		flag    string
		entries []string
	}{{"--allowed-origins", c.AllowedOrigins}, {"--embed-origins", c.EmbedOrigins}, {"--allowed-hosts", c.AllowedHosts}} {
		for _, o := range list.entries {
			if a, ok := asciiSpelling(o); !ok {
				bad("%s %q: browsers send a host in Unicode in its ASCII form, which never equals it; write %s", list.flag, o, a)
			}
		}
	}
	for _, o := range c.EmbedOrigins {
		// The embed posts its events to these origins: a browser takes no
		// postMessage target without a scheme (framing would work, events not).
		if o != "*" && !strings.Contains(o, "://") {
			bad("--embed-origins %q needs its scheme, e.g. https://%s", o, o)
		} else if o != "*" && !embedOrigin(o) {
			bad("--embed-origins %q is not an origin: scheme://host[:port] (host may start with *.), no path, query or user", o)
		}
	}
	for _, o := range c.CORSOrigins {
		if err := web.CheckCORSOrigin(o); err != nil {
			bad("--cors-origins %q %v", o, err)
		}
	}
	for _, h := range c.AllowedHosts {
		if err := checkAllowedHost(h); err != nil {
			bad("--allowed-hosts %q %v", h, err)
		}
	}
	if err := web.CheckBasePath(c.BasePath); err != nil {
		bad("--base-path %q %v", c.BasePath, err)
	}
	if c.MaxWait < time.Second || c.MaxWait%time.Second != 0 {
		bad("--max-wait must be whole seconds, at least 1s (clients ask for ?wait= in seconds)")
	}
	positive := map[string]float64{
		"--max-body": float64(c.MaxBodyBytes), "--max-text": float64(c.MaxTextBytes),
		"--max-message": float64(c.MaxMessageBytes), "--max-doc-len": float64(c.MaxDocLen),
		"--max-conns-per-doc": float64(c.MaxConnsPerDoc), "--ops-per-second": c.OpsPerSecond,
		"--max-streams-per-doc": float64(c.MaxStreamsPerDoc), "--max-conns": float64(c.MaxConns),
		"--op-burst": float64(c.OpBurst), "--idle-unload": float64(c.IdleUnload), "--op-window": float64(c.OpWindow),
		"--catch-up-bytes": float64(c.CatchUpBytes), "--page-bytes": float64(c.PageBytes),
		"--sse-heartbeat": float64(c.SSEHeartbeat), "--shutdown-timeout": float64(c.ShutdownTimeout),
		"--read-header-timeout": float64(c.ReadHeaderTimeout),
	}
	for name, v := range positive {
		if !(v > 0) {
			bad("%s must be positive", name)
		}
	}
	for _, l := range []struct {
		name  string
		rate  float64
		burst int
	}{{"upgrade", c.UpgradeRate, c.UpgradeBurst}, {"write", c.WriteRate, c.WriteBurst}, {"export", c.ExportRate, c.ExportBurst}} {
		if !(l.rate >= 0) || l.rate > 0 && l.burst < 1 {
			bad("--%s-rate must be 0 (off) or positive, with --%s-burst at least 1", l.name, l.name)
		}
	}
	if c.MaxMessageBytes > 0 && c.MaxMessageBytes < collab.MinMessageBytes {
		// collab would raise it silently, and the configuration line would
		// log a limit the server does not apply.
		bad("--max-message must be at least %d (1 MiB)", collab.MinMessageBytes)
	}
	if c.SendQueueBytes != 0 && (c.SendQueueBytes < minSendQueueBytes || c.SendQueueBytes > maxBoundBytes) {
		bad("--send-queue-bytes must be 0 (the default) or from %d (1 MiB) to %d (1 GiB)", minSendQueueBytes, maxBoundBytes)
	}
	for _, b := range []struct {
		name string
		v    int
	}{{"--catch-up-bytes", c.CatchUpBytes}, {"--page-bytes", c.PageBytes}} {
		if b.v > maxBoundBytes {
			bad("%s must be at most %d (1 GiB)", b.name, maxBoundBytes)
		}
	}
	if c.DrainDelay < 0 || c.DrainDelay >= c.ShutdownTimeout {
		bad("--drain-delay must be at least 0 and shorter than --shutdown-timeout")
	}
	if c.CommitDelay < 0 || c.CommitDelay > maxCommitDelay {
		bad("--commit-delay must be between 0 and %v", maxCommitDelay)
	}
	if _, err := c.trustedProxies(); err != nil {
		bad("--trusted-proxies: %v", err)
	}
	if c.PprofAddr != "" && !loopbackAddr(c.PprofAddr) {
		bad("--pprof-addr %q must be a loopback host:port (127.0.0.1, ::1 or localhost): profiles expose internals", c.PprofAddr)
	}
	if c.Secret != "" && c.SecretFile != "" {
		bad("--secret and --secret-file are exclusive")
	}
	if c.Secret != "" && len(c.Secret) < web.MinSecretBytes {
		bad("--secret must be at least %d bytes (random); it is %d", web.MinSecretBytes, len(c.Secret))
	}
	return errors.Join(errs...)
}

// logTo writes the effective configuration as one log line; the secret is
// logged as "[redacted]" when set, durations as their flags take them ("3ms"),
// allowed_hosts as served (servedHosts), not as listed.
func (c Config) logTo(log zerolog.Logger) {
	log.Info().
		Str("addr", c.Addr).Str("data", c.Data).
		Str("log_level", c.LogLevel).Str("log_format", c.LogFormat).
		Strs("allowed_origins", c.AllowedOrigins).Strs("embed_origins", c.EmbedOrigins).
		Strs("cors_origins", c.CORSOrigins).
		Strs("allowed_hosts", c.servedHosts()).Str("base_path", c.BasePath).
		Int64("max_body", c.MaxBodyBytes).Int64("max_text", c.MaxTextBytes).
		Int64("max_message", c.MaxMessageBytes).Int("max_doc_len", c.MaxDocLen).
		Int("max_conns_per_doc", c.MaxConnsPerDoc).Int("max_streams_per_doc", c.MaxStreamsPerDoc).Int("max_conns", c.MaxConns).
		Float64("ops_per_second", c.OpsPerSecond).Int("op_burst", c.OpBurst).
		Stringer("idle_unload", c.IdleUnload).Int("op_window", c.OpWindow).
		Int("send_queue_bytes", c.sendQueueBytes()).Int("catch_up_bytes", c.CatchUpBytes).Int("page_bytes", c.PageBytes).
		Stringer("sse_heartbeat", c.SSEHeartbeat).Stringer("max_wait", c.MaxWait).
		Stringer("shutdown_timeout", c.ShutdownTimeout).Stringer("drain_delay", c.DrainDelay).
		Stringer("read_header_timeout", c.ReadHeaderTimeout).
		Stringer("commit_delay", c.CommitDelay).Bool("check", c.Check).
		Str("secret", redact(c.Secret)).Str("secret_file", c.SecretFile).
		Float64("upgrade_rate", c.UpgradeRate).Int("upgrade_burst", c.UpgradeBurst).
		Float64("write_rate", c.WriteRate).Int("write_burst", c.WriteBurst).
		Float64("export_rate", c.ExportRate).Int("export_burst", c.ExportBurst).
		Strs("trusted_proxies", c.TrustedProxies).Str("pprof_addr", c.PprofAddr).
		Msg("configuration")
}

// embedOrigin reports whether o is an origin a browser can match both as a
// CSP frame-ancestors source and as a postMessage target: scheme://host[:port]
// and nothing else (a trailing "/" aside). A host without a name frames
// nothing; a path makes frame-ancestors refuse the parent that postMessage
// still reaches.
func embedOrigin(o string) bool {
	u, err := url.Parse(strings.TrimSuffix(o, ":*")) // CSP's any-port wildcard.
	if err != nil || u.Scheme == "" || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return false
	}
	host := strings.TrimPrefix(u.Hostname(), "*.")
	return host != "" && !strings.Contains(host, "*") && (u.Path == "" || u.Path == "/")
}

// trustedProxies parses TrustedProxies: CIDRs, or bare addresses (one host).
func (c Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range c.TrustedProxies {
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an address", v)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// checkAllowedHost checks one --allowed-hosts entry: "*", a host name or IP
// address alone, or "*." and a name of at least two labels (a wildcard over a
// whole top-level domain would let anyone who registers a name under it
// rebind that name to this server).
// asciiSpelling reports whether the origin or host pattern o is written
// in ASCII, and when it is not, the spelling browsers would match (or a
// note that its host is not one they accept): Origin and Host headers carry
// a Unicode host in its ASCII form (web.ASCIIHost), so a pattern written
// in Unicode would match nothing (and in a CSP header, being non-ASCII,
// would be invalid).
func asciiSpelling(o string) (string, bool) {
	if !strings.ContainsFunc(o, func(r rune) bool { return r >= utf8.RuneSelf }) {
		return "", true
	}
	scheme, rest, found := strings.Cut(o, "://")
	if !found {
		scheme, rest = "", o
	}
	host, port := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port = rest[:i], rest[i:]
	}
	a, err := web.ASCIIHost(host)
	if err != nil {
		return "an ASCII host name", false
	}
	if found {
		a = scheme + "://" + a
	}
	return a + port, false
}

func checkAllowedHost(h string) error {
	if h == "*" {
		return nil
	}
	if _, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err == nil {
		return nil
	}
	name, wild := strings.CutPrefix(strings.TrimSuffix(h, "."), "*.")
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || strings.Trim(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			return errors.New("is not a host name: give the name alone (docs.example.com), *.example.com for the names under it, or *; no scheme, port or path (ports are ignored)")
		}
	}
	if wild && len(labels) < 2 {
		return errors.New("covers a whole top-level domain, where anyone can register a name; list the names, or *.example.com")
	}
	return nil
}

// allowedHosts is web.Options.AllowedHosts: --allowed-hosts, plus the host
// name of --addr when it names one (a server told to listen on
// folio.lan:8080 answers to folio.lan; IP literals are answered anyway).
// With a secret and no list it stays empty, which web takes as any host.
func (c Config) allowedHosts() []string {
	if len(c.AllowedHosts) == 0 && c.hasSecret() {
		return nil
	}
	hosts := slices.Clone(c.AllowedHosts)
	if h, _, err := net.SplitHostPort(c.Addr); err == nil && h != "" {
		if _, err := netip.ParseAddr(h); err != nil {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// servedHosts are the host names the server answers beyond IP literals,
// localhost and *.localhost, for the configuration line: allowedHosts as web
// applies it (web.Options.AllowedHosts), so "*" alone when any host is,
// whether listed or from a secret and no list.
func (c Config) servedHosts() []string {
	hosts := c.allowedHosts()
	if len(hosts) == 0 && c.hasSecret() || slices.Contains(hosts, "*") {
		return []string{"*"}
	}
	return hosts
}

// hasSecret reports whether tokens are required (tokenAuth is not nil).
func (c Config) hasSecret() bool { return c.Secret != "" || c.SecretFile != "" }
