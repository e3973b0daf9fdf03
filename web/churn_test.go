package web

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/collab/client"
	"github.com/foliodocs/folio/ot"
)

// TestChurnLeavesNothing: clients of every transport come and go on a few
// documents (editors over WebSocket, SSE viewers, long polls, REST writes
// with Idempotency-Keys) with no error, and once they are gone and the
// rooms unloaded the server is back to the goroutines it started with: a
// session, stream or room that outlived its client would show up here,
// long before Close. The storage check runs at the end (testEnv.close).
func TestChurnLeavesNothing(t *testing.T) {
	e := newEnvWith(t, func(o *collab.Options) { o.IdleUnload = 100 * time.Millisecond }, nil)
	docs := []string{e.create("c0", "zero\n"), e.create("c1", "one\n"), e.create("c2", "two\n")}
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	base := runtime.NumGoroutine()

	const rounds = 40 // Per worker.
	var errs atomic.Int64
	fail := func(what string, err error) {
		if errs.Add(1) <= 5 {
			t.Errorf("%s: %v", what, err)
		}
	}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range rounds {
				doc := docs[r.IntN(len(docs))]
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				switch i % 4 {
				case 0:
					ws := "ws" + strings.TrimPrefix(e.url, "http") + "/api/v1/docs/" + doc + "/ws"
					c, err := client.Dial(ctx, ws, client.Options{Name: "churn", HTTPClient: hc})
					if err != nil {
						fail("dial", err)
						break
					}
					for range 1 + r.IntN(3) {
						n := c.Len()
						if err := c.Submit(ot.Normalize(ot.Op{{Skip: r.IntN(n + 1)}, {Insert: "x"}})); err != nil {
							fail("submit", err)
						}
						c.SetCursor(&ot.Selection{Anchor: r.IntN(n + 1), Head: r.IntN(n + 1)})
					}
					if r.IntN(2) == 0 { // Half leave with their edits still in flight.
						if err := c.WaitSynced(ctx); err != nil {
							fail("sync", err)
						}
					}
					c.Close()
				case 1:
					req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/api/v1/docs/"+doc+"/events", nil)
					resp, err := hc.Do(req)
					if err != nil {
						fail("events", err)
						break
					}
					br := bufio.NewReader(resp.Body)
					for {
						line, err := br.ReadString('\n')
						if err != nil {
							fail("events", err)
							break
						}
						if strings.HasPrefix(line, "event: snapshot") {
							break
						}
					}
					resp.Body.Close() // The viewer goes away mid-stream.
				case 2:
					resp, err := hc.Get(e.url + "/api/v1/docs/" + doc + "/ops?since=0&limit=5&wait=1")
					if err != nil {
						fail("poll", err)
						break
					}
					drain(resp, fail, "poll")
				case 3:
					req, _ := http.NewRequest("POST", e.url+"/api/v1/docs/"+doc+"/ops", strings.NewReader(`{"version":0,"op":["y"]}`))
					req.Header.Set("Idempotency-Key", fmt.Sprintf("churn-%d-%d", w, i))
					resp, err := hc.Do(req)
					if err != nil {
						fail("rest op", err)
						break
					}
					drain(resp, fail, "rest op")
				}
				cancel()
			}
		})
	}
	wg.Wait()
	hc.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the churn:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// drain reads and closes a response, failing unless it is 200 OK.
func drain(resp *http.Response, fail func(string, error), what string) {
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fail(what, fmt.Errorf("%d %s", resp.StatusCode, b))
	}
}
