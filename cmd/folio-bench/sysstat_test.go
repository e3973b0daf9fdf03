package main

import (
	"os"
	"testing"
)

func TestReadProcSelfAndPid(t *testing.T) {
	self, err := readProc(0)
	if err != nil {
		t.Fatal(err)
	}
	if self.RSS <= 0 || self.HWM < self.RSS {
		t.Fatalf("self RSS %d, HWM %d", self.RSS, self.HWM)
	}
	// Burn a little CPU so that both readings are non-zero.
	x := 0
	for i := 0; i < 50_000_000; i++ {
		x += i ^ (x >> 3)
	}
	_ = x
	// And system time: stat(2) of this test binary, many times.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for range 100_000 {
		if _, err := os.Stat(exe); err != nil {
			t.Fatal(err)
		}
	}
	byPid, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if byPid.RSS <= 0 {
		t.Fatalf("pid RSS %d", byPid.RSS)
	}
	if byPid.CPU <= 0 {
		t.Fatalf("pid CPU %v, want > 0 after a busy loop", byPid.CPU)
	}
	if byPid.Sys <= 0 || byPid.Sys >= byPid.CPU {
		t.Fatalf("pid system CPU %v of %v, want some after 100,000 stat calls, and less than all", byPid.Sys, byPid.CPU)
	}
	if now, _ := readProc(0); now.Sys <= self.Sys {
		t.Fatalf("self system CPU %v → %v, want more after 100,000 stat calls", self.Sys, now.Sys)
	}
}

func TestStatusKB(t *testing.T) {
	b := []byte("Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n")
	if got := statusKB(b, "VmRSS:"); got != 1024*1024 {
		t.Fatalf("VmRSS = %d", got)
	}
	if got := statusKB(b, "VmSwap:"); got != 0 {
		t.Fatalf("missing key = %d", got)
	}
}
