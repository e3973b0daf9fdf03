package collab

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// A session has a private key, drawn by its client, and a public id derived
// from it. The id is what everybody sees (presence, broadcasts, leave,
// welcome's peers and catch-up ops, REST, SSE) and what storage records; the
// key is sent only in the client's hello and echoed in its own welcome, and
// a hello that names it proves it is the same client: it may resume the
// session (keeping exactly-once) and take over its live connection.
// Deriving the id keeps it stable across reconnects, restarts and servers
// without storing anything.

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// validKey reports whether key is a well-formed session key: 16 to 64
// characters of [A-Za-z0-9_-].
func validKey(key string) bool { return keyPattern.MatchString(key) }

// SessionID is the public session id of key: "s-" and the first 32 hex
// digits of SHA-256("folio-session\x00" + key).
func SessionID(key string) string {
	sum := sha256.Sum256([]byte("folio-session\x00" + key))
	return derivedPrefix + hex.EncodeToString(sum[:16])
}

// derivedPrefix starts every id derived from a key.
const derivedPrefix = "s-"

// idemPrefix starts the sessions of REST requests with an Idempotency-Key
// (web derives them from the key).
const idemPrefix = "idem-"

// publicOnlyID reports whether id, sent as a legacy hello's session (without
// a key), names a session that only its key may resume: one derived from a
// key, which anyone may have seen, or a REST idempotency session, whose seqs
// a WebSocket client could otherwise consume. The whole "s-" prefix is
// reserved, not only the exact derived shape: servers before keys issued
// UUIDs, so no legacy client holds such an id.
func publicOnlyID(id string) bool {
	return strings.HasPrefix(id, derivedPrefix) || strings.HasPrefix(id, idemPrefix)
}

// NewKey returns a new session key for a client: 32 hex digits (128 bits)
// from crypto/rand.
func NewKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // Never fails (crypto/rand panics rather than return an error).
	return hex.EncodeToString(b[:])
}
