package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/storage"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigPrecedence(t *testing.T) {
	var stderr bytes.Buffer
	cfg, err := parseServe(nil, envMap(nil), &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, defaultConfig()) {
		t.Errorf("defaults: got %+v", cfg)
	}
	if cfg.Addr != ":8080" || cfg.Data != "./data" {
		t.Errorf("README defaults changed: %s %s", cfg.Addr, cfg.Data)
	}

	env := envMap(map[string]string{
		"FOLIO_ADDR":            "127.0.0.1:9000",
		"FOLIO_DATA":            "/tmp/from-env",
		"FOLIO_SSE_HEARTBEAT":   "3s",
		"FOLIO_ALLOWED_ORIGINS": "a.example, *.b.example",
		"FOLIO_MAX_BODY":        "4096",
	})
	cfg, err = parseServe([]string{"--data", "/tmp/from-flag", "--max-body=8192"}, env, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9000" || cfg.SSEHeartbeat != 3*time.Second ||
		!reflect.DeepEqual(cfg.AllowedOrigins, []string{"a.example", "*.b.example"}) {
		t.Errorf("environment not applied: %+v", cfg)
	}
	if cfg.Data != "/tmp/from-flag" || cfg.MaxBodyBytes != 8192 {
		t.Errorf("flags must win over the environment: %+v", cfg)
	}
	if cfg.LogLevel != "info" {
		t.Errorf("untouched setting changed: %q", cfg.LogLevel)
	}
}

// TestCommitDelayReachesStorage: --commit-delay 0 turns the committer's wait
// off (storage's own zero would mean its default), the default is storage's.
func TestCommitDelayReachesStorage(t *testing.T) {
	var stderr bytes.Buffer
	for _, c := range []struct {
		args []string
		want time.Duration
	}{
		{nil, storage.DefaultCommitDelay},
		{[]string{"--commit-delay", "0"}, -1},
		{[]string{"--commit-delay", "3ms"}, 3 * time.Millisecond},
	} {
		cfg, err := parseServe(c.args, envMap(nil), &stderr)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.storageOptions().CommitDelay; got != c.want {
			t.Errorf("%v: storage CommitDelay %v, want %v", c.args, got, c.want)
		}
	}
}

