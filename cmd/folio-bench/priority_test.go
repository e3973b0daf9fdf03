package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestLowerPriority: lowerPriority lowers every thread of the process, and
// threads started after it run at the lowered priority too. It runs in a
// child process (this test binary again) so that the tests do not lower
// themselves.
func TestLowerPriority(t *testing.T) {
	if os.Getenv("FOLIO_BENCH_LOWER_PRIORITY") == "1" {
		lowerPriorityChild()
		return
	}
	start, err := threadNice(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	want := max(start, 7)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLowerPriority$", "-test.v")
	cmd.Env = append(os.Environ(), "FOLIO_BENCH_LOWER_PRIORITY=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if got := fmt.Sprintf("nice of every thread: %d", want); !strings.Contains(string(out), got) {
		t.Fatalf("child's output lacks %q:\n%s", got, out)
	}
	if nice, err := threadNice(os.Getpid()); err != nil || nice != start {
		t.Fatalf("this process's nice is %d, %v; want %d as before", nice, err, start)
	}
}

// lowerPriorityChild starts threads, lowers the process to nice 7, starts
// more threads, and prints the nice value of every thread if they all agree.
func lowerPriorityChild() {
	var wg sync.WaitGroup
	release := make(chan struct{})
	threads := func(k int) {
		ready := make(chan struct{}, k)
		for range k {
			wg.Go(func() {
				runtime.LockOSThread() // A goroutine that keeps its own thread.
				ready <- struct{}{}
				<-release
			})
		}
		for range k {
			<-ready
		}
	}
	threads(4)
	if err := lowerPriority(7); err != nil {
		fmt.Println("lowerPriority:", err)
		os.Exit(1)
	}
	threads(4)
	defer func() { close(release); wg.Wait() }()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	seen := map[int]int{}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		nice, err := threadNice(tid)
		if err != nil {
			continue // It ended.
		}
		seen[nice]++
	}
	if len(seen) != 1 || len(tasks) < 8 {
		fmt.Printf("threads %d, nice values %v\n", len(tasks), seen)
		os.Exit(1)
	}
	for nice := range seen {
		fmt.Printf("nice of every thread: %d\n", nice)
	}
}
