package collab

import "time"

// Presence delivery. Presence is state, not a log: only the latest matters.
// Joins, presence updates and leaves are flushed together, with the next op
// broadcast or at most presenceInterval after the change, at most once per
// session interval, each encoded once.
// A presence message never cuts a session: a recipient whose queue is over
// half full misses it, the room remembers whom it missed (presMissed), and
// later sends the then current state (presence, or leave for one gone).

// presenceChanged arms the flush for presenceInterval from now unless it is
// armed: an op broadcast before then takes the presence along
// (flushWithOps), in the same writer batch and write(2) as the op, so
// presence rarely costs its recipients a write of its own.
func (r *room) presenceChanged() {
	r.armPresence(presenceInterval)
}

// flushWithOps flushes the presence that waits, right after ops were
// broadcast.
func (r *room) flushWithOps() {
	if r.presTimer == nil {
		return
	}
	r.presTimer.Stop()
	r.presTimer = nil
	r.flushPresence()
}

func (r *room) armPresence(d time.Duration) {
	if r.presTimer == nil {
		r.presTimer = time.NewTimer(d)
	}
}

// presOut is one message of a flush: about subject (the session id); from
// is the session it describes (nil for a leave), which is not sent its own.
type presOut struct {
	subject string
	from    *session
	data    []byte
}

// flushPresence sends the leaves and the presence that is due, then whatever
// recipients missed before, and re-arms the timer for what is left.
func (r *room) flushPresence() {
	now := time.Now()
	msgs, next := r.duePresence(now)
	r.publishPresence(msgs)
	stale := false
	for o := range r.sessions {
		r.resendMissed(o)
		for _, m := range msgs {
			if m.from != o {
				r.sendState(o, m.subject, m.data)
			}
		}
		stale = stale || len(o.presMissed) > 0
	}
	switch {
	case stale:
		r.armPresence(presenceInterval)
	case !next.IsZero():
		r.armPresence(next.Sub(now))
	}
}

// duePresence collects the pending leaves and every dirty presence whose
// session interval has passed, and when the next one is due (zero: none).
func (r *room) duePresence(now time.Time) (msgs []presOut, next time.Time) {
	for _, id := range r.presLeaves {
		msg := Leave{Type: TypeLeave, Session: id}
		msgs = append(msgs, presOut{subject: id, data: encode(msg)})
		r.publish(Event{Kind: EventLeave, Leave: &msg})
	}
	r.presLeaves = r.presLeaves[:0]
	for s := range r.sessions {
		if !s.presDirty {
			continue
		}
		due := s.presSent.Add(presenceInterval)
		if now.Before(due) {
			if next.IsZero() || due.Before(next) {
				next = due
			}
			continue
		}
		s.presDirty, s.presSent, s.presAnnounced = false, now, true
		msgs = append(msgs, presOut{subject: s.id, from: s, data: s.presenceMsg()})
		if len(r.subs) > 0 {
			p := s.pres.clone()
			p.Type = TypePresence
			r.publish(Event{Kind: EventPresence, Version: p.Version, Presence: &p})
		}
	}
	return msgs, next
}

// sendState queues a presence or leave for o unless o's queue is over half
// full; then o misses it and is sent the state of subject later.
func (r *room) sendState(o *session, subject string, b []byte) {
	if o.sendHeld(r, b, o.out.half()) {
		return
	}
	if o.presMissed == nil {
		o.presMissed = make(map[string]struct{})
	}
	o.presMissed[subject] = struct{}{}
}

// resendMissed sends o the current state of the sessions it missed, as far
// as its queue allows.
func (r *room) resendMissed(o *session) {
	for id := range o.presMissed {
		var b []byte
		if x := r.byID[id]; x != nil {
			if _, ok := r.sessions[x]; ok && x != o {
				b = x.presenceMsg()
			}
		} else if p := r.elsewhere[id]; p != nil {
			b = p.presenceMsg()
		}
		if b == nil {
			b = encode(Leave{Type: TypeLeave, Session: id})
		}
		if !o.sendHeld(r, b, o.out.half()) {
			return
		}
		delete(o.presMissed, id)
	}
	if o.presMissed != nil && len(o.presMissed) == 0 {
		o.presMissed = nil
	}
}