// TestCheckReachesStorage: --check (or FOLIO_CHECK) makes storage check the
// database on open; off by default.
func TestCheckReachesStorage(t *testing.T) {
	var stderr bytes.Buffer
	for _, c := range []struct {
		args []string
		env  map[string]string
		want bool
	}{
		{nil, nil, false},
		{[]string{"--check"}, nil, true},
		{nil, map[string]string{"FOLIO_CHECK": "true"}, true},
		{[]string{"--check=false"}, map[string]string{"FOLIO_CHECK": "true"}, false},
	} {
		cfg, err := parseServe(c.args, envMap(c.env), &stderr)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.storageOptions().Verify; got != c.want {
			t.Errorf("%v %v: storage Verify %v, want %v", c.args, c.env, got, c.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad env duration", nil, map[string]string{"FOLIO_SHUTDOWN_TIMEOUT": "soon"}, "FOLIO_SHUTDOWN_TIMEOUT"},
		{"bad level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"bad format", []string{"--log-format", "xml"}, nil, "--log-format"},
		{"zero limit", []string{"--max-body", "0"}, nil, "--max-body"},
		{"negative timeout", []string{"--shutdown-timeout", "-1s"}, nil, "--shutdown-timeout"},
		{"bad origin", []string{"--embed-origins", "https://a.example'"}, nil, "origin pattern"},
		{"embed origin without scheme", []string{"--embed-origins", "a.example"}, nil, "needs its scheme"},
		{"embed origin without host", []string{"--embed-origins", "https://"}, nil, "is not an origin"},
		{"embed origin with a path", nil, map[string]string{"FOLIO_EMBED_ORIGINS": "https://a.example/app"}, "is not an origin"},
		{"embed origin with a query", []string{"--embed-origins", "https://a.example?x=1"}, nil, "is not an origin"},
		{"embed origin with a wildcard inside", []string{"--embed-origins", "https://a*.example"}, nil, "is not an origin"},
		{"public pprof", []string{"--pprof-addr", ":6060"}, nil, "--pprof-addr"},
		{"pprof on another host", nil, map[string]string{"FOLIO_PPROF_ADDR": "10.0.0.1:6060"}, "--pprof-addr"},
		{"negative commit delay", []string{"--commit-delay", "-1ms"}, nil, "--commit-delay"},
		{"long commit delay", nil, map[string]string{"FOLIO_COMMIT_DELAY": "1s"}, "--commit-delay"},
		{"negative drain delay", []string{"--drain-delay", "-1s"}, nil, "--drain-delay"},
		{"drain delay past the shutdown timeout", []string{"--drain-delay", "20s", "--shutdown-timeout", "20s"}, nil, "--drain-delay"},
		{"allowed host with a scheme", []string{"--allowed-hosts", "https://docs.example.com"}, nil, "--allowed-hosts \"https://docs.example.com\" is not a host name"},
		{"allowed host with a port", nil, map[string]string{"FOLIO_ALLOWED_HOSTS": "docs.example.com:443"}, "ports are ignored"},
		{"allowed host with a path", []string{"--allowed-hosts", "a.example,docs.example.com/app"}, nil, "\"docs.example.com/app\" is not a host name"},
		{"allowed host with a space", []string{"--allowed-hosts", "docs example.com"}, nil, "is not a host name"},
		{"allowed host in Unicode", []string{"--allowed-hosts", "bücher.example"}, nil, "xn--"},
		{"allowed origin in Unicode", []string{"--allowed-origins", "*.bücher.example"}, nil, "xn--"},
		{"embed origin in Unicode", []string{"--embed-origins", "https://bücher.example"}, nil, "xn--"},
		{"allowed host wildcard inside", []string{"--allowed-hosts", "*x.example.com"}, nil, "is not a host name"},
		{"allowed host wildcard over a top-level domain", []string{"--allowed-hosts", "*.com"}, nil, "whole top-level domain"},
		{"CORS origin without scheme", []string{"--cors-origins", "app.example.com"}, nil, "--cors-origins \"app.example.com\" is not an origin"},
		{"CORS origin any", nil, map[string]string{"FOLIO_CORS_ORIGINS": "*"}, "--cors-origins \"*\" is not an origin"},
		{"CORS origin wildcard", []string{"--cors-origins", "https://*.example.com"}, nil, "is not an origin"},
		{"CORS origin with a path", []string{"--cors-origins", "https://app.example.com/app"}, nil, "is not an origin"},
		{"CORS origin spelled otherwise", []string{"--cors-origins", "https://App.example.com:443/"}, nil, "browsers send it: https://app.example.com"},
		{"CORS origin with a Unicode host spelled otherwise", []string{"--cors-origins", "https://bücher.example:443"}, nil, "browsers send it: https://xn--bcher-kva.example"},
		{"CORS origin with a Unicode host that is no host name", nil, map[string]string{"FOLIO_CORS_ORIGINS": "https://a\u200db.example"}, "is not a host name"},
		{"long-poll wait under a second", []string{"--max-wait", "500ms"}, nil, "--max-wait"},
		{"long-poll wait in part seconds", nil, map[string]string{"FOLIO_MAX_WAIT": "1500ms"}, "--max-wait"},
		{"message limit under 1 MiB", []string{"--max-message", "1000"}, nil, "--max-message must be at least"},
		{"message limit under 1 MiB from the environment", nil, map[string]string{"FOLIO_MAX_MESSAGE": "65536"}, "--max-message must be at least"},
		{"no streams per document", []string{"--max-streams-per-doc", "0"}, nil, "--max-streams-per-doc must be positive"},
		{"no connections", nil, map[string]string{"FOLIO_MAX_CONNS": "-1"}, "--max-conns must be positive"},
		{"relative base path", []string{"--base-path", "folio"}, nil, "--base-path"},
		{"base path with a query", nil, map[string]string{"FOLIO_BASE_PATH": "/folio?x=1"}, "--base-path"},
		{"base path with dot-dot", []string{"--base-path", "/a/../folio"}, nil, "--base-path"},
		{"base path with a space", []string{"--base-path", "/my folio"}, nil, "--base-path"},
		{"base path with an escape", []string{"--base-path", "/f%6Flio"}, nil, "--base-path"},
		{"base path as a URL", []string{"--base-path", "https://example.com/folio"}, nil, "--base-path"},
		{"base path naming a host", []string{"--base-path", "//"}, nil, "--base-path"},
		{"base path naming a host from the environment", nil, map[string]string{"FOLIO_BASE_PATH": "//evil.example"}, "--base-path"},
		{"base path of slashes", []string{"--base-path", "///"}, nil, "--base-path"},
		{"negative send queue", []string{"--send-queue-bytes", "-1"}, nil, "--send-queue-bytes must be 0 (the default) or from 1048576"},
		{"send queue under 1 MiB", nil, map[string]string{"FOLIO_SEND_QUEUE_BYTES": "65536"}, "--send-queue-bytes must be 0 (the default) or from 1048576"},
		{"send queue past 1 GiB", []string{"--send-queue-bytes", "2147483648"}, nil, "to 1073741824 (1 GiB)"},
		{"send queue not a number", nil, map[string]string{"FOLIO_SEND_QUEUE_BYTES": "32MiB"}, "FOLIO_SEND_QUEUE_BYTES"},
		{"no catch-up budget", []string{"--catch-up-bytes", "0"}, nil, "--catch-up-bytes must be positive"},
		{"negative catch-up budget", nil, map[string]string{"FOLIO_CATCH_UP_BYTES": "-8"}, "--catch-up-bytes must be positive"},
		{"catch-up budget past 1 GiB", []string{"--catch-up-bytes", "1073741825"}, nil, "--catch-up-bytes must be at most 1073741824 (1 GiB)"},
		{"empty pages", nil, map[string]string{"FOLIO_PAGE_BYTES": "0"}, "--page-bytes must be positive"},
		{"negative pages", []string{"--page-bytes", "-1"}, nil, "--page-bytes must be positive"},
		{"pages past 1 GiB", nil, map[string]string{"FOLIO_PAGE_BYTES": "4294967296"}, "--page-bytes must be at most 1073741824 (1 GiB)"},
		{"base path with a backslash", []string{"--base-path", `/\evil.example`}, nil, "--base-path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseServe(c.args, envMap(c.env), &stderr)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one naming %s", err, c.want)
			}
		})
	}
	var stderr bytes.Buffer
	for _, ok := range []string{"*", "https://app.example.com", "https://*.example.com", "http://localhost:3000/", "https://a.example:*", "https://[::1]:8443"} {
		if _, err := parseServe([]string{"--embed-origins", ok}, envMap(nil), &stderr); err != nil {
			t.Errorf("--embed-origins %q refused: %v", ok, err)
		}
	}
	for _, ok := range []string{"https://app.example.com", "http://localhost:3000,https://b.example:8443"} {
		if _, err := parseServe([]string{"--cors-origins", ok}, envMap(nil), &stderr); err != nil {
			t.Errorf("--cors-origins %q refused: %v", ok, err)
		}
	}
	for _, ok := range []string{"*", "docs.example.com", "Docs.Example.COM.", "*.example.com", "localhost", "folio_1.lan", "10.0.0.1", "[::1]", "::1"} {
		if _, err := parseServe([]string{"--allowed-hosts", ok}, envMap(nil), &stderr); err != nil {
			t.Errorf("--allowed-hosts %q refused: %v", ok, err)
		}
	}
	for _, ok := range []string{"", "/", "/folio", "/folio/", "/apps/folio_1"} {
		if _, err := parseServe([]string{"--base-path", ok}, envMap(nil), &stderr); err != nil {
			t.Errorf("--base-path %q refused: %v", ok, err)
		}
	}
	if _, err := parseServe([]string{"--nope"}, envMap(nil), &stderr); !errors.Is(err, errUsage) {
		t.Errorf("unknown flag: %v", err)
	}
	if _, err := parseServe([]string{"extra"}, envMap(nil), &stderr); !errors.Is(err, errUsage) {
		t.Errorf("stray argument: %v", err)
	}
}

