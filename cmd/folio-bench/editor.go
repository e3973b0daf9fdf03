package main

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/collab/client"
	"github.com/foliodocs/folio/ot"
)

// window is the measured interval of a phase; samples outside it (warm-up,
// drain) are not counted. Times are UnixNano; zero end means still open.
type window struct {
	start, end atomic.Int64
}

func (w *window) contains(t time.Time) bool {
	s, e, n := w.start.Load(), w.end.Load(), t.UnixNano()
	return s != 0 && n >= s && (e == 0 || n < e)
}

// opKey names a committed op across the run: its author's session and seq.
type opKey struct {
	session string
	seq     uint64
}

// flight is an op on its way to the other editors of its document.
type flight struct {
	sent      time.Time   // Zero until the author records it.
	remaining int         // Editors that have not received it yet.
	early     []time.Time // Arrivals seen before the author recorded sent.
}

// docRun is one document of a run and the ops in flight on it.
type docRun struct {
	id      string
	editors []*editor // Static once every editor has dialled.

	mu      sync.Mutex
	flights map[opKey]*flight
}

// sent records that the author sent op k at t and returns the arrivals that
// raced ahead of this record.
func (d *docRun) sent(k opKey, t time.Time) []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.flights[k]
	if f == nil {
		if len(d.editors) > 1 {
			d.flights[k] = &flight{sent: t, remaining: len(d.editors) - 1}
		}
		return nil
	}
	f.sent = t
	early := f.early
	f.early = nil
	if f.remaining <= 0 {
		delete(d.flights, k)
	}
	return early
}

// arrived records that another editor received op k at t and returns when it
// was sent (zero when the author has not recorded it yet).
func (d *docRun) arrived(k opKey, t time.Time) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.flights[k]
	if f == nil {
		f = &flight{remaining: len(d.editors) - 1}
		d.flights[k] = f
	}
	f.remaining--
	sent := f.sent
	if sent.IsZero() {
		f.early = append(f.early, t)
	} else if f.remaining <= 0 {
		delete(d.flights, k)
	}
	return sent
}

// editor is one simulated person typing into one document through the real
// Go client. It mirrors the client's one-op-in-flight rule to learn when each
// seq was sent: an edit made with nothing in flight is sent at once with the
// next seq; edits made meanwhile are composed and sent when the ack arrives.
type editor struct {
	doc    *docRun
	c      *client.Client
	typist *typist
	rng    *rand.Rand
	win    *window
	// deleteText makes deletes carry their text ({"d":"text"}). Static.
	deleteText bool

	errors atomic.Int64
	codes  *codeCounts // Shared by the run's editors.

	mu          sync.Mutex // Held across Submit so the mirror follows the client's order.
	session     string
	inflight    bool
	inflightSeq uint64
	sentAt      time.Time
	buffered    bool
	lastSeq     uint64
	// lost is set by a reconnect: how the client numbered and sent what was
	// typed meanwhile (a resend, a catch-up, a resync) is not for the mirror
	// to guess, so the next ack resynchronizes it instead of being measured.
	lost   bool
	online bool // Went online once (the first connection is no reconnect).
	stats  editorStats
}

// editorStats are an editor's counts within the window.
type editorStats struct {
	edits, acks, deliveries, mismatches int64
	ack, bcast                          histogram
}

func (s *editorStats) merge(o *editorStats) {
	s.edits += o.edits
	s.acks += o.acks
	s.deliveries += o.deliveries
	s.mismatches += o.mismatches
	s.ack.merge(&o.ack)
	s.bcast.merge(&o.bcast)
}

// takeStats returns the editor's stats so far and starts new ones.
func (e *editor) takeStats() editorStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	e.stats = editorStats{}
	return s
}

func (e *editor) options(name string, tgt *target) client.Options {
	return client.Options{
		Name:       name,
		Token:      tgt.token,
		Header:     tgt.header(),
		HTTPClient: tgt.http,
		Color:      "#3366ff",
		OnAck:      e.onAck,
		OnRemoteOp: e.onRemoteOp,
		OnError: func(m collab.ErrorMsg) {
			e.errors.Add(1)
			e.codes.add(string(m.Code))
		},
		OnStatus: func(s client.Status, err error) {
			if s == client.StatusOffline && err != nil {
				e.codes.add("disconnected: " + err.Error())
			}
			if s == client.StatusOnline {
				e.mu.Lock()
				e.lost = e.online
				e.online = true
				e.mu.Unlock()
			}
		},
	}
}

