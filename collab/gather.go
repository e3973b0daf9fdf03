package collab

import "time"

// gatherDelay is how long a room holds its next commit for the authors it
// has just acknowledged and that type ahead. An editor with typing buffered
// sends it as soon as its ack arrives (one op in flight); without the wait,
// two busy editors alternate, one op per commit, each op costing its own
// commit, ack write and broadcast write. With it, the next commit carries
// both editors' ops and each editor's ack and broadcast leave in one write.
// Only authors whose previous op came within gatherDelay of the ack before
// it (session.quick) are waited for: someone typing at human speed never
// delays anyone.
const gatherDelay = time.Millisecond

// gather holds the next commit after finishCommit acknowledged authors (by
// session id) that have nothing queued while others do: ops queued for the
// next commit wait up to gatherDelay for those authors' next ops. Owned by
// the room goroutine.
type gather struct {
	awaiting []string    // Acknowledged authors whose next op is awaited.
	timer    *time.Timer // Reused; armed while awaiting is not empty.
}

// holding reports that the next commit waits.
func (g *gather) holding() bool { return len(g.awaiting) > 0 }

// timerC is the timer's channel while holding, else nil.
func (g *gather) timerC() <-chan time.Time {
	if !g.holding() {
		return nil
	}
	return g.timer.C
}

// start awaits acked (authors of the ops just committed) that have no op in
// queued, when queued is not empty.
func (g *gather) start(acked []string, queued []*pendingOp) {
	if len(queued) == 0 {
		return
	}
	for _, id := range acked {
		if !queuedFrom(queued, id) {
			g.awaiting = append(g.awaiting, id)
		}
	}
	if !g.holding() {
		return
	}
	if g.timer == nil {
		g.timer = time.NewTimer(gatherDelay)
	} else {
		g.timer.Reset(gatherDelay)
	}
}

// arrived notes an op from session id; the hold ends when nobody else is
// awaited.
func (g *gather) arrived(id string) {
	for i, a := range g.awaiting {
		if a == id {
			g.awaiting = append(g.awaiting[:i], g.awaiting[i+1:]...)
			break
		}
	}
	if !g.holding() && g.timer != nil {
		g.timer.Stop()
	}
}

// stop ends the hold (timer fired, or the room is draining).
func (g *gather) stop() {
	clear(g.awaiting)
	g.awaiting = g.awaiting[:0]
	if g.timer != nil {
		g.timer.Stop()
	}
}

func queuedFrom(queued []*pendingOp, id string) bool {
	for _, p := range queued {
		if p.ws && p.rec.Session == id {
			return true
		}
	}
	return false
}
