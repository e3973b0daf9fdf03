package collab

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/foliodocs/folio/storage"
)

// EventKind names a Subscription event; the values double as SSE event names.
type EventKind string

const (
	EventSnapshot EventKind = "snapshot" // Text at Version.
	EventOp       EventKind = "op"       // Op produced Version.
	EventPresence EventKind = "presence" // A session's presence changed.
	EventLeave    EventKind = "leave"    // A session left.
)

// Event is one item of a Subscription. Which pointer is set follows Kind.
type Event struct {
	Kind     EventKind
	Version  uint64
	Text     string
	Op       *OpMsg
	Presence *Presence
	Leave    *Leave
	// JSON, when not nil, is the event's payload as encoding/json writes
	// it (for an op: Op without its type; for a snapshot: {"version",
	// "text"}), encoded once and shared by subscribers: read-only.
	JSON []byte
}

// Subscription follows a document without a WebSocket (SSE, long-polling).
// Its live queue is bounded by Options.SendQueue events, and what waits for
// its consumer by Options.SendQueueBytes bytes of payloads (Event.JSON):
// the queued events' and those of the backlog it was given when it
// subscribed (a snapshot: up to 6 bytes a code point of the text), until
// each is taken. A subscriber that falls behind is dropped (Next returns
// slow_consumer) and resumes by version with a new Subscribe. The missed
// ops of a catch-up are not counted: they are bounded by the catch-up's
// byte budget (catchUpBudget), and made events only as they are taken.
type Subscription struct {
	room *room // Set by the room in subscribe; static afterwards.
	// The catch-up, consumed by Next first (owned by the caller of Next):
	// the ops after the version it subscribed from, as the room holds them
	// (neither copied nor made events on the room goroutine: up to
	// CatchUpLimit of them), made events as they are taken, then the rest
	// of the backlog.
	ops     opSpan
	backlog []Event
	ch      chan Event    // The room sends without blocking.
	bytes   atomic.Int64  // Payload bytes of the events in backlog and ch: the room adds, the taker subtracts.
	done    chan struct{} // Closed by end.
	endOnce sync.Once
	err     *Error // Why it ended; set before done closes.
	// seen is the version it subscribed from when that was past the room's
	// head: ops committed but not applied yet (a poller read them from
	// storage). Owned by the room, which does not send it ops up to seen.
	seen uint64
}

var errSubClosed = errorf(CodeUnavailable, "subscription closed")

// Subscribe follows document id. With since nil the first event is a
// snapshot; with a version the server can replay from, the first events are
// the ops after it; with an older version, or one whose ops pass the
// catch-up's byte budget (catchUpBudget), a snapshot; with a version being
// committed (in storage already, its commit not ended: a poller read it),
// the ops after it as they come; past that, version_ahead. Current presence
// follows the catch-up. A document with MaxSubscribersPerDoc subscriptions
// refuses more with too_many_connections.
func (h *Hub) Subscribe(ctx context.Context, id string, since *uint64) (*Subscription, error) {
	sub := &Subscription{ch: make(chan Event, h.opts.SendQueue), done: make(chan struct{})}
	var rd *joinRead // The ops before the room's window, read here (see readNeed).
	for {
		var need *readNeed
		var e *Error
		if err := h.withRoom(ctx, id, func(r *room) { need, e = r.subscribe(sub, since, rd) }); err != nil {
			return nil, AsError(err)
		}
		switch {
		case e != nil:
			return nil, e
		case need == nil:
			return sub, nil
		}
		rd, _ = h.readFor(ctx, id, need, rd) // It reads no seq: no error.
	}
}

// subscribe attaches sub at since. When the catch-up needs ops older than
// the window that rd does not hold, it changes nothing and says what to read.
func (r *room) subscribe(sub *Subscription, since *uint64, rd *joinRead) (*readNeed, *Error) {
	if r.stopErr != nil {
		return nil, r.stopErr
	}
	if len(r.subs) >= r.hub.opts.MaxSubscribersPerDoc {
		return nil, errorf(CodeTooManyConnections, "too many viewers of this document")
	}
	if e := r.reachVersion(since); e != nil {
		return nil, e
	}
	committing := false
	switch {
	case since == nil || *since <= r.head:
	case *since <= r.head+uint64(len(r.inflight)):
		// Versions the store already holds while their commit ends here: the
		// caller read them from storage. It follows from there (the commit's
		// ops reach it as they reach everyone, and are skipped).
		sub.seen, committing = *since, true
	default:
		return nil, errorf(CodeVersionAhead, "version is ahead of the document")
	}
	if since != nil && !committing {
		need := readNeed{base: r.base, head: r.head}
		ops, e := r.catchUpOps(*since, r.catchUpBudget(), rd, &need)
		switch {
		case need.any():
			return &need, nil
		case e == nil:
			// The room never changes the records it has, so the subscriber
			// may read them (see opSpan).
			sub.ops = ops
		case e.Code != CodeVersionTooOld:
			return nil, e
		default:
			since = nil
		}
	}
	if since == nil {
		sub.backlog = append(sub.backlog, r.snapshotEvent())
	}
	for _, p := range r.peers(nil) {
		p.Type = TypePresence
		sub.backlog = append(sub.backlog, Event{Kind: EventPresence, Version: p.Version, Presence: &p})
	}
	n := 0
	for i := range sub.backlog {
		n += len(sub.backlog[i].JSON)
	}
	sub.bytes.Add(int64(n)) // Before any publish can offer it an event.
	r.listedAll()
	sub.room = r
	r.subs[sub] = struct{}{}
	return nil, nil
}

