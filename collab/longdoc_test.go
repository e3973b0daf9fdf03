package collab

import (
	"runtime"
	"strings"
	"testing"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// TestSnapshotTextOfBatch: the text of the snapshot a commit carries is the
// head's with the whole batch applied, in order (inserts, deletes by count
// and by text, one of text the batch inserted, emoji, combining marks), and
// making it copies the document a fixed number of times, not once for each
// op of the batch: a batch of 128 ops in a document of a million code
// points took the room goroutine 130 ms and 130 MB.
func TestSnapshotTextOfBatch(t *testing.T) {
	h := NewHub(nil, Options{})
	defer h.stop()
	r := newRoom(h, "snap", false)
	text := strings.Repeat("abc 🎉\n", 50_000)
	r.doc = ot.NewDocument(text)
	want := text
	runes := func() []rune { return []rune(want) }
	for i := range 64 {
		n := len(runes())
		p := 1 + (i/4*7919)%(n-20)
		var op ot.Op
		switch i % 4 {
		case 0:
			op = ot.Op{{Skip: p}, {Insert: "x🎉"}}
		case 1: // What the op before inserted.
			op = ot.Op{{Skip: p}, {Delete: 2, DelText: "x🎉"}}
		case 2:
			op = ot.Op{{Skip: p}, {Delete: 2}}
		case 3:
			op = ot.Op{{Skip: p}, {Delete: 3, DelText: string(runes()[p : p+3])}, {Insert: "Ω"}, {Skip: 5}, {Insert: "e\u0301"}}
		}
		var err error
		if want, err = ot.Apply(want, op); err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
		r.inflight = append(r.inflight, &pendingOp{rec: storage.OpRecord{Version: uint64(i + 1), Op: op}})
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, _ := r.textAfter(r.inflight)
	runtime.ReadMemStats(&after)
	if got != want {
		t.Fatalf("snapshot text of %d bytes differs from the ops applied one by one (%d bytes)", len(got), len(want))
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4*uint64(len(text)) {
		t.Errorf("allocated %d bytes, %.1f times the text, for a batch of %d ops", grew, float64(grew)/float64(len(text)), len(r.inflight))
	}
}

// TestNoSnapshotOfTextThatCannotBeBuilt: when the ops of a commit do not
// apply to the room's text (a bug elsewhere), textAfter says so, and the
// commit carries no snapshot rather than one of a wrong text, which a
// restart would load as the document.
func TestNoSnapshotOfTextThatCannotBeBuilt(t *testing.T) {
	h := NewHub(nil, Options{})
	defer h.stop()
	r := newRoom(h, "bad", false)
	r.doc = ot.NewDocument("abc")
	r.inflight = []*pendingOp{{rec: storage.OpRecord{Version: 1, Op: ot.Op{{Skip: 1}, {Delete: 5}}}}}
	if text, ok := r.textAfter(r.inflight); ok {
		t.Fatalf("textAfter built %q from an op that does not apply", text)
	}
}