func TestHelpDocumentsEverySetting(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, envMap(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	help := stderr.String()
	for _, want := range []string{"--addr", "FOLIO_ADDR", "--data", "FOLIO_DATA", "--embed-origins", "--allowed-origins",
		"--allowed-hosts", "FOLIO_ALLOWED_HOSTS",
		"--log-level", "--shutdown-timeout", "--max-body", "FOLIO_SSE_HEARTBEAT", `default ":8080"`,
		"--send-queue-bytes", "--catch-up-bytes", "FOLIO_CATCH_UP_BYTES", "--page-bytes", `default "8388608"`} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q:\n%s", want, help)
		}
	}
}

func TestDispatch(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"version"}, envMap(nil), &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "folio ") {
		t.Errorf("version: %d %q", code, stdout.String())
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"frobnicate"}, envMap(nil), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "unknown command") {
		t.Errorf("unknown command: %d %q", code, stderr.String())
	}
	if code := run(context.Background(), []string{"help"}, envMap(nil), &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "export") {
		t.Errorf("help: %d %q", code, stdout.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"export"}, envMap(nil), &stdout, &stderr); code != 2 {
		t.Errorf("export without id: %d", code)
	}
	if code := run(context.Background(), []string{"export", "../x", "--data", t.TempDir()}, envMap(nil), &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "invalid document id") {
		t.Errorf("export bad id: %d %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"check", "--data", t.TempDir()}, envMap(nil), &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "no Folio database") {
		t.Errorf("check on empty dir: %d %q", code, stderr.String())
	}
}

