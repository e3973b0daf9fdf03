package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// bench runs the configured mode against the target and writes the report.
// It returns an error when the run failed: no convergence, or a replay whose
// final text is not the trace's endContent.
func bench(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	conns := cfg.Docs * (cfg.EditorsPerDoc + cfg.ViewersPerDoc)
	if limit := raiseFileLimit(uint64(2*conns + 1024)); cfg.URL == "" && cfg.Server == "inproc" && limit < uint64(2*conns+256) {
		fmt.Fprintf(stderr, "folio-bench: warning: %d connections need about %d file descriptors in-process, limit is %d; try --server child\n", conns, 2*conns, limit)
	}
	tgt, err := startTarget(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := tgt.stop(sctx); err != nil {
			fmt.Fprintln(stderr, "folio-bench: stop server:", err)
		}
	}()
	switch {
	case cfg.Replay != "":
		rep, err := runReplay(ctx, cfg, tgt, stderr)
		if err != nil {
			return err
		}
		return output(cfg, stdout, rep, []Report{rep}, replayFailure(rep))
	case cfg.FindMax:
		res, err := findMax(ctx, cfg, tgt, stderr)
		if err != nil {
			return err
		}
		return output(cfg, stdout, res, res.Steps, convergeFailure(res.Steps))
	default:
		rep, err := runLoad(ctx, cfg, tgt)
		if err != nil {
			return err
		}
		return output(cfg, stdout, rep, []Report{rep}, convergeFailure([]Report{rep}))
	}
}

// output writes JSON (v) or the table (reports), then returns failure.
func output(cfg Config, w io.Writer, v any, reports []Report, failure error) error {
	var err error
	if cfg.JSON {
		err = writeJSON(w, v)
	} else {
		err = writeTable(w, reports)
		if fm, ok := v.(*FindMaxResult); ok {
			fmt.Fprintln(w, fm.summary())
		}
	}
	return errors.Join(err, failure)
}

func convergeFailure(reports []Report) error {
	for _, r := range reports {
		if !r.Converged {
			return fmt.Errorf("%s did not converge: %s", r.Scenario, r.Convergence)
		}
	}
	return nil
}

func replayFailure(r Report) error {
	if r.Replay == nil || !r.Replay.Matches || !r.Converged {
		return fmt.Errorf("replay failed: %s", r.Convergence)
	}
	return nil
}

// runLoad is a plain run: dial, type through warm-up and the window, stop,
// and check convergence.
func runLoad(ctx context.Context, cfg Config, tgt *target) (Report, error) {
	r, err := dialRun(ctx, cfg, tgt)
	if err != nil {
		return Report{}, err
	}
	defer r.close()
	r.startTyping()
	rep, err := r.measure(ctx, scenarioName(cfg))
	if err != nil {
		return Report{}, err
	}
	r.stopTyping()
	if msg := r.converge(ctx); msg != "" {
		rep.Convergence = joinNote(rep.Convergence, msg)
	} else {
		rep.Converged = true
	}
	return rep, nil
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func scenarioName(cfg Config) string {
	name := fmt.Sprintf("%d×%d@%g/s", cfg.Docs, cfg.EditorsPerDoc, cfg.Rate)
	if cfg.Rate == 0 {
		name = fmt.Sprintf("%d×%d idle", cfg.Docs, cfg.EditorsPerDoc)
	}
	return name
}

func flagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
