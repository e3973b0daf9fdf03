package collab

import (
	"encoding/json"

	"github.com/foliodocs/folio/ot"
)

// Protocol v1 message types. These structs are the wire contract shared by the
// server, the Go client (collab/client) and the browser editor; docs/protocol.md
// describes them. Field names and JSON tags must stay stable.

// Subprotocol is the WebSocket subprotocol every client must offer.
const Subprotocol = "folio.v1"

// Message types, the value of every message's "type" field.
const (
	TypeHello    = "hello"
	TypeOp       = "op"
	TypePresence = "presence"
	TypePing     = "ping"
	TypePong     = "pong"
	TypeWelcome  = "welcome"
	TypeAck      = "ack"
	TypeLeave    = "leave"
	TypeError    = "error"
)

// User is the display identity a client asks for in hello.
type User struct {
	Name  string `json:"name"`
	Color string `json:"color"`
}

// ClientMsg is any message a client sends. Which fields are meaningful depends
// on Type: hello (Key or Session, Version, Token, User), op (Seq, Version,
// Op), presence (Version, Cursor, Name, Color), ping (none).
type ClientMsg struct {
	Type string `json:"type"`
	// Key is the session's private key, chosen by the client (16-64 of
	// [A-Za-z0-9_-], random): the same key resumes the same session.
	Key string `json:"key,omitempty"`
	// Session is a legacy resume by public id, from clients that predate
	// keys; ids derived from keys are refused. With Key it must be the
	// key's id (clients send both so that a server before keys resumes by
	// the id).
	Session string      `json:"session,omitempty"`
	Version *uint64     `json:"version,omitempty"`
	Token   string      `json:"token,omitempty"`
	User    *User       `json:"user,omitempty"`
	Seq     uint64      `json:"seq,omitempty"`
	Op      ot.Op       `json:"op,omitempty"`
	Cursor  CursorField `json:"cursor"`
	Name    *string     `json:"name,omitempty"`
	Color   *string     `json:"color,omitempty"`
	// ReadOnly (hello) asks for RoleView whatever the grant allows: the
	// client only shows the document (a read-only link), and the others
	// see it as a viewer. A server from before it ignores it.
	ReadOnly bool `json:"readonly,omitempty"`
}

// CursorField distinguishes an absent "cursor" (Set false: leave it as it is)
// from "cursor":null (Set true, Sel nil: the cursor is gone) and a selection.
type CursorField struct {
	Set bool
	Sel *ot.Selection
}

// UnmarshalJSON records that the field was present.
func (c *CursorField) UnmarshalJSON(b []byte) error {
	c.Set = true
	c.Sel = nil
	if string(b) == "null" {
		return nil
	}
	var s ot.Selection
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	c.Sel = &s
	return nil
}

// MarshalJSON writes the selection or null.
func (c CursorField) MarshalJSON() ([]byte, error) {
	if c.Sel == nil {
		return []byte("null"), nil
	}
	return json.Marshal(c.Sel)
}

// Welcome answers hello. Exactly one of Text (a full snapshot at Version) or
// Ops (every op after the client's version, up to Version) is set; an empty
// catch-up is sent as "ops":[]. Session is the public id; Key echoes the
// hello's key (absent for a legacy session), so a client learns that the
// server resumes by key.
type Welcome struct {
	Type    string     `json:"type"`
	Session string     `json:"session"`
	Key     string     `json:"key,omitempty"`
	Version uint64     `json:"version"`
	Role    string     `json:"role"`
	Peers   []Presence `json:"peers"`
	Text    *string    `json:"text,omitempty"`
	Ops     []OpMsg    `json:"ops,omitempty"`
}

// OpMsg is a committed op: broadcast with Type "op", or an entry of
// Welcome.Ops (Type omitted). Version is the version it produced; it applies
// to the text at Version-1.
type OpMsg struct {
	Type    string `json:"type,omitempty"`
	Version uint64 `json:"version"`
	Op      ot.Op  `json:"op"`
	Session string `json:"session"`
	Seq     uint64 `json:"seq"`
}

// Ack tells the author its op Seq was committed as Version.
type Ack struct {
	Type    string `json:"type"`
	Seq     uint64 `json:"seq"`
	Version uint64 `json:"version"`
}

// Presence is one session's identity and cursor, valid at Version.
type Presence struct {
	Type    string        `json:"type,omitempty"`
	Session string        `json:"session"`
	Name    string        `json:"name"`
	Color   string        `json:"color"`
	Cursor  *ot.Selection `json:"cursor"`
	Version uint64        `json:"version"`
	// Role is "view" for a session that may only read (a view grant, or a
	// hello that asked for ReadOnly), so that the others can tell viewers
	// from editors. It is absent for an editor: what clients from before
	// it received is unchanged, and they ignore it for a viewer.
	Role string `json:"role,omitempty"`
}

// Leave says a session's connection closed.
type Leave struct {
	Type    string `json:"type"`
	Session string `json:"session"`
}

// ErrorMsg reports a refused message. Seq is set when it is about an op.
type ErrorMsg struct {
	Type    string `json:"type"`
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Seq     uint64 `json:"seq,omitempty"`
}

// Pong answers ping.
type Pong struct {
	Type string `json:"type"`
}