// TestOpWindowReachesHub: --op-window (or FOLIO_OP_WINDOW) sets how many
// recent ops each room keeps; it must be positive.
func TestOpWindowReachesHub(t *testing.T) {
	var stderr bytes.Buffer
	for _, c := range []struct {
		args []string
		env  map[string]string
		want int
	}{
		{nil, nil, 1000},
		{[]string{"--op-window", "200"}, nil, 200},
		{nil, map[string]string{"FOLIO_OP_WINDOW": "300"}, 300},
	} {
		cfg, err := parseServe(c.args, envMap(c.env), &stderr)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.collabOptions().OpWindow; got != c.want {
			t.Errorf("%v %v: OpWindow %d, want %d", c.args, c.env, got, c.want)
		}
	}
	if _, err := parseServe([]string{"--op-window", "0"}, envMap(nil), &stderr); err == nil {
		t.Error("--op-window 0 accepted")
	}
}

// TestAllowedHostsConfig: --allowed-hosts and FOLIO_ALLOWED_HOSTS in the
// usual precedence, and the list web gets: the host of --addr is added when
// it is a name, and without a list a secret leaves it empty (any host). The
// configuration line logs the hosts served, "*" for any, not the flag.
func TestAllowedHostsConfig(t *testing.T) {
	const secret = "FOLIO_SECRET"
	for _, c := range []struct {
		name     string
		args     []string
		env      map[string]string
		config   []string // Config.AllowedHosts
		webHosts []string // web.Options.AllowedHosts
		logged   []string // allowed_hosts in the configuration line
	}{
		{"default", nil, nil, nil, nil, []string{}},
		{"environment", nil, map[string]string{"FOLIO_ALLOWED_HOSTS": "docs.example.com, *.example.org"},
			[]string{"docs.example.com", "*.example.org"}, []string{"docs.example.com", "*.example.org"},
			[]string{"docs.example.com", "*.example.org"}},
		{"flag over environment", []string{"--allowed-hosts", "a.example"}, map[string]string{"FOLIO_ALLOWED_HOSTS": "b.example"},
			[]string{"a.example"}, []string{"a.example"}, []string{"a.example"}},
		{"any", []string{"--allowed-hosts", "*"}, nil, []string{"*"}, []string{"*"}, []string{"*"}},
		{"any among names", []string{"--allowed-hosts", "a.example,*"}, nil, []string{"a.example", "*"},
			[]string{"a.example", "*"}, []string{"*"}},
		{"listen name", []string{"--addr", "folio.lan:8080"}, nil, nil, []string{"folio.lan"}, []string{"folio.lan"}},
		{"listen name and list", []string{"--addr", "folio.lan:8080", "--allowed-hosts", "a.example"}, nil,
			[]string{"a.example"}, []string{"a.example", "folio.lan"}, []string{"a.example", "folio.lan"}},
		{"listen address", []string{"--addr", "192.168.1.20:8080"}, nil, nil, nil, []string{}},
		{"all interfaces", []string{"--addr", "[::]:8080"}, nil, nil, nil, []string{}},
		{"secret, no list", []string{"--addr", "folio.lan:8080"}, map[string]string{secret: cliSecret}, nil, nil, []string{"*"}},
		{"secret and list", []string{"--allowed-hosts", "a.example"}, map[string]string{secret: cliSecret},
			[]string{"a.example"}, []string{"a.example"}, []string{"a.example"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cfg, err := parseServe(c.args, envMap(c.env), &stderr)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.AllowedHosts, c.config) {
				t.Errorf("AllowedHosts %q, want %q", cfg.AllowedHosts, c.config)
			}
			if got := cfg.allowedHosts(); !slices.Equal(got, c.webHosts) {
				t.Errorf("web AllowedHosts %q, want %q", got, c.webHosts)
			}
			var logs bytes.Buffer
			cfg.logTo(zerolog.New(&logs))
			var line struct {
				AllowedHosts []string `json:"allowed_hosts"`
			}
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.AllowedHosts == nil ||
				!slices.Equal(line.AllowedHosts, c.logged) {
				t.Errorf("configuration line: allowed_hosts %q, want %q (%v)", line.AllowedHosts, c.logged, err)
			}
		})
	}
}