// snapshotEvent is the snapshot at head, with its payload as
// encoding/json writes {"version","text"} (the text's encoding is
// headTextJSON's, which welcomes share). For a large text the event is kept
// until the head moves (apply drops it): the viewers of a large document
// arriving together (a page shared, a server restarted) cost the room one
// walk and one encoding of the text, not one each.
func (r *room) snapshotEvent() Event {
	if r.snapCache.JSON != nil {
		return r.snapCache
	}
	text := r.headTextJSON()
	b := strconv.AppendUint(append(make([]byte, 0, len(text)+32), `{"version":`...), r.head, 10)
	b = append(append(append(b, `,"text":`...), text...), '}')
	ev := Event{Kind: EventSnapshot, Version: r.head, Text: r.doc.String(), JSON: b}
	if len(text) >= cachedTextMin {
		r.snapCache = ev
	}
	return ev
}

// publish hands ev to every subscription, dropping those that are full.
func (r *room) publish(ev Event) {
	n, maxBytes := int64(len(ev.JSON)), int64(r.hub.opts.SendQueueBytes)
	for sub := range r.subs {
		if ev.Kind == EventOp && ev.Version <= sub.seen {
			continue
		}
		if !sub.offer(ev, n, maxBytes) {
			delete(r.subs, sub)
			sub.end(errorf(CodeSlowConsumer, "subscriber fell behind; resume from the last version"))
		}
	}
}

// offer queues ev, of n payload bytes, without blocking; false when the
// queue is full: SendQueue events, or maxBytes bytes or more (so one event
// of any size is taken by a queue below it). A refused event's bytes stay
// counted: the subscription ends.
func (s *Subscription) offer(ev Event, n, maxBytes int64) bool {
	if s.bytes.Add(n)-n >= maxBytes {
		return false
	}
	select {
	case s.ch <- ev:
		return true
	default:
		return false
	}
}

// took is ev, just taken from ch or the backlog, no longer counted in the
// subscription's bytes.
func (s *Subscription) took(ev Event) Event {
	s.bytes.Add(-int64(len(ev.JSON)))
	return ev
}

func (s *Subscription) end(e *Error) {
	s.endOnce.Do(func() {
		s.err = e
		close(s.done)
	})
}

// Next blocks for the next event. It returns an *Error when the subscription
// ended: slow_consumer (fell behind), deleted, unavailable (shutdown or Close).
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	if s.ops.len() > 0 || len(s.backlog) > 0 {
		return s.popBacklog(), nil
	}
	select {
	case ev := <-s.ch:
		return s.took(ev), nil
	case <-s.done:
		select {
		case ev := <-s.ch:
			return s.took(ev), nil
		default:
			return Event{}, s.err
		}
	case <-ctx.Done():
		return Event{}, AsError(ctx.Err())
	}
}

// Err is why the subscription ended (slow_consumer, deleted, unavailable),
// or nil while it has not, whatever events it still holds. Unlike Next, it
// does not race a caller's context: a consumer ended by its own context
// (a draining server) can still tell that the document was deleted.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Ready appends to evs, in order, the events that are available now without
// blocking, until evs holds max, and returns it. A consumer that writes in
// batches calls it after Next: what piled up while it wrote goes out
// together.
func (s *Subscription) Ready(evs []Event, max int) []Event {
	for len(evs) < max {
		if s.ops.len() > 0 || len(s.backlog) > 0 {
			evs = append(evs, s.popBacklog())
			continue
		}
		select {
		case ev := <-s.ch:
			evs = append(evs, s.took(ev))
		default:
			return evs
		}
	}
	return evs
}

// Close ends the subscription and detaches it from its document.
func (s *Subscription) Close() {
	s.end(errSubClosed)
	if r := s.room; r != nil {
		_ = r.do(context.Background(), func() { delete(r.subs, s) })
	}
}

// pop takes the span's first op; the parts are dropped once taken, so
// that a subscription does not keep them for the rest of its life.
func (s *opSpan) pop() storage.OpRecord {
	part := &s.stored
	if len(s.stored) == 0 {
		part = &s.recent
	}
	rec := (*part)[0]
	if *part = (*part)[1:]; len(*part) == 0 {
		*part = nil
	}
	return rec
}

// popBacklog takes the first catch-up event, clearing its slot: the backlog
// may start with a snapshot, whose text the subscription must not keep for
// the rest of its life. A backlog event's payload leaves the queue's bytes
// (subscribe counted it); ops of the span were never counted.
func (s *Subscription) popBacklog() Event {
	if s.ops.len() > 0 {
		rec := s.ops.pop()
		m := OpMsg{Type: TypeOp, Version: rec.Version, Op: rec.Op, Session: rec.Session, Seq: rec.Seq}
		return Event{Kind: EventOp, Version: m.Version, Op: &m}
	}
	ev := s.backlog[0]
	s.backlog[0] = Event{}
	if s.backlog = s.backlog[1:]; len(s.backlog) == 0 {
		s.backlog = nil
	}
	return s.took(ev)
}
