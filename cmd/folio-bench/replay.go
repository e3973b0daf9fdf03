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
	tr, ops, err := loadReplay(cfg.Replay, cfg.DeleteText)
	if err != nil {
		return Report{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, maxDuration)
	defer cancel()
	var acks, errs atomic.Int64
	doc := runPrefix() + "-replay"
	if err := tgt.create(ctx, doc); err != nil {
		return Report{}, err
	}
	c, err := client.Dial(ctx, tgt.wsURL(doc), client.Options{
		Name: "replay", Token: tgt.token, Header: tgt.header(), HTTPClient: tgt.http, OnAck: func(uint64, uint64) { acks.Add(1) },
		OnError: func(collab.ErrorMsg) { errs.Add(1) },
	})
	if err != nil {
		return Report{}, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	rep := Report{Scenario: "replay " + cfg.Replay, Date: time.Now().UTC(), Server: tgt.desc,
		Docs: 1, EditorsPerDoc: 1, Connections: 1, LoadAvgStart: loadAvg(), Deletes: deleteKind(cfg.DeleteText)}
	sampler := startSampler(tgt)
	start := time.Now()
	lat, err := typeTrace(ctx, c, ops, cfg.ReplayMode == "lockstep", progress)
	if err != nil {
		return Report{}, err
	}
	total := time.Since(start)
	sampler.stop().fill(&rep, acks.Load())
	rep.DurationS = total.Seconds()
	rep.CommittedPerS = float64(acks.Load()) / total.Seconds()
	rep.EditsPerS = float64(len(ops)) / total.Seconds()
	rep.Ack = lat.summary()
	rep.Errors = errs.Load()
	rep.Reconnects = int64(c.Reconnects())
	rep.LoadAvgEnd = loadAvg()
	rep.Replay = &ReplayResult{Trace: cfg.Replay, Mode: cfg.ReplayMode, Patches: tr.patchCount(),
		Committed: acks.Load(), TotalS: total.Seconds(), PatchesPS: float64(tr.patchCount()) / total.Seconds()}
	return rep, checkReplay(ctx, tgt, doc, c, tr, &rep)
}

// loadReplay reads a trace and turns it into ops; with deleteText their
// deletes carry the text they delete, as the browser editor's do.
func loadReplay(nameOrPath string, deleteText bool) (*trace, []ot.Op, error) {
	path, err := resolveTrace(nameOrPath)
	if err != nil {
		return nil, nil, err
	}
	tr, err := loadTrace(path)
	if err != nil {
		return nil, nil, err
	}
	if tr.StartContent != "" {
		return nil, nil, fmt.Errorf("trace %s: non-empty startContent is not supported", nameOrPath)
	}
	ops, err := traceOps(tr)
	if err != nil || !deleteText {
		return tr, ops, err
	}
	doc := ot.NewDocument("")
	for i, op := range ops {
		if ops[i], err = withDeletedText(doc, op); err != nil {
			return nil, nil, fmt.Errorf("txn %d: %w", i, err)
		}
		if err := doc.Apply(ops[i]); err != nil {
			return nil, nil, fmt.Errorf("txn %d: %w", i, err)
		}
	}
	return tr, ops, nil
}

// withDeletedText returns op with each delete carrying the text of doc it
// deletes (op applies to doc).
func withDeletedText(doc *ot.Document, op ot.Op) (ot.Op, error) {
	out := make(ot.Op, len(op))
	pos := 0
	for i, c := range op {
		switch {
		case c.Skip > 0:
			pos += c.Skip
		case c.Delete > 0:
			text, ok := doc.Slice(pos, c.Delete)
			if !ok {
				return nil, errTextShrank
			}
			c.DelText = text
			pos += c.Delete
		}
		out[i] = c
	}
	return out, nil
}

// typeTrace submits ops, in lockstep waiting for each ack, then waits until
// everything is acknowledged. It returns the lockstep round-trip times.
func typeTrace(ctx context.Context, c *client.Client, ops []ot.Op, lockstep bool, progress io.Writer) (*histogram, error) {
	var lat histogram
	start := time.Now()
	lastReport := start
	for i, op := range ops {
		if now := time.Now(); now.Sub(lastReport) >= 10*time.Second {
			lastReport = now
			fmt.Fprintf(progress, "replay: %d/%d txns after %.0f s\n", i, len(ops), now.Sub(start).Seconds())
		}
		t0 := time.Now()
		if err := c.Submit(op); err != nil {
			return nil, fmt.Errorf("submit txn %d: %w", i, err)
		}
		if lockstep {
			if err := c.WaitSynced(ctx); err != nil {
				return nil, fmt.Errorf("wait for the ack of txn %d: %w", i, err)
			}
			lat.add(time.Since(t0))
		}
	}
	if err := c.WaitSynced(ctx); err != nil {
		return nil, fmt.Errorf("wait for the last ack: %w", err)
	}
	return &lat, nil
}

// checkReplay compares the server's text with endContent and the editor's.
func checkReplay(ctx context.Context, tgt *target, doc string, c *client.Client, tr *trace, rep *Report) error {
	text, version, err := tgt.text(ctx, doc)
	if err != nil {
		return err
	}
	rep.Replay.Matches = text == tr.EndContent
	rep.Converged = c.Text() == text && c.Version() == version
	if !rep.Replay.Matches {
		rep.Convergence = fmt.Sprintf("server text (%d bytes) differs from endContent (%d bytes)", len(text), len(tr.EndContent))
	} else if !rep.Converged {
		rep.Convergence = "the editor's text differs from the server's"
	}
	return nil
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
