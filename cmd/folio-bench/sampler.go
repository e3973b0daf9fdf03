package main

import (
	"time"
)

// sampler measures the server process over a window: CPU time used (the
// difference of two readings) and RSS, sampled every 200 ms for the peak.
type sampler struct {
	tgt    *target
	start  procStat
	t0     time.Time
	done   chan struct{}
	result chan sample
}

// sample is what a sampler measured.
type sample struct {
	ok                    bool
	cpu, sys              time.Duration
	wall                  time.Duration
	rss, max              int64
	written               int64 // Bytes written to storage in the window; -1 unknown.
	readCalls, writeCalls int64 // Read and write syscalls in the window; -1 unknown.
}

func startSampler(tgt *target) *sampler {
	s := &sampler{tgt: tgt, done: make(chan struct{}), result: make(chan sample, 1)}
	if !tgt.measured {
		close(s.result)
		return s
	}
	st, err := readProc(tgt.pid)
	if err != nil {
		close(s.result)
		return s
	}
	s.start, s.t0 = st, time.Now()
	go s.loop()
	return s
}

func (s *sampler) loop() {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	peak := s.start.RSS
	for {
		select {
		case <-tick.C:
			if st, err := readProc(s.tgt.pid); err == nil {
				peak = max(peak, st.RSS)
			}
		case <-s.done:
			st, err := readProc(s.tgt.pid)
			if err != nil {
				s.result <- sample{}
				return
			}
			written, rcalls, wcalls := int64(-1), int64(-1), int64(-1)
			if st.Written >= 0 && s.start.Written >= 0 {
				written = st.Written - s.start.Written
				rcalls, wcalls = st.ReadCalls-s.start.ReadCalls, st.WriteCalls-s.start.WriteCalls
			}
			s.result <- sample{ok: true, cpu: st.CPU - s.start.CPU, sys: st.Sys - s.start.Sys, wall: time.Since(s.t0), rss: st.RSS, max: max(peak, st.RSS),
				written: written, readCalls: rcalls, writeCalls: wcalls}
			return
		}
	}
}

// stop ends the window and returns the measurement.
func (s *sampler) stop() sample {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	return <-s.result
}

// fill writes the measurement into rep; committed is the window's op count.
func (m sample) fill(rep *Report, committed int64) {
	if !m.ok {
		return
	}
	rep.CPUMeasured = true
	rep.CPUSeconds = m.cpu.Seconds()
	rep.CPUPercent = 100 * m.cpu.Seconds() / m.wall.Seconds()
	if committed > 0 {
		rep.CPUPerOpUS = float64(m.cpu.Microseconds()) / float64(committed)
		rep.SysCPUPerOpUS = float64(m.sys.Microseconds()) / float64(committed)
	}
	rep.RSSMB = float64(m.rss) / (1 << 20)
	if m.written >= 0 {
		rep.DiskWriteMBps = float64(m.written) / (1 << 20) / m.wall.Seconds()
	}
	if m.writeCalls >= 0 && committed > 0 {
		rep.ReadCallsPerOp = float64(m.readCalls) / float64(committed)
		rep.WriteCallsPerOp = float64(m.writeCalls) / float64(committed)
	}
	rep.PeakRSSMB = float64(m.max) / (1 << 20)
}