// edit makes one simulated edit. An op that no longer fits because a remote
// op changed the text in between (shorter, or other text where a delete
// names it) is made again from the new text.
func (e *editor) edit() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var err error
	for try := 0; try < 3; try++ {
		var op ot.Op
		if op, err = e.nextOp(); err != nil {
			continue
		}
		now := time.Now() // Submit may write the op before it returns.
		if err = e.c.Submit(op); err == nil {
			e.submitted(now)
			return nil
		}
		if errors.Is(err, client.ErrClosed) {
			return err
		}
	}
	return err
}

// nextOp returns the typist's next edit of the client's local text as an
// op. With deleteText a delete carries the text it deletes, read from the
// local text now, as the browser reads it from its editor; Submit checks it
// again under the client's lock, so a remote op applied in between makes
// Submit refuse the op (and edit try again) before the server sees it. A
// delete copies only the text it deletes (a copy of the whole document per
// delete was a tenth of the generator's CPU at 30,000 ops/s).
func (e *editor) nextOp() (ot.Op, error) {
	ed := e.typist.next(e.c.Len())
	if ed.del == 0 || !e.deleteText {
		return patchOp(patch{Pos: ed.pos, Del: ed.del, Ins: ed.ins}), nil
	}
	op, err := deleteOp(e.c, ed.pos, ed.del)
	if err == nil && ed.ins != "" {
		op = append(op, ot.Component{Insert: ed.ins})
	}
	return op, err
}

// errTextShrank: the text is shorter than the length the edit was made for.
var errTextShrank = errors.New("delete past the end of the text (a remote op shortened it)")

// slicer reads code points of a text: a client's local text, or an
// ot.Document in tests.
type slicer interface {
	Slice(pos, n int) (string, bool)
}

// deleteOp deletes n > 0 code points of text at pos and carries them
// ({"d":"text"}).
func deleteOp(text slicer, pos, n int) (ot.Op, error) {
	del, ok := text.Slice(pos, n)
	if !ok || n <= 0 {
		return nil, errTextShrank
	}
	var op ot.Op
	if pos > 0 {
		op = append(op, ot.Component{Skip: pos})
	}
	return append(op, ot.Component{Delete: n, DelText: del}), nil
}

// submitted updates the mirror after a successful Submit; e.mu is held.
func (e *editor) submitted(now time.Time) {
	if e.win.contains(now) {
		e.stats.edits++
	}
	if e.inflight {
		e.buffered = true
		return
	}
	e.send(now)
}

// send records that the next seq left at now; e.mu is held.
func (e *editor) send(now time.Time) {
	e.lastSeq++
	e.inflight, e.inflightSeq, e.sentAt = true, e.lastSeq, now
	// Arrivals can race ahead of this record: Submit writes the op before
	// returning, and the client sends a buffered op before calling OnAck
	// (then now, the ack's time, is a little after the real send).
	for _, at := range e.doc.sent(opKey{e.session, e.lastSeq}, now) {
		if e.win.contains(now) {
			e.stats.bcast.add(max(0, at.Sub(now)))
		}
	}
}

func (e *editor) onAck(seq, version uint64) {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	// Nothing can Submit while e.mu is held, so Synced is the client's state
	// right after this ack: anything still pending is now in flight.
	e.acked(seq, now, !e.c.Synced())
}

// acked updates the mirror for the ack of seq at now; pending says the
// client has an op in flight after it. e.mu is held.
//
// The client may send its buffer before this runs, and edits made between
// its handling of the ack and this callback reach the client first: the
// first is sent at once (nothing is in flight), the next ones are composed
// into a buffer that the mirror, which saw both as buffered, cannot tell
// apart. pending settles it: the buffer is in flight after the next ack.
func (e *editor) acked(seq uint64, now time.Time, pending bool) {
	if e.lost {
		// After a reconnect: not measured. Once this ack is handled the
		// client has at most one op in flight, seq+1, sent about now.
		e.lost = false
		if e.win.contains(now) {
			e.stats.acks++
		}
		e.lastSeq, e.inflight, e.buffered = seq, false, false
		if pending {
			e.send(now)
		}
		return
	}
	if !e.inflight || seq != e.inflightSeq {
		// The mirror lost track (e.g. a resync resolved an op differently):
		// count it, skip the sample, and follow the client's numbering.
		e.stats.mismatches++
		e.lastSeq = max(e.lastSeq, seq)
	} else if e.win.contains(e.sentAt) {
		e.stats.ack.add(now.Sub(e.sentAt))
	}
	if e.win.contains(now) {
		e.stats.acks++
	}
	e.inflight = false
	if e.buffered || pending {
		e.buffered = false
		e.send(now)
	}
}

