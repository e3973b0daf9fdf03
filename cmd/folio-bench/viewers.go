package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// viewerSet is the read-only SSE viewers of a run. Each counts the events
// (data lines) it receives inside the window.
type viewerSet struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	events atomic.Int64
	errors atomic.Int64
}

func startViewers(tgt *target, docs []*docRun, perDoc int, win *window) *viewerSet {
	ctx, cancel := context.WithCancel(context.Background())
	v := &viewerSet{cancel: cancel}
	for _, d := range docs {
		for i := 0; i < perDoc; i++ {
			v.wg.Add(1)
			go func() {
				defer v.wg.Done()
				v.watch(ctx, tgt, tgt.baseURL+"/api/v1/docs/"+d.id+"/events", win)
			}()
		}
	}
	return v
}

// watch follows one event stream until ctx ends, reopening it if it drops.
func (v *viewerSet) watch(ctx context.Context, tgt *target, url string, win *window) {
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return
		}
		req.Header.Set("Accept", "text/event-stream")
		resp, err := tgt.do(req)
		if err == nil {
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 64<<20)
			event := "" // The event: line before a data: line, if any.
			for sc.Scan() {
				line := sc.Bytes()
				switch {
				case bytes.HasPrefix(line, []byte("event:")):
					event = string(bytes.TrimSpace(line[len("event:"):]))
				case len(line) == 0:
					event = ""
				case bytes.HasPrefix(line, []byte("data:")) && event != "reconnect" && win.contains(time.Now()):
					// A reconnect event is the server ending the stream,
					// counted below as the drop it is, not a delivery.
					v.events.Add(1)
				}
			}
			resp.Body.Close()
		}
		if ctx.Err() == nil {
			v.errors.Add(1)
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}
}

// take returns the events counted since the last take.
func (v *viewerSet) take() int64 { return v.events.Swap(0) }

func (v *viewerSet) close() {
	v.cancel()
	v.wg.Wait()
}
