package web

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/foliodocs/folio/collab"
)

// replaceOps creates document id with a text of n code points and replaces
// it whole k times over REST (each op about n bytes), returning the texts
// by version.
func replaceOps(e *testEnv, id string, n, k int) []string {
	e.t.Helper()
	texts := []string{strings.Repeat("a", n)}
	e.create(id, texts[0])
	for i := range k {
		texts = append(texts, strings.Repeat(string(rune('b'+i%20)), n))
		b, _ := json.Marshal(texts[i+1])
		e.postOp(id, uint64(i), fmt.Sprintf(`[{"d":%d},%s]`, n, b))
	}
	return texts
}

// TestSSEResumeOverBudget: an SSE stream resumed (Last-Event-ID) before ops
// that weigh more than the catch-up's budget (4 × the text here, the hub's
// CatchUpBytes being below it) starts with a snapshot of the head, as for a
// version too old; one before fewer ops gets exactly those ops.
func TestSSEResumeOverBudget(t *testing.T) {
	e := newEnvWith(t, func(o *collab.Options) { o.OpWindow, o.CatchUpBytes = 2, 1 }, nil)
	const n = 2000 // The budget is 8,000 bytes; an op is about 2,100.
	texts := replaceOps(e, "d", n, 10)

	c := e.sse("/api/v1/docs/d/events", "4") // Six ops behind.
	ev := c.nextEvent(ssePresence, sseLeave)
	var snap snapshotData
	if err := json.Unmarshal([]byte(ev.data), &snap); err != nil || ev.name != "snapshot" || ev.id != "10" || snap.Text != texts[10] {
		t.Fatalf("first event %s %s, want the snapshot at 10", ev.name, ev.id)
	}
	c.close()

	c = e.sse("/api/v1/docs/d/events", "7") // Three ops behind.
	for _, want := range []string{"8", "9", "10"} {
		if ev := c.nextEvent(ssePresence, sseLeave); ev.name != "op" || ev.id != want {
			t.Fatalf("resumed event %s %s, want op %s", ev.name, ev.id, want)
		}
	}
}

// TestPollPagesByBytes: GET ops ends a page before the op that would take
// it past PageBytes, with one op at least, and the client pages on with
// since = the last op's version until it has them all.
func TestPollPagesByBytes(t *testing.T) {
	for _, c := range []struct {
		pageBytes int
		pages     [][]uint64 // The versions of each page.
	}{
		{5000, [][]uint64{{1, 2}, {3, 4}, {5, 6}}}, // Two ops of about 2,100 bytes each.
		{1000, [][]uint64{{1}, {2}, {3}, {4}, {5}, {6}}},
		{1 << 20, [][]uint64{{1, 2, 3, 4, 5, 6}}},
	} {
		t.Run(fmt.Sprint(c.pageBytes), func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.PageBytes = c.pageBytes })
			replaceOps(e, "d", 2000, 6)
			since := uint64(0)
			for _, want := range append(c.pages, []uint64{}) {
				r := e.get("/api/v1/docs/d/ops?since=" + itoa(since))
				var resp struct {
					Version uint64 `json:"version"`
					Ops     []struct {
						Version uint64 `json:"version"`
					} `json:"ops"`
				}
				r.json(t, &resp)
				var got []uint64
				for _, op := range resp.Ops {
					got = append(got, op.Version)
				}
				if r.status != 200 || resp.Version != 6 || fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("since %d: %d, head %d, ops %v; want %v", since, r.status, resp.Version, got, want)
				}
				if len(got) > 0 {
					since = got[len(got)-1]
				}
			}
		})
	}
}
