package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lowerPriority sets the nice value of every thread of this process that
// runs at a higher priority to n. On a machine the generator shares with
// the server, the two compete for the cores, and the server's CPU per op
// then depends on how the scheduler interleaves them (docs/performance.md,
// session 13); a generator that yields measures the server more as it runs
// alone. Linux keeps a nice value per thread (setpriority(PRIO_PROCESS,
// tid)) and a new thread takes its creator's, so once every thread has n the
// threads the Go runtime starts later have it too; one started while the
// list is read may not, so the list is read again until a pass finds no
// thread to change.
func lowerPriority(n int) error {
	for range 10 {
		changed, err := lowerThreads(n)
		if err != nil || !changed {
			return err
		}
	}
	return errors.New("new threads kept appearing at a higher priority")
}

// lowerThreads does one pass of lowerPriority, reporting whether it changed
// a thread.
func lowerThreads(n int) (changed bool, err error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return false, err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		nice, err := threadNice(tid)
		if errors.Is(err, fs.ErrNotExist) {
			continue // The thread ended.
		}
		if err != nil {
			return false, err
		}
		if nice >= n {
			continue
		}
		err = syscall.Setpriority(syscall.PRIO_PROCESS, tid, n)
		if errors.Is(err, syscall.ESRCH) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("setpriority of thread %d to %d: %w", tid, n, err)
		}
		changed = true
	}
	return changed, nil
}

// threadNice reads the nice value of a thread of this process (field 19 of
// /proc/self/task/<tid>/stat).
func threadNice(tid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name start after its last ')'; the
	// first of them is field 3.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 17 {
		return 0, fmt.Errorf("/proc/self/task/%d/stat: malformed", tid)
	}
	return strconv.Atoi(f[16])
}
