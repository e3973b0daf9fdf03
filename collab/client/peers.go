package client

import (
	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/ot"
)

// peerSet is the other sessions' presence, cursors in server coordinates.
// Every committed op moves every cursor, so the peers are kept in one slice
// of values (a map lookup per peer per op, and a pointer chase to each
// cursor, cost a client in a busy room more than the transform itself); idx
// finds a session's entry for the rarer presence and leave messages.
type peerSet struct {
	list []peer
	idx  map[string]int // Session -> index in list.
}

// peer is one session's presence. Version and cursor are kept outside info
// (whose Cursor is nil) so that moving them touches only the entry.
type peer struct {
	version   uint64 // The cursor is valid at this version (>= the state's).
	sel       ot.Selection
	hasCursor bool
	info      collab.Presence // Session, Name, Color.
}

func (ps *peerSet) len() int { return len(ps.list) }

func (ps *peerSet) has(session string) bool {
	_, ok := ps.idx[session]
	return ok
}

// put stores p (a copy: the caller keeps its cursor).
func (ps *peerSet) put(p collab.Presence) {
	e := peer{version: p.Version, hasCursor: p.Cursor != nil}
	if p.Cursor != nil {
		e.sel = *p.Cursor
	}
	p.Cursor, p.Version = nil, 0
	e.info = p
	if i, ok := ps.idx[p.Session]; ok {
		ps.list[i] = e
		return
	}
	if ps.idx == nil {
		ps.idx = map[string]int{}
	}
	ps.idx[p.Session] = len(ps.list)
	ps.list = append(ps.list, e)
}

// remove deletes session's entry and reports whether there was one.
func (ps *peerSet) remove(session string) bool {
	i, ok := ps.idx[session]
	if !ok {
		return false
	}
	last := len(ps.list) - 1
	if i != last {
		ps.list[i] = ps.list[last]
		ps.idx[ps.list[i].info.Session] = i
	}
	ps.list[last] = peer{}
	ps.list = ps.list[:last]
	delete(ps.idx, session)
	return true
}

// moveThrough moves every cursor reported before version through op, the
// op committed as version.
func (ps *peerSet) moveThrough(op ot.Op, version uint64) {
	for i := range ps.list {
		p := &ps.list[i]
		if p.version >= version {
			continue // Reported after this op (it raced ahead of it).
		}
		if p.hasCursor {
			p.sel = ot.TransformSelection(p.sel, op)
		}
		p.version = version
	}
}

// presence returns p as a Presence (without Type), its cursor a fresh copy.
func (p *peer) presence() collab.Presence {
	q := p.info
	q.Version = p.version
	if p.hasCursor {
		c := p.sel
		q.Cursor = &c
	}
	return q
}
