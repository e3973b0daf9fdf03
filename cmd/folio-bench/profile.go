package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// windowProfile is a CPU profile of this process over one measured window,
// so that the generator's own cost per op can be read with go tool pprof
// without the dialling and the convergence check mixed in.
type windowProfile struct {
	f *os.File
}

// startProfile starts profiling into path, or into path.N for the N-th
// window when there are several (--find-max steps). An empty path profiles
// nothing.
func startProfile(path string, n int, multi bool) (*windowProfile, error) {
	if path == "" {
		return &windowProfile{}, nil
	}
	if multi {
		path = fmt.Sprintf("%s.%d", path, n)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return &windowProfile{f: f}, nil
}

// stop ends the profile and closes its file.
func (p *windowProfile) stop() error {
	if p.f == nil {
		return nil
	}
	pprof.StopCPUProfile()
	err := p.f.Close()
	p.f = nil
	return err
}
