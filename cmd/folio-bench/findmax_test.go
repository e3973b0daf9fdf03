package main

import (
	"testing"
	"time"
)

func TestJudgeStep(t *testing.T) {
	const offered = 1000.0
	ok := Report{CommittedPerS: 950, Ack: Summary{P99: 20}}
	for _, tc := range []struct {
		name string
		edit func(*Report)
		want stepVerdict
	}{
		{"within everything", func(*Report) {}, stepHeld},
		{"p99 at the threshold", func(r *Report) { r.Ack.P99 = 50 }, stepHeld},
		{"slow txns but p99 held", func(r *Report) { r.SlowTxns = 3 }, stepHeld},
		{"p99 over, disk quiet", func(r *Report) { r.Ack.P99 = 51 }, stepFailed},
		{"p99 over during a stall", func(r *Report) { r.Ack.P99 = 300; r.SlowTxns = 1 }, stepStalled},
		{"composed during a stall", func(r *Report) { r.SlowTxns = 1; r.CommittedPerS = 899 }, stepStalled},
		{"errors during a stall", func(r *Report) { r.Ack.P99 = 300; r.SlowTxns = 1; r.Errors = 1 }, stepFailed},
		{"saturated", func(r *Report) { r.CommittedPerS = 899 }, stepFailed},
	} {
		rep := ok
		tc.edit(&rep)
		if got := judgeStep(rep, offered, 50*time.Millisecond); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMostWithin(t *testing.T) {
	steps := []Report{
		{CommittedPerS: 100, Ack: Summary{P99: 10}},
		{CommittedPerS: 300, Ack: Summary{P99: 40}},            // The most within 50 ms.
		{CommittedPerS: 400, Ack: Summary{P99: 60}},            // Over the threshold.
		{CommittedPerS: 500, Ack: Summary{P99: 20}, Errors: 1}, // Errors.
		{CommittedPerS: 200, Ack: Summary{P99: 5}},
	}
	if got := mostWithin(steps, 50*time.Millisecond); got != &steps[1] {
		t.Fatalf("got %+v, want step 2", got)
	}
	if got := mostWithin(steps[2:4], 50*time.Millisecond); got != nil {
		t.Fatalf("got %+v, want none", got)
	}
}