// TestConnLimitsConfig: --max-streams-per-doc and --max-conns (and their
// FOLIO_* twins) in the usual precedence, with their defaults, reach the hub
// and are in the configuration line.
func TestConnLimitsConfig(t *testing.T) {
	for _, c := range []struct {
		args           []string
		env            map[string]string
		streams, conns int
	}{
		{nil, nil, 5000, 20000},
		{nil, map[string]string{"FOLIO_MAX_STREAMS_PER_DOC": "300", "FOLIO_MAX_CONNS": "4000"}, 300, 4000},
		{[]string{"--max-streams-per-doc", "7", "--max-conns", "9"}, map[string]string{"FOLIO_MAX_CONNS": "4000"}, 7, 9},
	} {
		var stderr bytes.Buffer
		cfg, err := parseServe(c.args, envMap(c.env), &stderr)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.MaxStreamsPerDoc != c.streams || cfg.collabOptions().MaxSubscribersPerDoc != c.streams || cfg.MaxConns != c.conns {
			t.Errorf("%v %v: streams %d (hub %d), conns %d; want %d, %d", c.args, c.env,
				cfg.MaxStreamsPerDoc, cfg.collabOptions().MaxSubscribersPerDoc, cfg.MaxConns, c.streams, c.conns)
		}
		var logs bytes.Buffer
		cfg.logTo(zerolog.New(&logs))
		var line struct {
			Streams *int `json:"max_streams_per_doc"`
			Conns   *int `json:"max_conns"`
		}
		if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.Streams == nil || *line.Streams != c.streams ||
			line.Conns == nil || *line.Conns != c.conns {
			t.Errorf("configuration line %s", logs.String())
		}
	}
}

