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
