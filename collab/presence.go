package collab

import (
	"hash/fnv"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// presenceInterval coalesces presence broadcasts to at most 20 a second per
// session, and delays a change by at most that much (see presenceChanged).
const presenceInterval = 50 * time.Millisecond

var colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// palette is where the server picks a colour for a session that gave none.
var palette = []string{"#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
	"#42d4f4", "#f032e6", "#469990", "#9a6324", "#800000", "#808000", "#000075"}

type presenceUpdate struct {
	version *uint64
	cursor  CursorField
	name    *string
	color   *string
}

// join runs on the room goroutine: it admits s, queues its welcome (before
// any later broadcast) and announces it. When s needs what only storage
// has (the ops after its version older than the window, its session's last
// seq) and rd does not hold it, join changes nothing and says what to read
// (see readNeed).
func (r *room) join(s *session, rd *joinRead) (*readNeed, *Error) {
	if r.stopErr != nil {
		return nil, r.stopErr
	}
	if len(r.sessions) >= r.hub.opts.MaxConnsPerDoc {
		return nil, errorf(CodeTooManyConnections, "too many connections to this document")
	}
	if e := r.reachVersion(s.since); e != nil {
		return nil, e
	}
	need := readNeed{base: r.base, head: r.head}
	var ops opSpan
	var opsErr *Error
	if s.since != nil && *s.since <= r.head {
		ops, opsErr = r.catchUpOps(*s.since, r.catchUpBudget(), rd, &need)
	}
	if s.resumed && r.needSeq(s.id, rd) != nil {
		need.session = s.id
	}
	if need.any() {
		return &need, nil
	}
	if !s.resumed {
		r.seqs[s.id] = seqRec{} // A fresh random id has no history.
	} else if last, e := r.lastSeq(s.id); e != nil { // Warms the exactly-once record.
		return nil, e
	} else if r.byID[s.id] == nil && s.key == "" {
		if e := r.resumeHolder(s, last, rd, &need); e != nil {
			return nil, e
		}
		if need.any() {
			return &need, nil
		}
	}
	catchUp := s.since != nil && *s.since <= r.head && opsErr == nil
	var wops welcomeOps
	if catchUp {
		var ok bool
		if wops, ok = r.welcomeOps(*s.since, ops, rd, &need); !ok {
			return &need, nil
		}
	}
	if old := r.byID[s.id]; old != nil {
		if s.key == "" && !old.sameHolder(s) {
			return nil, errorf(CodeForbidden, "that session id belongs to another participant")
		}
		if old.arrival.After(s.arrival) {
			// The client opened old after this connection: it gave up on
			// this one while its hello waited (for a read off the room, or
			// before the hub took the connection after its 101).
			// The newer one keeps the session; this one is the replaced.
			return nil, errReplaced
		}
		delete(r.sessions, old)
		old.closeAfterQueued(errReplaced)
		// Its leave will find it gone: the peers that know the id are owed
		// a leave when the new session goes.
		s.presAnnounced = old.presAnnounced
	}
	w := Welcome{Type: TypeWelcome, Session: s.id, Key: s.key, Version: r.head, Role: string(s.role)}
	var text []byte
	if !catchUp {
		text = r.headTextJSON()
	}
	s.pres = Presence{Session: s.id, Name: s.name, Color: s.color, Version: r.head}
	if s.role == RoleView {
		s.pres.Role = string(RoleView)
	}
	s.presBytes = nil
	// It moved here from another node: its presence replaces that node's.
	delete(r.elsewhere, s.id)
	s.send(r.encodeWelcome(&w, nil, text, wops))
	r.listedAll()
	r.sessions[s] = struct{}{}
	r.byID[s.id] = s
	r.boundSeqs()
	if n := len(r.presLeaves); n > 0 {
		// A reconnect within the tick: its presence says it all, and since
		// the peers know its id, its leave is owed if it goes again.
		r.presLeaves = slices.DeleteFunc(r.presLeaves, func(id string) bool { return id == s.id })
		s.presAnnounced = s.presAnnounced || len(r.presLeaves) < n
	}
	s.presDirty = true
	r.presenceChanged()
	return nil, nil
}

// resumeHolder refuses a legacy resume (by id, without the key), by a holder
// of a named token, of a session whose committed ops another name wrote:
// session ids are not secret, and one resumed by someone else while its
// owner is offline would take the owner's next seqs, so the owner's resent
// ops would be answered as duplicates and dropped. Unnamed holders (open
// access) are not told apart; sessions with a key cannot be resumed by id
// at all (publicOnlyID), and a resume with the key needs no such check.
// The session's last op, when older than the window, comes from rd; when
// rd lacks it, need asks the caller to read it (see readNeed), unless rd
// was the caller's final read: then the room reads it (see joinReads).
func (r *room) resumeHolder(s *session, last seqRec, rd *joinRead, need *readNeed) *Error {
	if !s.nameFixed || last.seq == 0 || last.version == 0 {
		return nil
	}
	var rec *storage.OpRecord
	switch start := r.head - uint64(len(r.window)); {
	case last.version > start && last.version <= r.head:
		rec = &r.window[last.version-start-1]
	case rd != nil && rd.base == r.base && rd.holderAt == last.version:
		rec = rd.holder // Committed records never change: still the op read.
	case !rd.isFinal():
		need.holder = last.version
		return nil
	default:
		var e *Error
		if rec, e = r.hub.readOp(r.hub.ctx, r.id, last.version); e != nil {
			return e
		}
	}
	if rec != nil && rec.Session == s.id && rec.Author != s.name {
		return errorf(CodeForbidden, "that session id belongs to another participant")
	}
	return nil
}

// sameHolder reports whether s, a legacy hello (by id, without the key), may
// take over o's session id: session ids are not secret (every participant
// sees them), so a takeover needs the same role and the same name fixed by
// the token. Otherwise a viewer, a share link's included, could close every
// editor with 4003, which the browser editor takes as final. With open
// access everyone is an unnamed editor. A hello with the key proves it is
// the session's client and needs no such check.
func (o *session) sameHolder(s *session) bool {
	return o.role == s.role && o.nameFixed == s.nameFixed && (!s.nameFixed || o.name == s.name)
}

// listedAll notes that every session was just listed to someone (in a
// welcome or a subscription's backlog) before its announcement: its leave
// is owed from now on, or that someone would keep a ghost.
func (r *room) listedAll() {
	for o := range r.sessions {
		o.presAnnounced = true
	}
}

// leave removes s (if it is still attached). Peers that were told about it
// hear of the leave with the next presence flush; one that was never
// announced (joined and left before the flush) costs nobody a message.
func (r *room) leave(s *session) {
	if _, ok := r.sessions[s]; !ok {
		return
	}
	delete(r.sessions, s)
	if r.byID[s.id] == s {
		delete(r.byID, s.id)
	}
	if s.presAnnounced {
		r.presLeaves = append(r.presLeaves, s.id)
		r.presenceChanged()
	}
}

// peers is everyone's presence but except's, ordered by session id.
func (r *room) peers(except *session) []Presence {
	out := make([]Presence, 0, len(r.sessions)+len(r.elsewhere))
	for s := range r.sessions {
		if s != except {
			out = append(out, s.pres.clone())
		}
	}
	for _, p := range r.elsewhere {
		out = append(out, p.pres.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Session < out[j].Session })
	return out
}

// updatePresence applies a presence message; the broadcast is coalesced.
func (r *room) updatePresence(s *session, u presenceUpdate) {
	if _, ok := r.sessions[s]; !ok {
		return
	}
	if u.cursor.Set && u.cursor.Sel != nil {
		sel, e := r.cursorAtHead(*u.cursor.Sel, u.version)
		if e != nil {
			s.sendError(e, 0)
			return
		}
		s.pres.Cursor = &sel
	} else if u.cursor.Set {
		s.pres.Cursor = nil
	}
	if u.name != nil && !s.nameFixed {
		s.pres.Name = cleanName(*u.name)
	}
	if u.color != nil {
		s.pres.Color = cleanColor(*u.color, s.id)
	}
	s.pres.Version = r.head
	s.presBytes = nil
	s.presDirty = true
	r.presenceChanged()
}

// cursorAtHead checks sel against the text at version v and moves it through
// the ops committed since.
func (r *room) cursorAtHead(sel ot.Selection, v *uint64) (ot.Selection, *Error) {
	if v == nil {
		return sel, errorf(CodeInvalidMessage, "presence with a cursor needs a version")
	}
	if e := r.reachVersion(v); e != nil {
		return sel, e
	}
	if *v > r.head {
		return sel, errorf(CodeVersionAhead, "presence version is ahead of the document")
	}
	if r.head-*v > uint64(r.hub.opts.OpWindow) {
		// Moving it would read up to CatchUpLimit ops from storage on the
		// room goroutine per message, for every participant to wait on. A
		// client sends its cursor at the last version it received, at most
		// a send queue behind. Within OpWindow the ops come from the window,
		// or, in a room just loaded (its window starts at the last
		// snapshot), from storage: OpWindow ops at most.
		return sel, errorf(CodeVersionTooOld, "presence version is older than the recent ops the server keeps; send the cursor at the last version received")
	}
	ops, e := r.opsAfter(*v)
	if e != nil {
		return sel, e
	}
	n := r.doc.Len()
	for _, rec := range ops {
		n -= lenDelta(rec.Op)
	}
	if sel.Anchor < 0 || sel.Head < 0 || sel.Anchor > n || sel.Head > n {
		return sel, errorf(CodeInvalidMessage, "cursor outside the document")
	}
	for _, rec := range ops {
		sel = ot.TransformSelection(sel, rec.Op)
	}
	return sel, nil
}

// moveCursors transforms every stored cursor through op (just applied).
func (r *room) moveCursors(op ot.Op) {
	for s := range r.sessions {
		if c := s.pres.Cursor; c != nil {
			*c = ot.TransformSelection(*c, op) // Owned by s: others get clones.
		}
		s.pres.Version = r.head
		s.presBytes = nil
	}
	for _, p := range r.elsewhere {
		if c := p.pres.Cursor; c != nil {
			*c = ot.TransformSelection(*c, op)
		}
		p.pres.Version = r.head
		p.entry = nil
	}
}

// clone is p with its own copy of the cursor: s.pres.Cursor is moved in
// place by the room, so whatever leaves the room goroutine gets a clone.
func (p Presence) clone() Presence {
	if p.Cursor != nil {
		c := *p.Cursor
		p.Cursor = &c
	}
	return p
}

// cleanName trims, drops control characters and the bidirectional
// formatting ones (which let "Ann\u202e)renwo(" show as "Ann(owner)"), and
// caps the length. Joiners and variation selectors stay: emoji need them.
func cleanName(name string) string {
	var b strings.Builder
	n := 0
	for _, c := range strings.TrimSpace(name) {
		if unicode.IsControl(c) || c == '\uFFFD' || unicode.Is(unicode.Bidi_Control, c) {
			continue
		}
		if n == maxNameRunes {
			break
		}
		b.WriteRune(c)
		n++
	}
	if b.Len() == 0 {
		return "Anonymous"
	}
	return b.String()
}

// cleanColor keeps a valid #rrggbb colour, else picks one from the session id.
func cleanColor(color, session string) string {
	if colorPattern.MatchString(color) {
		return strings.ToLower(color)
	}
	h := fnv.New32a()
	h.Write([]byte(session))
	return palette[h.Sum32()%uint32(len(palette))]
}
