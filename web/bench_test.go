package web

import (
	"fmt"
	"testing"
)

// BenchmarkPostOp measures one REST op end to end over loopback HTTP: JSON
// decoding, the hub's submit pipeline and a storage commit (NoSync, so the
// figure is the service's own cost, not the disk's fsync).
func BenchmarkPostOp(b *testing.B) {
	e := newEnv(b, nil)
	e.create("d", "")
	v := uint64(0)
	for b.Loop() {
		v = e.postOp("d", v, `["x"]`)
	}
}

// BenchmarkSSEFanout measures the time from a REST op to its arrival on
// every one of N open SSE streams.
func BenchmarkSSEFanout(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			e := newEnv(b, nil)
			e.create("d", "")
			streams := make([]*sseClient, n)
			for i := range streams {
				streams[i] = e.sse("/api/v1/docs/d/events", "")
				streams[i].nextEvent(ssePresence, sseLeave) // The snapshot.
			}
			v := uint64(0)
			for b.Loop() {
				v = e.postOp("d", v, `["x"]`)
				for _, s := range streams {
					if ev := s.nextEvent(ssePresence, sseLeave); ev.id != itoa(v) {
						b.Fatalf("got %+v, want op %d", ev, v)
					}
				}
			}
		})
	}
}