func (e *editor) onRemoteOp(m collab.OpMsg) {
	now := time.Now()
	sent := e.doc.arrived(opKey{m.Session, m.Seq}, now)
	e.recordBroadcast(sent, now)
}

// recordBroadcast counts a delivery at arrival of an op sent at sent (zero
// sent: not known yet, the author will record it).
func (e *editor) recordBroadcast(sent, arrival time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.win.contains(arrival) {
		e.stats.deliveries++
	}
	if !sent.IsZero() && e.win.contains(sent) {
		e.stats.bcast.add(arrival.Sub(sent))
	}
}

// moveCursor sets a random cursor or selection.
func (e *editor) moveCursor() {
	n := e.c.Len()
	a := e.rng.IntN(n + 1)
	h := a
	if e.rng.IntN(4) == 0 {
		h = e.rng.IntN(n + 1)
	}
	e.c.SetCursor(&ot.Selection{Anchor: a, Head: h})
}

// typeLoop edits at rate edits/s and moves the cursor at presence moves/s
// until ctx ends. rate is read on every step, so --find-max can change it.
// A loop that falls behind does not catch up in a burst: it skips ahead.
func (e *editor) typeLoop(ctx context.Context, rate *atomicFloat, presence float64) {
	now := time.Now()
	nextEdit := now.Add(e.jitter(rate.load()))
	nextCursor := now.Add(e.jitter(presence))
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		at := nextEdit
		if presence > 0 && nextCursor.Before(at) {
			at = nextCursor
		}
		timer.Reset(time.Until(at))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		if !nextEdit.After(now) {
			if r := rate.load(); r > 0 {
				if err := e.edit(); err != nil && !errors.Is(err, client.ErrClosed) {
					e.errors.Add(1)
					e.codes.add("submit: " + err.Error())
				}
			}
			nextEdit = later(nextEdit, now, rate.load(), e.rng)
		}
		if presence > 0 && !nextCursor.After(now) {
			e.moveCursor()
			nextCursor = later(nextCursor, now, presence, e.rng)
		}
	}
}

// jitter is a random first delay within one period, so editors do not type
// in lockstep. A zero rate gives an hour (the loop only rechecks the rate).
func (e *editor) jitter(rate float64) time.Duration {
	if rate <= 0 {
		return time.Hour
	}
	return time.Duration(e.rng.Float64() * float64(time.Second) / rate)
}

// later schedules the next event one period (±20 %) after prev, or after now
// when the loop has fallen more than a period behind.
func later(prev, now time.Time, rate float64, rng *rand.Rand) time.Time {
	if rate <= 0 {
		return now.Add(200 * time.Millisecond)
	}
	period := time.Duration(float64(time.Second) / rate * (0.8 + 0.4*rng.Float64()))
	next := prev.Add(period)
	if next.Before(now.Add(-period)) {
		next = now
	}
	return next
}

// atomicFloat is a float64 that goroutines may read while another sets it.
type atomicFloat struct{ bits atomic.Uint64 }

func (f *atomicFloat) load() float64   { return math.Float64frombits(f.bits.Load()) }
func (f *atomicFloat) store(v float64) { f.bits.Store(math.Float64bits(v)) }

// codeCounts counts errors by code (or message) for the report.
type codeCounts struct {
	mu sync.Mutex
	m  map[string]int64
}

func (c *codeCounts) add(code string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int64{}
	}
	if len(c.m) < 20 {
		c.m[code]++
	} else if _, ok := c.m[code]; ok {
		c.m[code]++
	}
}

// take returns the counts so far and starts again.
func (c *codeCounts) take() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.m
	c.m = nil
	return m
}
