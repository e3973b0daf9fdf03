package collab

import (
	"testing"
	"time"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// TestCommitWaitsForAckedAuthors: when a commit ends with an op queued from
// b, the next commit waits for a, whose op was just acknowledged; a's next
// op ends the wait, so the next commit carries both. Without a's op the
// timer ends it.
func TestCommitWaitsForAckedAuthors(t *testing.T) {
	r := roomWithoutLoop(t, Options{})
	a, b := fakeSession(r, "a", "A"), fakeSession(r, "b", "B")
	_, _ = r.join(a, nil)
	_, _ = r.join(b, nil)
	a.quick = true // a types ahead: its ops came right after its acks.
	commitOneWithBQueued := func(seq uint64) {
		t.Helper()
		r.inflight = []*pendingOp{{ws: true, rec: storage.OpRecord{Version: r.head + 1, Op: ot.Op{{Insert: "a"}}, Session: "a", Seq: seq}}}
		r.queued = []*pendingOp{{ws: true, rec: storage.OpRecord{Version: r.head + 2, Op: ot.Op{{Insert: "b"}}, Session: "b", Seq: seq}}}
		r.pendLen = r.doc.Len() + 2
		r.finishCommit(commitResult{})
		if !r.gather.holding() || len(r.gather.awaiting) != 1 || r.gather.awaiting[0] != "a" {
			t.Fatalf("after the commit: holding %v, awaiting %v; want a awaited", r.gather.holding(), r.gather.awaiting)
		}
	}
	commitOneWithBQueued(1)
	r.submit(&submission{base: r.head, op: ot.Op{{Insert: "x"}}, session: "a", seq: 2, from: a})
	if r.gather.holding() || len(r.queued) != 2 {
		t.Fatalf("a's op arrived: holding %v, %d queued; want the commit free with both ops", r.gather.holding(), len(r.queued))
	}
	if !a.quick {
		t.Fatal("an op right after its ack does not mark its author as typing ahead")
	}

	r.queued = nil
	r.pendLen = r.doc.Len()
	commitOneWithBQueued(3)
	<-r.gather.timerC()
	r.gather.stop()
	if r.gather.holding() {
		t.Fatal("the timer did not end the wait")
	}

	// An author at human speed is not waited for.
	a.quick = false
	r.queued = nil
	r.pendLen = r.doc.Len()
	r.inflight = []*pendingOp{{ws: true, rec: storage.OpRecord{Version: r.head + 1, Op: ot.Op{{Insert: "a"}}, Session: "a", Seq: 4}}}
	r.queued = []*pendingOp{{ws: true, rec: storage.OpRecord{Version: r.head + 2, Op: ot.Op{{Insert: "b"}}, Session: "b", Seq: 4}}}
	r.pendLen = r.doc.Len() + 2
	r.finishCommit(commitResult{})
	if r.gather.holding() {
		t.Fatal("the next commit waits for an author who does not type ahead")
	}
	a.ackedAt = time.Now().Add(-time.Second)
	r.submit(&submission{base: r.head, op: ot.Op{{Insert: "y"}}, session: "a", seq: 5, from: a})
	if a.quick {
		t.Fatal("an op a second after its ack marks its author as typing ahead")
	}

	// Nothing queued: nobody waits.
	a.quick = true
	r.queued = nil
	r.pendLen = r.doc.Len()
	r.inflight = []*pendingOp{{ws: true, rec: storage.OpRecord{Version: r.head + 1, Op: ot.Op{{Insert: "a"}}, Session: "a", Seq: 6}}}
	r.finishCommit(commitResult{})
	if r.gather.holding() {
		t.Fatal("a commit with nothing queued holds the next one")
	}
}
