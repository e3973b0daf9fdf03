package main

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/collab/client"
	"github.com/foliodocs/folio/ot"
)

// runReplay types a sequential trace into a fresh document with one editor
// and checks that the server's text ends equal to the trace's endContent.
// lockstep sends each txn as one op and waits for its ack before the next,
// so every txn becomes one committed version; compose submits every txn at
// once and lets the client compose while one op is in flight, as a browser
// does when typing outruns the network.
func runReplay(ctx context.Context, cfg Config, tgt *target, progress io.Writer) (Report, error) {
	path, err := resolveTrace(cfg.Replay)
	if err != nil {
		return Report{}, err
	}
	tr, err := loadTrace(path)
	if err != nil {
		return Report{}, err
	}
	ops, err := traceOps(tr)
	if err != nil {
		return Report{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, maxDuration)
	defer cancel()
	var acks atomic.Int64
	var errs atomic.Int64
	doc := runPrefix() + "-replay"
	if err := tgt.create(ctx, doc); err != nil {
		return Report{}, err
	}
	c, err := client.Dial(ctx, tgt.wsURL(doc), client.Options{
		Name: "replay", HTTPClient: tgt.http, OnAck: func(uint64, uint64) { acks.Add(1) },
		OnError: func(e collab.ErrorMsg) { errs.Add(1) },
	})
	if err != nil {
		return Report{}, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	if tr.StartContent != "" {
		return Report{}, fmt.Errorf("trace %s: non-empty startContent is not supported", cfg.Replay)
	}
	rep := Report{Scenario: "replay " + cfg.Replay, Date: time.Now().UTC(), Server: tgt.desc,
		Docs: 1, EditorsPerDoc: 1, Connections: 1, LoadAvgStart: loadAvg()}
	sampler := startSampler(tgt)
	start := time.Now()
	var lat histogram
	lastReport := start
	for i, op := range ops {
		if now := time.Now(); progress != nil && now.Sub(lastReport) >= 10*time.Second {
			lastReport = now
			fmt.Fprintf(progress, "replay: %d/%d txns after %.0f s\n", i, len(ops), now.Sub(start).Seconds())
		}
		t0 := time.Now()
		if err := c.Submit(op); err != nil {
			return Report{}, fmt.Errorf("submit: %w", err)
		}
		if cfg.ReplayMode == "lockstep" {
			if err := c.WaitSynced(ctx); err != nil {
				return Report{}, fmt.Errorf("wait for ack: %w", err)
			}
			lat.add(time.Since(t0))
		}
	}
	if err := c.WaitSynced(ctx); err != nil {
		return Report{}, fmt.Errorf("wait for the last ack: %w", err)
	}
	total := time.Since(start)
	res := sampler.stop()
	rep.DurationS = total.Seconds()
	rep.CommittedPerS = float64(acks.Load()) / total.Seconds()
	rep.EditsPerS = float64(len(ops)) / total.Seconds()
	rep.Ack = lat.summary()
	rep.Errors = errs.Load()
	rep.Reconnects = int64(c.Reconnects())
	rep.LoadAvgEnd = loadAvg()
	res.fill(&rep, acks.Load())
	text, version, err := tgt.text(ctx, doc)
	if err != nil {
		return Report{}, err
	}
	rep.Replay = &ReplayResult{Trace: cfg.Replay, Mode: cfg.ReplayMode, Patches: tr.patchCount(),
		Committed: acks.Load(), TotalS: total.Seconds(), PatchesPS: float64(tr.patchCount()) / total.Seconds(),
		Matches: text == tr.EndContent}
	rep.Converged = c.Text() == text && c.Version() == version
	if !rep.Replay.Matches {
		rep.Convergence = fmt.Sprintf("server text (%d bytes) differs from endContent (%d bytes)", len(text), len(tr.EndContent))
	} else if !rep.Converged {
		rep.Convergence = "the editor's text differs from the server's"
	}
	return rep, nil
}

// traceOps turns each txn into one op: its patches composed in order.
func traceOps(tr *trace) ([]ot.Op, error) {
	ops := make([]ot.Op, 0, len(tr.Txns))
	for i, tx := range tr.Txns {
		var op ot.Op
		for _, p := range tx.Patches {
			pop := patchOp(p)
			if op == nil {
				op = pop
				continue
			}
			c, err := ot.Compose(op, pop)
			if err != nil {
				return nil, fmt.Errorf("txn %d: %w", i, err)
			}
			op = c
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// patchOp is [pos, del, ins] as an op: skip pos, delete del, insert ins. It
// writes no empty component (ot.Check refuses {Skip: 0}).
func patchOp(p patch) ot.Op {
	var op ot.Op
	if p.Pos > 0 {
		op = append(op, ot.Component{Skip: p.Pos})
	}
	if p.Del > 0 {
		op = append(op, ot.Component{Delete: p.Del})
	}
	if p.Ins != "" {
		op = append(op, ot.Component{Insert: p.Ins})
	}
	return op
}
