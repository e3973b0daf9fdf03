package main

import (
	"context"
	"fmt"
	"io"
)

// FindMaxResult is the outcome of --find-max: every step, and the last one
// that held (nil when even the first step failed).
type FindMaxResult struct {
	Threshold float64  `json:"threshold_ms"`
	Steps     []Report `json:"steps"`
	Held      *Report  `json:"held"`
}

// heldFraction is how much of the offered edit rate must be committed for a
// step to hold. Each editor keeps one op in flight, so an overloaded server
// shows up first as composing (fewer, larger ops), not as a long p99: a step
// that commits much less than it offered is saturated whatever its latency.
const heldFraction = 0.9

// findMax raises the per-editor rate by StepFactor until a step fails: p99
// ack above Threshold, errors, or committed ops/s below heldFraction of the
// offered rate. The connections stay open across steps.
func findMax(ctx context.Context, cfg Config, tgt *target, progress io.Writer) (*FindMaxResult, error) {
	r, err := dialRun(ctx, cfg, tgt)
	if err != nil {
		return nil, err
	}
	defer r.close()
	res := &FindMaxResult{Threshold: ms(cfg.Threshold)}
	r.startTyping()
	rate, heldIdx := cfg.Rate, -1
	for step := 0; step < cfg.MaxSteps; step++ {
		r.rate.store(rate)
		rep, err := r.measure(ctx, fmt.Sprintf("step %d", step+1))
		if err != nil {
			return nil, err
		}
		res.Steps = append(res.Steps, rep)
		offered := rate * float64(len(r.editors))
		held := rep.Ack.P99 <= ms(cfg.Threshold) && rep.Errors == 0 && rep.CommittedPerS >= heldFraction*offered
		fmt.Fprintf(progress, "find-max: %g edits/s/editor (offered %.0f/s): committed %.0f/s, p99 ack %.2f ms, errors %d, held %v\n",
			rate, offered, rep.CommittedPerS, rep.Ack.P99, rep.Errors, held)
		if !held {
			break
		}
		heldIdx = len(res.Steps) - 1
		rate *= cfg.StepFactor
	}
	r.stopTyping()
	msg := r.converge(ctx)
	for i := range res.Steps {
		res.Steps[i].Converged = msg == ""
		res.Steps[i].Convergence = joinNote(res.Steps[i].Convergence, msg)
	}
	if heldIdx >= 0 {
		res.Held = &res.Steps[heldIdx]
	}
	return res, nil
}

func (f *FindMaxResult) summary() string {
	if f.Held == nil {
		return fmt.Sprintf("find-max: no step held (p99 ack ≤ %.0f ms, ≥ %.0f%% of offered committed, no errors)", f.Threshold, 100*heldFraction)
	}
	h := f.Held
	return fmt.Sprintf("find-max: last step that held: %g edits/s per editor, %.0f committed ops/s, p99 ack %.2f ms, server CPU %.1f µs/op",
		h.Rate, h.CommittedPerS, h.Ack.P99, h.CPUPerOpUS)
}
