package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"time"

	"github.com/foliodocs/folio/storage"
)

// Config is one run of folio-bench. Defaults come from defaultConfig, flags
// override them, and validate checks the result once.
type Config struct {
	URL       string // A running Folio; empty: start one (see Server).
	ServerPID int    // Pid of the server behind URL, for CPU and RSS.
	Token     string // Bearer token for a --url server that checks tokens.
	Server    string // "inproc" (default) or "child" when URL is empty.
	DataDir   string // For a started server; empty: a temporary directory.
	Pprof     string // Address of an opt-in pprof listener in the started server.
	NoSync    bool   // Diagnosis only: the started server skips fsync (not durable).
	SendQueue int    // The started server's collab SendQueue; 0: collab's default.
	// CommitDelay is the started server's storage CommitDelay, as folio
	// serve's --commit-delay: 0 never waits.
	CommitDelay time.Duration

	Docs          int
	EditorsPerDoc int
	Rate          float64 // Edits per second per editor.
	Presence      float64 // Cursor moves per second per editor.
	ViewersPerDoc int     // Read-only SSE viewers per document.
	Duration      time.Duration
	Warmup        time.Duration
	MaxDocLen     int // Code points a document is kept near.
	DialParallel  int
	Settle        time.Duration // Longest wait for convergence at the end.
	Seed          uint64
	// DeleteText makes the editors' deletes carry the text they delete
	// ({"d":"text"}), as the browser editor's do; false sends counts
	// ({"d":N}), as folio-bench did before, for comparing with older runs.
	DeleteText bool

	FindMax    bool
	Threshold  time.Duration // p99 ack that a --find-max step must stay under.
	StepFactor float64
	MaxSteps   int
	Refine     int // Bisection steps after the first failing step.
	// StallRetries is how many times a --find-max step that failed without
	// errors while the server's disk stalled is measured again.
	StallRetries int

	Replay     string // Trace name or path: replay mode.
	ReplayMode string // "lockstep" (one patch per op, wait for the ack) or "compose".

	JSON bool

	CPUProfile string // Profile this process over each measured window (see profile.go).
}

func defaultConfig() Config {
	return Config{
		Server: "inproc", Docs: 1, EditorsPerDoc: 2, Rate: 10, Presence: 1,
		Duration: 10 * time.Second, Warmup: 2 * time.Second, MaxDocLen: 2000,
		DialParallel: 64, Settle: 30 * time.Second, Seed: 1, DeleteText: true,
		Threshold: 50 * time.Millisecond, StepFactor: 1.5, MaxSteps: 12, Refine: 2, StallRetries: 2,
		ReplayMode: "lockstep", CommitDelay: storage.DefaultCommitDelay,
	}
}

func (c *Config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "url", c.URL, "base URL of a running Folio (http://host:port); empty starts one in-process")
	fs.StringVar(&c.Token, "token", c.Token, "token for a --url server started with a secret (sent in hello and as a Bearer header); needs create and edit rights")
	fs.IntVar(&c.ServerPID, "server-pid", c.ServerPID, "pid of the server behind --url, to sample its CPU and RSS from /proc")
	fs.StringVar(&c.Server, "server", c.Server, "without --url: inproc (server shares this process: CPU and RSS include the generator) or child (a separate process, measured alone)")
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory of the started server (default: a temporary directory, removed after)")
	fs.StringVar(&c.Pprof, "pprof", c.Pprof, "serve net/http/pprof of the started server on this loopback address, e.g. 127.0.0.1:6060")
	fs.BoolVar(&c.NoSync, "nosync", c.NoSync, "DIAGNOSIS ONLY: the started server skips fsync (not durable), to see what fsync costs")
	fs.DurationVar(&c.CommitDelay, "commit-delay", c.CommitDelay, "the started server's storage commit delay (as folio serve --commit-delay; 0: never waits)")
	fs.IntVar(&c.SendQueue, "send-queue", c.SendQueue, "messages queued per session in the started server (collab SendQueue; 0: collab's default), to see what the queue costs")
	fs.IntVar(&c.Docs, "docs", c.Docs, "number of documents")
	fs.IntVar(&c.EditorsPerDoc, "editors", c.EditorsPerDoc, "editors per document")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "edits per second per editor (0: idle editors)")
	fs.Float64Var(&c.Presence, "presence", c.Presence, "cursor moves per second per editor")
	fs.IntVar(&c.ViewersPerDoc, "viewers", c.ViewersPerDoc, "read-only SSE viewers per document")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "measured time (per step with --find-max)")
	fs.DurationVar(&c.Warmup, "warmup", c.Warmup, "typing time before measuring, not counted")
	fs.IntVar(&c.MaxDocLen, "max-doc-len", c.MaxDocLen, "editors delete more once a document is longer than this (code points)")
	fs.IntVar(&c.DialParallel, "dial-parallel", c.DialParallel, "connections opened at the same time")
	fs.DurationVar(&c.Settle, "settle", c.Settle, "longest wait for every editor to converge at the end")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "random seed of the simulated typing")
	fs.BoolVar(&c.DeleteText, "delete-text", c.DeleteText, `editors' deletes carry the text they delete ({"d":"text"}), as the browser editor's do; --delete-text=false sends counts ({"d":N}), for comparing with runs recorded before the flag (and replays recorded before 2026-11-28, which sent counts whatever the flag said)`)
	fs.BoolVar(&c.FindMax, "find-max", c.FindMax, "raise --rate by --step-factor until p99 ack passes --threshold; report the last rate that held")
	fs.DurationVar(&c.Threshold, "threshold", c.Threshold, "p99 ack latency limit for --find-max")
	fs.Float64Var(&c.StepFactor, "step-factor", c.StepFactor, "rate multiplier between --find-max steps")
	fs.IntVar(&c.MaxSteps, "max-steps", c.MaxSteps, "most --find-max growth steps")
	fs.IntVar(&c.Refine, "refine", c.Refine, "--find-max bisection steps between the last rate that held and the first that failed")
	fs.IntVar(&c.StallRetries, "stall-retries", c.StallRetries, "--find-max measures a step again (at most this many times) when it failed without errors while the server had storage transactions over 64 ms (a disk stall, not the load)")
	fs.StringVar(&c.Replay, "replay", c.Replay, "replay a sequential trace (name in ../shared/traces/sequential_traces or a .json.gz path) with one editor")
	fs.StringVar(&c.ReplayMode, "replay-mode", c.ReplayMode, "lockstep: one op per patch, next after its ack; compose: submit continuously, the client composes while one op is in flight")
	fs.BoolVar(&c.JSON, "json", c.JSON, "print JSON instead of a table")
	fs.StringVar(&c.CPUProfile, "cpuprofile", c.CPUProfile, "write a CPU profile of this process (the generator; with --server inproc also the server) over the measured window to this file; --find-max writes one per step (FILE.1, FILE.2, …)")
}

