package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"
)

// FindMaxResult is the outcome of --find-max: every step, and the last one
// that held (nil when even the first step failed). MostWithinP99 is the step
// that committed the most ops/s with p99 ack within the threshold and no
// errors, whether or not it composed: the rate a pure p99 criterion would
// report, which a saturated step can reach by composing.
type FindMaxResult struct {
	Threshold     float64  `json:"threshold_ms"`
	Steps         []Report `json:"steps"`
	Held          *Report  `json:"held"`
	MostWithinP99 *Report  `json:"most_within_p99"`
}

// heldFraction is how much of the offered edit rate must be committed for a
// step to hold. Each editor keeps one op in flight, so an overloaded server
// shows up first as composing (fewer, larger ops), not as a long p99: a step
// that commits much less than it offered is saturated whatever its latency.
const heldFraction = 0.9

// stepVerdict is how one --find-max measurement went.
type stepVerdict int

const (
	stepHeld    stepVerdict = iota
	stepFailed              // Errors, saturation, or p99 over the threshold.
	stepStalled             // Failed without errors while storage transactions took 64 ms or more.
)

func (v stepVerdict) String() string {
	return [...]string{"held", "failed", "failed during a disk stall"}[v]
}

// judgeStep decides a step: it holds when p99 ack is within threshold, no
// errors happened and at least heldFraction of the offered edits were
// committed. A step that failed without errors while the server's storage
// had transactions over 64 ms may have failed on the disk rather than on the
// load: an fsync stall holds every ack of every document, so p99 passes the
// threshold, and editors compose what they type meanwhile, so fewer ops are
// committed. Such a step is stepStalled and may be measured again.
func judgeStep(rep Report, offered float64, threshold time.Duration) stepVerdict {
	switch {
	case rep.Errors != 0:
		return stepFailed
	case rep.Ack.P99 <= ms(threshold) && rep.CommittedPerS >= heldFraction*offered:
		return stepHeld
	case rep.SlowTxns > 0:
		return stepStalled
	}
	return stepFailed
}

// findMax raises the per-editor rate by StepFactor until a step fails: p99
// ack above Threshold, errors, or committed ops/s below heldFraction of the
// offered rate (a step that failed during a disk stall is measured again,
// up to StallRetries times); then Refine bisection steps narrow the gap between the last
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
		offered := rate * float64(len(r.editors))
		for attempt := 0; ; attempt++ {
			rep, err := r.measure(ctx, fmt.Sprintf("step %d", len(res.Steps)+1))
			if err != nil {
				return false, err
			}
			v := judgeStep(rep, offered, cfg.Threshold)
			retry := v == stepStalled && attempt < cfg.StallRetries
			if retry {
				rep.Notes = append(rep.Notes, fmt.Sprintf("failed with %d storage transactions over 64 ms (a disk stall): measured again", rep.SlowTxns))
			}
			res.Steps = append(res.Steps, rep)
			fmt.Fprintf(progress, "find-max: %.3g edits/s/editor (offered %.0f/s): committed %.0f/s, p99 ack %.2f ms, errors %d, storage txns over 64 ms %d, %s\n",
				rate, offered, rep.CommittedPerS, rep.Ack.P99, rep.Errors, rep.SlowTxns, v)
			if retry {
				continue
			}
			held := v == stepHeld
			if held && (heldIdx < 0 || rate > res.Steps[heldIdx].Rate) {
				heldIdx = len(res.Steps) - 1
			}
			return held, nil
		}
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
	res.MostWithinP99 = mostWithin(res.Steps, cfg.Threshold)
	return res, nil
}

// mostWithin is the step with the most committed ops/s among those with no
// errors and p99 ack within threshold; nil when there is none.
func mostWithin(steps []Report, threshold time.Duration) *Report {
	var best *Report
	for i := range steps {
		s := &steps[i]
		if s.Errors == 0 && s.Ack.P99 <= ms(threshold) && (best == nil || s.CommittedPerS > best.CommittedPerS) {
			best = s
		}
	}
	return best
}

func (f *FindMaxResult) summary() string {
	if f.Held == nil {
		return fmt.Sprintf("find-max: no step held (p99 ack ≤ %.0f ms, ≥ %.0f%% of offered committed, no errors)", f.Threshold, 100*heldFraction)
	}
	h := f.Held
	s := fmt.Sprintf("find-max: last step that held: %.3g edits/s per editor, %.0f committed ops/s, p99 ack %.2f ms, server CPU %.1f µs/op",
		h.Rate, h.CommittedPerS, h.Ack.P99, h.CPUPerOpUS)
	if m := f.MostWithinP99; m != nil && m.CommittedPerS > h.CommittedPerS {
		s += fmt.Sprintf("\nfind-max: most committed with p99 ack ≤ %.0f ms: %.0f ops/s at %.3g edits/s per editor (%.0f%% of offered: composing), p99 ack %.2f ms, server CPU %.1f µs/op",
			f.Threshold, m.CommittedPerS, m.Rate, 100*m.CommittedPerS/(m.Rate*float64(m.Docs*m.EditorsPerDoc)), m.Ack.P99, m.CPUPerOpUS)
	}
	return s
}
