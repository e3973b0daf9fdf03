package collab

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strconv"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// Presence and welcome encoding without reflection. A session's presence is
// encoded once and its bytes kept (session.presBytes) until it changes, so
// a welcome in a big room copies cached bytes instead of encoding every peer.
// The output is byte for byte what encoding/json writes for the same structs
// (the golden transcript pins it).

// presenceEntry is s's presence as a welcome lists it (no "type"), cached.
func (s *session) presenceEntry() []byte {
	if s.presBytes == nil {
		s.presBytes = appendPresenceEntry(nil, &s.pres)
	}
	return s.presBytes
}

// appendPresenceEntry appends p as a welcome lists it (no "type").
func appendPresenceEntry(b []byte, p *Presence) []byte {
	b = slices.Grow(b, 96+len(p.Name))
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
	if p.Role != "" {
		b = append(b, `,"role":`...)
		b = appendJSONString(b, p.Role)
	}
	return append(b, '}')
}

// presenceMsg is s's presence as a broadcast message (type "presence").
func (s *session) presenceMsg() []byte { return presenceMsgOf(s.presenceEntry()) }

// presenceMsgOf turns a presence entry into a broadcast message.
func presenceMsgOf(e []byte) []byte {
	const head = `{"type":"presence",`
	b := make([]byte, 0, len(head)+len(e)-1)
	return append(append(b, head...), e[1:]...)
}

// appendJSONString appends s as encoding/json writes it (HTML-safe escapes).
// Printable ASCII that needs no escape (session ids, most names) is copied
// as it is; anything else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	if plainASCII(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, err := json.Marshal(s)
	if err != nil { // Only invalid UTF-8, which json.Marshal replaces; unreachable.
		return append(b, `""`...)
	}
	return append(b, q...)
}

// encodeWelcome encodes w with its peers taken from the room's sessions
// (except s), ordered by session id, from their cached presence bytes.
// w.Peers, w.Text and w.Ops are ignored: text, when not nil, is the
// document already encoded as a JSON string (headTextJSON); otherwise ops
// is the catch-up.
func (r *room) encodeWelcome(w *Welcome, except *session, text []byte, ops welcomeOps) []byte {
	type peer struct {
		id    string
		entry []byte
	}
	peers := make([]peer, 0, len(r.sessions)+len(r.elsewhere))
	n := 0
	for o := range r.sessions {
		if o != except {
			peers = append(peers, peer{o.id, o.presenceEntry()})
		}
	}
	for id, p := range r.elsewhere {
		peers = append(peers, peer{id, p.presenceEntry()})
	}
	for _, p := range peers {
		n += len(p.entry) + 1
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].id < peers[j].id })
	tail := len(text)
	if text == nil {
		tail = len(ops.enc) + ops.rest.len()*64
	}
	b := make([]byte, 0, 128+len(w.Session)+len(w.Key)+n+tail)
	b = append(b, `{"type":"welcome","session":`...)
	b = appendJSONString(b, w.Session)
	if w.Key != "" {
		b = append(b, `,"key":`...)
		b = appendJSONString(b, w.Key)
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, w.Version, 10)
	b = append(b, `,"role":`...)
	b = appendJSONString(b, w.Role)
	b = append(b, `,"peers":[`...)
	for i, p := range peers {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, p.entry...)
	}
	b = append(b, ']')
	if text != nil {
		b = append(append(b, `,"text":`...), text...)
		return append(b, '}')
	}
	b = append(b, `,"ops":`...)
	at := len(b)
	b = appendCatchUp(append(b, ops.enc...), ops.rest)
	if len(b) == at {
		b = append(b, '[')
	} else {
		b[at] = '[' // The first entry's comma.
	}
	return append(b, "]}"...)
}

// cachedTextMin is the size from which a room keeps its encoded text for
// the joiners at the same version: encoding a book-sized document (a few
// MB) for every welcome held the room for ~15 ms each, while small texts
// cost little to encode and nothing to keep.
const cachedTextMin = 64 << 10

// headTextJSON is the document at head as a JSON string, from the cache
// when it is large and the head has not moved (apply drops it).
func (r *room) headTextJSON() []byte {
	if r.textCache.b != nil {
		return r.textCache.b
	}
	b := appendJSONString(nil, r.doc.String())
	if len(b) >= cachedTextMin {
		r.textCache.b = b
	}
	return b
}

// encodeOpMsg is encode(m) for the broadcast of every op, without
// reflection: byte for byte what encoding/json writes (TestOpEncodingMatchesJSON),
// including its HTML escaping of the op's text.
func encodeOpMsg(m OpMsg) []byte {
	return appendOpMsg(nil, m)
}

// appendOpMsg appends encodeOpMsg(m) to b.
func appendOpMsg(b []byte, m OpMsg) []byte {
	start := len(b)
	b = slices.Grow(b, ot.JSONSizeHint(m.Op)+48+len(m.Type)+len(m.Session))
	if m.Type != "" {
		b = append(b, `{"type":`...)
		b = appendJSONString(b, m.Type)
		b = append(b, `,"version":`...)
	} else {
		b = append(b, `{"version":`...)
	}
	b = strconv.AppendUint(b, m.Version, 10)
	b = append(b, `,"op":`...)
	opStart := len(b)
	b, err := ot.AppendJSON(b, m.Op)
	if err != nil {
		return append(b[:start], encode(m)...) // The same error answer encode gives.
	}
	if needsHTMLEscape(b[opStart:]) {
		var buf bytes.Buffer
		json.HTMLEscape(&buf, b[opStart:])
		b = append(b[:opStart], buf.Bytes()...)
	}
	b = append(b, `,"session":`...)
	b = appendJSONString(b, m.Session)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, m.Seq, 10)
	return append(b, '}')
}

// appendCatchUp appends ops as a welcome's catch-up entries, each as
// encoding/json writes it in Welcome.Ops and preceded by a comma: the
// entries encoded by a client's goroutine and those the room adds are
// joined as they are (see encodeWelcome).
func appendCatchUp(b []byte, ops opSpan) []byte {
	for _, part := range [...][]storage.OpRecord{ops.stored, ops.recent} {
		for i := range part {
			rec := &part[i]
			b = append(b, ',')
			b = appendOpMsg(b, OpMsg{Version: rec.Version, Op: rec.Op, Session: rec.Session, Seq: rec.Seq})
		}
	}
	return b
}

// encodeAck is encode(Ack{...}) without reflection.
func encodeAck(seq, version uint64) []byte {
	b := make([]byte, 0, 48)
	b = append(b, `{"type":"ack","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, version, 10)
	return append(b, '}')
}

// needsHTMLEscape reports bytes that encoding/json escapes in a Marshaler's
// output: <, >, & and the first byte of U+2028 and U+2029.
func needsHTMLEscape(b []byte) bool {
	for _, c := range b {
		switch c {
		case '<', '>', '&', 0xE2:
			return true
		}
	}
	return false
}

// plainASCII reports that encoding/json writes s unchanged between quotes.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
