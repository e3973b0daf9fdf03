package main

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestHistogramExactPercentiles(t *testing.T) {
	var h histogram
	// 1..100 ms in shuffled order: nearest-rank p50 is 50 ms, p99 is 99 ms.
	for _, i := range rand.Perm(100) {
		h.add(time.Duration(i+1) * time.Millisecond)
	}
	s := h.summary()
	want := Summary{Count: 100, P50: 50, P90: 90, P99: 99, Max: 100, Mean: 50.5}
	if s != want {
		t.Fatalf("summary = %+v, want %+v", s, want)
	}
}

func TestHistogramSmallAndEmpty(t *testing.T) {
	var empty histogram
	if s := empty.summary(); s != (Summary{}) {
		t.Fatalf("empty summary = %+v", s)
	}
	var one histogram
	one.add(3 * time.Millisecond)
	if s := one.summary(); s.P50 != 3 || s.P99 != 3 || s.Max != 3 || s.Count != 1 {
		t.Fatalf("one-sample summary = %+v", s)
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b histogram
	for i := 1; i <= 10; i++ {
		a.add(time.Duration(i) * time.Millisecond)
		b.add(time.Duration(i+10) * time.Millisecond)
	}
	a.merge(&b)
	s := a.summary()
	if s.Count != 20 || s.P50 != 10 || s.Max != 20 {
		t.Fatalf("merged summary = %+v", s)
	}
}
