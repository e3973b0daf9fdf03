package main

import (
	"context"
	"fmt"
	"io"
	"math"
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
// offered rate; then Refine bisection steps narrow the gap between the last
// rate that held and the first that failed. The connections stay open
// across steps.
func findMax(ctx context.Context, cfg Config, tgt *target, progress io.Writer) (*FindMaxResult, error) {
	r, err := dialRun(ctx, cfg, tgt)
	if err != nil {
		return nil, err
	}
	defer r.close()
	res := &FindMaxResult{Threshold: ms(cfg.Threshold)}
	r.startTyping()
	heldIdx := -1
	step := func(rate float64) (bool, error) {
		r.rate.store(rate)
		rep, err := r.measure(ctx, fmt.Sprintf("step %d", len(res.Steps)+1))
		if err != nil {
			return false, err
		}
		res.Steps = append(res.Steps, rep)
		offered := rate * float64(len(r.editors))
		held := rep.Ack.P99 <= ms(cfg.Threshold) && rep.Errors == 0 && rep.CommittedPerS >= heldFraction*offered
		fmt.Fprintf(progress, "find-max: %.3g edits/s/editor (offered %.0f/s): committed %.0f/s, p99 ack %.2f ms, errors %d, held %v\n",
			rate, offered, rep.CommittedPerS, rep.Ack.P99, rep.Errors, held)
		if held && (heldIdx < 0 || rate > res.Steps[heldIdx].Rate) {
			heldIdx = len(res.Steps) - 1
		}
		return held, nil
	}
	// Grow by StepFactor until a step fails, then bisect (geometrically)
	// between the last rate that held and the first that did not.
	lo, hi := 0.0, 0.0
	for rate, i := cfg.Rate, 0; i < cfg.MaxSteps; rate, i = rate*cfg.StepFactor, i+1 {
		held, err := step(rate)
		if err != nil {
			return nil, err
		}
		if !held {
			hi = rate
			break
		}
		lo = rate
	}
	for i := 0; i < cfg.Refine && lo > 0 && hi > 0; i++ {
		mid := math.Sqrt(lo * hi)
		held, err := step(mid)
		if err != nil {
			return nil, err
		}
		if held {
			lo = mid
		} else {
			hi = mid
		}
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
	return fmt.Sprintf("find-max: last step that held: %.3g edits/s per editor, %.0f committed ops/s, p99 ack %.2f ms, server CPU %.1f µs/op",
		h.Rate, h.CommittedPerS, h.Ack.P99, h.CPUPerOpUS)
}