// TestCORSOriginsConfig: --cors-origins keeps an origin with a Unicode host
// in the ASCII form browsers send in Origin, which web compares as it is.
func TestCORSOriginsConfig(t *testing.T) {
	var stderr bytes.Buffer
	for _, c := range []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{[]string{"--cors-origins", "https://bücher.example,http://localhost:3000"}, nil,
			[]string{"https://xn--bcher-kva.example", "http://localhost:3000"}},
		{nil, map[string]string{"FOLIO_CORS_ORIGINS": "https://Bücher.example:8443"}, []string{"https://xn--bcher-kva.example:8443"}},
		{[]string{"--cors-origins", "https://xn--bcher-kva.example"}, nil, []string{"https://xn--bcher-kva.example"}},
	} {
		cfg, err := parseServe(c.args, envMap(c.env), &stderr)
		if err != nil || !slices.Equal(cfg.CORSOrigins, c.want) {
			t.Errorf("%v %v: CORSOrigins %q, %v; want %q", c.args, c.env, cfg.CORSOrigins, err, c.want)
		}
	}
}

// TestByteBoundsConfig: --send-queue-bytes, --catch-up-bytes and
// --page-bytes (and their FOLIO_* twins) in the usual precedence, with
// their defaults, reach the hub's options (the page bound reaches web in
// build: TestServePageBytes) and are in the configuration line, the send
// queue's as the hub applies it.
func TestByteBoundsConfig(t *testing.T) {
	for _, c := range []struct {
		name                string
		args                []string
		env                 map[string]string
		sendQueue, hubQueue int // Config.SendQueueBytes, collab.Options.SendQueueBytes
		logged              int // send_queue_bytes in the configuration line
		catchUp, page       int
	}{
		{"defaults", nil, nil, 0, 0, 32 << 20, 8 << 20, 8 << 20},
		{"default queue for a larger --max-doc-len", []string{"--max-doc-len", "5000000"}, nil, 0, 0, 60_000_000, 8 << 20, 8 << 20},
		{"environment", nil, map[string]string{"FOLIO_SEND_QUEUE_BYTES": "4194304", "FOLIO_CATCH_UP_BYTES": "65536", "FOLIO_PAGE_BYTES": "4096"},
			4 << 20, 4 << 20, 4 << 20, 64 << 10, 4 << 10},
		{"flags over environment", []string{"--send-queue-bytes", "2097152", "--catch-up-bytes", "1", "--page-bytes=1073741824"},
			map[string]string{"FOLIO_SEND_QUEUE_BYTES": "4194304", "FOLIO_CATCH_UP_BYTES": "65536", "FOLIO_PAGE_BYTES": "4096"},
			2 << 20, 2 << 20, 2 << 20, 1, 1 << 30},
		{"queue back to its default by flag", []string{"--send-queue-bytes", "0"}, map[string]string{"FOLIO_SEND_QUEUE_BYTES": "4194304"},
			0, 0, 32 << 20, 8 << 20, 8 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cfg, err := parseServe(c.args, envMap(c.env), &stderr)
			if err != nil {
				t.Fatal(err)
			}
			hub := cfg.collabOptions()
			if cfg.SendQueueBytes != c.sendQueue || hub.SendQueueBytes != c.hubQueue || cfg.CatchUpBytes != c.catchUp ||
				hub.CatchUpBytes != c.catchUp || cfg.PageBytes != c.page {
				t.Errorf("send queue %d (hub %d), catch-up %d (hub %d), page %d; want %d (%d), %d, %d",
					cfg.SendQueueBytes, hub.SendQueueBytes, cfg.CatchUpBytes, hub.CatchUpBytes, cfg.PageBytes,
					c.sendQueue, c.hubQueue, c.catchUp, c.page)
			}
			var logs bytes.Buffer
			cfg.logTo(zerolog.New(&logs))
			var line struct {
				SendQueue *int `json:"send_queue_bytes"`
				CatchUp   *int `json:"catch_up_bytes"`
				Page      *int `json:"page_bytes"`
			}
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.SendQueue == nil || *line.SendQueue != c.logged ||
				line.CatchUp == nil || *line.CatchUp != c.catchUp || line.Page == nil || *line.Page != c.page {
				t.Errorf("configuration line %s", logs.String())
			}
		})
	}
}
