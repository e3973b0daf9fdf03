package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is Linux's USER_HZ, the unit of utime/stime in /proc/<pid>/stat.
// It has been 100 on every mainstream Linux architecture for decades.
const clockTicks = 100

// procStat is one reading of a process's resource use.
type procStat struct {
	CPU time.Duration // User + system time since the process started.
	Sys time.Duration // The system (kernel) part of CPU.
	RSS int64         // Resident set size in bytes.
	HWM int64         // Peak resident set size in bytes.
	// Written is what the process caused to be written to storage
	// (write_bytes of /proc/<pid>/io); -1 when unknown.
	Written int64
	// Syscalls that read and that wrote (syscr, syscw of /proc/<pid>/io):
	// socket and file I/O alike; -1 when unknown.
	ReadCalls, WriteCalls int64
}

// readProc reads CPU time and memory of pid, or of this process when pid is 0.
// For this process it uses getrusage, which is more precise than clock ticks.
func readProc(pid int) (procStat, error) {
	var st procStat
	if pid == 0 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return st, fmt.Errorf("getrusage: %w", err)
		}
		st.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		st.Sys = time.Duration(ru.Stime.Nano())
	} else {
		user, sys, err := readStatCPU(pid)
		if err != nil {
			return st, err
		}
		st.CPU, st.Sys = user+sys, sys
	}
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	st.RSS = statusKB(b, "VmRSS:")
	st.HWM = statusKB(b, "VmHWM:")
	st.Written, st.ReadCalls, st.WriteCalls = -1, -1, -1
	if b, err := os.ReadFile(strings.TrimSuffix(path, "status") + "io"); err == nil {
		// The values are counts and bytes, not kB.
		st.Written = statusKB(b, "write_bytes:") / 1024
		st.ReadCalls, st.WriteCalls = statusKB(b, "syscr:")/1024, statusKB(b, "syscw:")/1024
	}
	return st, nil
}

// readStatCPU returns utime and stime of pid from /proc/<pid>/stat.
func readStatCPU(pid int) (user, sys time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may contain spaces; fields after it start
	// after the last ')'. utime and stime are fields 14 and 15 overall.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	stt, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return time.Duration(ut) * time.Second / clockTicks, time.Duration(stt) * time.Second / clockTicks, nil
}

// statusKB returns the value of a "Key:   123 kB" line of /proc/*/status in bytes.
func statusKB(b []byte, key string) int64 {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0
	}
	line := b[i+len(key):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := strings.Fields(string(line))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(f[0], 10, 64)
	return n * 1024
}

// loadAvg returns the first three fields of /proc/loadavg, to record how busy
// the machine was during a measurement.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// raiseFileLimit lifts RLIMIT_NOFILE so that thousands of connections fit: to
// want if the hard limit allows (or this process may raise it), else to the
// hard limit. It returns the resulting soft limit.
func raiseFileLimit(want uint64) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur >= want {
		return rl.Cur
	}
	if rl.Max < want {
		// Only a privileged process may raise the hard limit; try, then fall back.
		try := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &try) == nil {
			return want
		}
		want = rl.Max
	}
	rl.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return rl.Cur
	}
	return want
}