// Hard bounds keep a mistyped flag from exhausting the machine.
const (
	maxConnections = 20_000
	maxDuration    = 30 * time.Minute
)

func (c *Config) validate() error {
	var errs []error
	if c.URL != "" {
		if err := checkURL(c.URL); err != nil {
			errs = append(errs, err)
		}
	} else if c.Server != "inproc" && c.Server != "child" {
		errs = append(errs, fmt.Errorf("--server %q: want inproc or child", c.Server))
	}
	if (c.ServerPID != 0 || c.Token != "") && c.URL == "" {
		errs = append(errs, errors.New("--server-pid and --token need --url"))
	}
	if c.Replay == "" {
		if c.Docs < 1 || c.EditorsPerDoc < 1 {
			errs = append(errs, errors.New("--docs and --editors must be at least 1"))
		}
		if n := c.Docs * (c.EditorsPerDoc + c.ViewersPerDoc); n > maxConnections {
			errs = append(errs, fmt.Errorf("%d connections: at most %d", n, maxConnections))
		}
	} else if c.ReplayMode != "lockstep" && c.ReplayMode != "compose" {
		errs = append(errs, fmt.Errorf("--replay-mode %q: want lockstep or compose", c.ReplayMode))
	}
	if c.Rate < 0 || c.Rate > 10_000 || c.Presence < 0 || c.Presence > 100 || c.ViewersPerDoc < 0 {
		errs = append(errs, errors.New("--rate must be in [0, 10000], --presence in [0, 100], --viewers >= 0"))
	}
	if c.Duration <= 0 || c.Duration > maxDuration || c.Warmup < 0 || c.Warmup > maxDuration {
		errs = append(errs, fmt.Errorf("--duration must be in (0, %v], --warmup in [0, %v]", maxDuration, maxDuration))
	}
	if c.FindMax && (c.StepFactor <= 1 || c.MaxSteps < 1 || c.Refine < 0 || c.StallRetries < 0 || c.Threshold <= 0 || c.Rate <= 0) {
		errs = append(errs, errors.New("--find-max needs --step-factor > 1, --max-steps >= 1, --refine >= 0, --stall-retries >= 0, --threshold > 0, --rate > 0"))
	}
	if c.CommitDelay < 0 {
		errs = append(errs, errors.New("--commit-delay must be >= 0"))
	}
	if c.SendQueue < 0 {
		errs = append(errs, errors.New("--send-queue must be >= 0"))
	}
	if c.DialParallel < 1 || c.MaxDocLen < 1 || c.Settle <= 0 {
		errs = append(errs, errors.New("--dial-parallel, --max-doc-len and --settle must be positive"))
	}
	return errors.Join(errs...)
}

// checkURL accepts an http(s) base URL without path, query or user info.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("--url %q: want http(s)://host:port", s)
	}
	return nil
}
