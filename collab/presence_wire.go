package collab

import (
	"encoding/json"
	"sort"
	"strconv"
)

// Presence and welcome encoding without reflection. A session's presence is
// encoded once and its bytes kept (session.presBytes) until it changes, so
// a welcome in a big room copies cached bytes instead of encoding every peer.
// The output is byte for byte what encoding/json writes for the same structs
// (the golden transcript pins it).

// presenceEntry is s's presence as a welcome lists it (no "type"), cached.
func (s *session) presenceEntry() []byte {
	if s.presBytes != nil {
		return s.presBytes
	}
	p := &s.pres
	b := make([]byte, 0, 96+len(p.Name))
	b = append(b, `{"session":`...)
	b = appendJSONString(b, p.Session)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, p.Name)
	b = append(b, `,"color":`...)
	b = appendJSONString(b, p.Color)
	b = append(b, `,"cursor":`...)
	if c := p.Cursor; c == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"anchor":`...)
		b = strconv.AppendInt(b, int64(c.Anchor), 10)
		b = append(b, `,"head":`...)
		b = strconv.AppendInt(b, int64(c.Head), 10)
		b = append(b, '}')
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, p.Version, 10)
	b = append(b, '}')
	s.presBytes = b
	return b
}

// presenceMsg is s's presence as a broadcast message (type "presence").
func (s *session) presenceMsg() []byte {
	e := s.presenceEntry()
	const head = `{"type":"presence",`
	b := make([]byte, 0, len(head)+len(e)-1)
	return append(append(b, head...), e[1:]...)
}

// appendJSONString appends s as encoding/json writes it (HTML-safe escapes).
func appendJSONString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil { // Only invalid UTF-8, which json.Marshal replaces; unreachable.
		return append(b, `""`...)
	}
	return append(b, q...)
}

// encodeWelcome encodes w with its peers taken from the room's sessions
// (except s), ordered by session id, from their cached presence bytes.
// w.Peers is ignored.
func (r *room) encodeWelcome(w *Welcome, except *session) []byte {
	peers := make([]*session, 0, len(r.sessions))
	n := 0
	for o := range r.sessions {
		if o != except {
			peers = append(peers, o)
			n += len(o.presenceEntry()) + 1
		}
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].id < peers[j].id })
	var tail []byte
	if w.Text != nil {
		tail = append([]byte(`,"text":`), appendJSONString(nil, *w.Text)...)
	} else {
		ops := w.Ops
		if ops == nil {
			ops = []OpMsg{}
		}
		tail = append([]byte(`,"ops":`), encode(ops)...)
	}
	b := make([]byte, 0, 96+len(w.Session)+n+len(tail))
	b = append(b, `{"type":"welcome","session":`...)
	b = appendJSONString(b, w.Session)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, w.Version, 10)
	b = append(b, `,"role":`...)
	b = appendJSONString(b, w.Role)
	b = append(b, `,"peers":[`...)
	for i, o := range peers {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, o.presenceEntry()...)
	}
	b = append(b, ']')
	b = append(b, tail...)
	return append(b, '}')
}
