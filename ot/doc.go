// Package ot implements operational transformation on plain Unicode text,
// compatible with ShareDB's text-unicode type (the npm package
// ot-text-unicode, version 4). It uses only the standard library.
//
// # Model
//
// A document is a string of Unicode code points. An Op walks the document
// from position 0 with components: Skip n retains n code points, Insert s
// inserts s, Delete n removes n code points (optionally carrying the removed
// text in DelText, which makes the op invertible and lets Apply check it).
// Text after the last component is retained, so an op fits every document at
// least BaseLen code points long.
//
// # Unit
//
// Every position and length counts Unicode code points: never bytes, never
// UTF-16 units. "🎉" has length 1, "👨‍👩‍👧‍👦" has length 7 (four people and three
// zero-width joiners), "e\u0301" has length 2, "\r\n" has length 2. Editors that
// count UTF-16 units convert at their edge.
//
// # Normal form
//
// An op is normalized when no component is empty or zero-length, no two
// adjacent components have the same kind, and it does not end with a skip.
// The empty op is the no-op. Transform, Compose, Invert, Diff and Normalize
// return normalized ops (nil for the no-op); UnmarshalJSON accepts only
// normalized ops (Validate). Apply and Document.Apply also accept ops that are
// not normalized but well formed.
//
// # Convergence contract
//
// For ops a and b written against the same document s,
//
//	Apply(Apply(s, a), Transform(b, a, Right)) == Apply(Apply(s, b), Transform(a, b, Left))
//
// and Apply(s, Compose(a, b)) == Apply(Apply(s, a), b). Transform,
// Compose and TransformPosition give exactly the results of ot-text-unicode's
// transform, compose and transformPosition; testdata/conformance.json holds
// cases produced by that implementation and a test reproduces each one.
// A server that orders ops and transforms each incoming op over the ops its
// author had not seen keeps every client converged. Use ShareDB's sides: the
// incoming (client) op is Left of ops already in the server's history
// (Transform(op, applied, Left)), and a client transforms its pending ops
// Left and the server's op Right. The concurrent-trace replay in this
// package's tests uses them and reproduces the traces' final texts; the other
// choice also converges, to a different text.
//
// # Errors and panics
//
// No function panics on any input. Errors wrap ErrMalformed (the op's shape is
// wrong), ErrDoesNotFit (the op does not fit the document), or
// ErrNotInvertible. Transform and TransformPosition cannot fail: text past the
// end of an op counts as retained.
//
// # Document
//
// Document is a mutable text for servers, a rope (a B-tree of runs of code
// points): an op costs O(components × log n) plus the inserted text, wherever
// the edits are, not the document's length. It holds exactly the text Apply
// produces, byte for byte. A gap buffer was measured against it (see the
// benchmarks and docs/performance.md): as fast on single-typist traces, but
// O(n) per keystroke for two people editing far apart.
package ot
