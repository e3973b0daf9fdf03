package collab

import (
	"context"
	"slices"
	"time"
)

// PresenceBus is a Bus that also carries presence between nodes, so that an
// editor sees the peers connected to other nodes too. It is optional: with a
// Bus that does not implement it, presence stays node-local.
//
// Presence is state, not a log, so the bus need not be reliable: every
// BusPoll each room publishes all its sessions (PresenceNews.All), which
// repairs lost news, and a peer not heard of for presenceExpiry polls (its
// node died) is dropped with a leave.
type PresenceBus interface {
	Bus
	// PublishPresence announces news about this node's sessions of doc. Like
	// Publish it runs on the room goroutine: it should hand the message off
	// rather than wait. An error is logged; the next poll repeats the state.
	PublishPresence(ctx context.Context, doc string, news PresenceNews) error
	// SubscribePresence calls deliver with the news published for doc by any
	// node, this one included (a room ignores its own), until cancel returns;
	// deliver is not called after that. deliver never blocks.
	SubscribePresence(doc string, deliver func(PresenceNews)) (cancel func())
}

// PresenceNews is one node's news about its sessions of one document: the
// current presence of those that changed (cursors at Version, as sent to
// clients) and the ids of those that left. With All, Peers lists every
// session the node has there, and the others forget the node's sessions
// that are not in it.
type PresenceNews struct {
	Node  string     `json:"node"`
	Peers []Presence `json:"peers,omitempty"`
	Left  []string   `json:"left,omitempty"`
	All   bool       `json:"all,omitempty"`
}

// presenceExpiry is how many BusPoll periods a peer on another node is kept
// without news of it.
const presenceExpiry = 3

// elsewhereFactor bounds the peers of other nodes a room shows, at this many
// times MaxConnsPerDoc (a cluster of that many full nodes): a node that
// announces more, by a bug or a flood, is not allowed to grow every room
// and every welcome without bound. Past it, new peers are not shown.
const elsewhereFactor = 4

// remotePresenceQueue is how much news waits for the room goroutine; past
// it news is dropped (the next poll's full state repairs it).
const remotePresenceQueue = 64

// elsewherePeer is a session connected to another node, as this room shows
// it to its sessions. Owned by the room goroutine.
type elsewherePeer struct {
	node  string
	pres  Presence // Cursor owned by the room, moved through every op.
	seen  time.Time
	entry []byte // Cached presence entry (presenceEntry's form); nil when stale.
}

func (p *elsewherePeer) presenceEntry() []byte {
	if p.entry == nil {
		p.entry = appendPresenceEntry(nil, &p.pres)
	}
	return p.entry
}

func (p *elsewherePeer) presenceMsg() []byte { return presenceMsgOf(p.presenceEntry()) }

// subscribePresence follows the document's presence news on a PresenceBus.
func (r *room) subscribePresence() {
	pb, ok := r.hub.opts.Bus.(PresenceBus)
	if !ok {
		return
	}
	r.presBus = pb
	r.elsewhere = make(map[string]*elsewherePeer)
	r.remotePres = make(chan PresenceNews, remotePresenceQueue)
	node, ch := r.hub.node, r.remotePres
	r.unsubscribePres = pb.SubscribePresence(r.id, func(n PresenceNews) {
		if n.Node == node {
			return
		}
		select {
		case ch <- n:
		default: // Dropped: the sender's next full state repairs it.
		}
	})
}

// publishPresence announces the presence flushed to this node's sessions
// (msgs, from duePresence) to the other nodes.
func (r *room) publishPresence(msgs []presOut) {
	if r.presBus == nil || len(msgs) == 0 {
		return
	}
	news := PresenceNews{Node: r.hub.node}
	for _, m := range msgs {
		if m.from == nil {
			news.Left = append(news.Left, m.subject)
		} else {
			news.Peers = append(news.Peers, m.from.pres.clone())
		}
	}
	r.sendNews(news)
}

// publishAllPresence announces every session of this node (none when the
// room ends), so that the others repair lost news and forget the rest.
func (r *room) publishAllPresence() {
	if r.presBus == nil {
		return
	}
	news := PresenceNews{Node: r.hub.node, All: true}
	for s := range r.sessions {
		news.Peers = append(news.Peers, s.pres.clone())
	}
	r.sendNews(news)
}

func (r *room) sendNews(news PresenceNews) {
	if err := r.presBus.PublishPresence(r.hub.ctx, r.id, news); err != nil {
		r.hub.busFailed("publish presence", r.id, err)
	}
}

// onPresenceNews shows another node's news to this room's sessions and
// subscribers. A session connected here is shown as this node knows it,
// whatever other nodes say of it (it moved here; their leave is late).
func (r *room) onPresenceNews(n PresenceNews) {
	if r.stopErr != nil {
		return
	}
	now := r.hub.opts.Now()
	if n.All {
		for id, p := range r.elsewhere {
			if p.node == n.Node && !slices.ContainsFunc(n.Peers, func(q Presence) bool { return q.Session == id }) {
				r.forgetElsewhere(id)
			}
		}
	}
	for _, id := range n.Left {
		if p := r.elsewhere[id]; p != nil && p.node == n.Node {
			r.forgetElsewhere(id)
		}
	}
	for _, q := range n.Peers {
		if q.Session == "" || r.byID[q.Session] != nil {
			continue
		}
		q.Type = ""
		if !r.presenceAtHead(&q) {
			// Ahead of this room (its commit in flight holds other nodes'
			// ops back), or unusable: the next full state retries. The node
			// still speaks of the peer, so it is not expired meanwhile.
			if old := r.elsewhere[q.Session]; old != nil && old.node == n.Node {
				old.seen = now
			}
			continue
		}
		old := r.elsewhere[q.Session]
		if old != nil && old.node == n.Node && samePresence(old.pres, q) {
			old.seen = now // Nothing new to show.
			continue
		}
		if old == nil && len(r.elsewhere) >= elsewhereFactor*r.hub.opts.MaxConnsPerDoc {
			continue
		}
		p := &elsewherePeer{node: n.Node, pres: q, seen: now}
		r.elsewhere[q.Session] = p
		r.showElsewhere(q.Session, p.presenceMsg())
		if len(r.subs) > 0 {
			e := q.clone()
			e.Type = TypePresence
			r.publish(Event{Kind: EventPresence, Version: e.Version, Presence: &e})
		}
	}
}

// presenceAtHead moves q's cursor from q.Version to the room's head; false
// when it cannot (q is ahead of this room, too old, or out of range).
func (r *room) presenceAtHead(q *Presence) bool {
	if q.Cursor != nil {
		v := q.Version
		sel, e := r.cursorAtHead(*q.Cursor, &v)
		if e != nil {
			return false
		}
		q.Cursor = &sel
	} else if q.Version > r.head {
		return false
	}
	q.Version = r.head
	q.Name, q.Color = cleanName(q.Name), cleanColor(q.Color, q.Session)
	return true
}

func samePresence(a, b Presence) bool {
	return a.Name == b.Name && a.Color == b.Color && a.Version == b.Version && a.Role == b.Role &&
		(a.Cursor == nil) == (b.Cursor == nil) && (a.Cursor == nil || *a.Cursor == *b.Cursor)
}

// forgetElsewhere drops a peer of another node and tells everyone here.
func (r *room) forgetElsewhere(id string) {
	delete(r.elsewhere, id)
	msg := Leave{Type: TypeLeave, Session: id}
	r.showElsewhere(id, encode(msg))
	r.publish(Event{Kind: EventLeave, Leave: &msg})
}

// showElsewhere sends a presence or leave about a peer of another node to
// every session here, under the same queue rule as local presence.
func (r *room) showElsewhere(subject string, b []byte) {
	for o := range r.sessions {
		r.sendState(o, subject, b)
	}
}

// expireElsewhere forgets the peers whose node has not spoken of them for
// presenceExpiry polls: that node is gone.
func (r *room) expireElsewhere() {
	limit := r.hub.opts.Now().Add(-presenceExpiry * r.hub.opts.BusPoll)
	for id, p := range r.elsewhere {
		if p.seen.Before(limit) {
			r.forgetElsewhere(id)
		}
	}
}
