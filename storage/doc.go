// Package storage keeps Folio's documents durable in one bbolt file: their
// metadata, op logs, snapshots and the per-session records that make op
// submission exactly-once.
//
// # Versions
//
// A document at version N is the result of its ops 1..N; op N is the op that
// produced version N. A new document is at version 0, whose snapshot is its
// initial text. Ops are never removed (except by Delete), so the text at any
// past version can be rebuilt.
//
// # Bucket layout
//
//	folio/                    top-level bucket
//	  format  -> "folio-storage/1"       marker; a bbolt file without it is foreign
//	docs/                     top-level bucket; one nested bucket per document
//	  <id>/                   id passes ValidID before any key is built
//	    <version>  -> op record           8-byte big-endian version, 1..head
//	    meta       -> Meta                 head version, length, times
//	    snap/                 nested bucket
//	      <version> -> text               UTF-8 text at that version; 0 always present
//	    sess/                 nested bucket
//	      <session> -> uvarint seq, uvarint version   last committed op of that session
//
// Op keys are 8 bytes whose first byte is 0 (versions stay below 2^56), so
// they sort by version and before the names "meta", "sess" and "snap": a
// document's newest ops, its meta and its small inline session bucket share
// the bucket's last page, and an append usually dirties one page per
// document. The op bucket pages are packed full (FillPercent 1) because ops
// only ever arrive in key order.
//
// An op record is compact binary: a format byte (1), uvarint Seq,
// length-prefixed Session and Author, varint Unix-nanosecond Time, then the
// op's components, each a tag byte (0 skip, 1 insert, 2 delete count,
// 3 delete text) followed by a uvarint count or a length-prefixed UTF-8
// string. Meta is a format byte (1), uvarint Version and Length, varint
// CreatedAt and UpdatedAt nanoseconds. Decoding checks every field and
// reports ErrCorrupt.
//
// # Durability promises
//
//   - Append returns nil only after the transaction holding the ops is
//     fsync'd (unless Options.NoSync, which is for tests and benchmarks only).
//   - The ops of one Append, each of their sessions' (Seq, Version) records,
//     the new Meta and the optional snapshot are written in one transaction:
//     a crash never leaves a gap in versions, a session record without its op,
//     or a snapshot the log does not reach.
//   - An Append whose first version is not head+1, or whose records are not
//     contiguous, is rejected with ErrVersionConflict and writes nothing.
//   - Writes from many goroutines (Append, Create, PutSnapshot, Delete) are
//     group-committed: one committer goroutine, owned by DB and stopped by
//     Close, puts whatever requests queued while the previous commit ran (up
//     to Options.MaxBatch) into one transaction and one fsync. A request that
//     fails validation fails alone; a failed commit fails every request of
//     its batch and commits none of them. The ops of one document keep the
//     order of their Append calls; a caller that wants many ops per fsync
//     passes them in one Append.
//   - Open fails within about Options.LockTimeout, naming the file and
//     wrapping ErrLocked, when another process holds it; it fails wrapping
//     ErrCorrupt on a file that is not a Folio database. Options.Verify (or
//     Check) replays every log to find deeper damage.
//
// # Caller contract
//
// If Append (or any write) returns an error, nothing of that call is
// committed: the caller's in-memory state (text, version, session table)
// must not move, and the ops must not be acknowledged or broadcast. A
// context cancelled after the request reached the committer does not abort
// it: Append still waits for the outcome, so its result is always the truth.
// The caller owns snapshot timing: it passes a snapshot to Append about every
// DefaultSnapshotEvery ops and calls PutSnapshot when it unloads a document,
// so that Load never replays much more than that many ops.
package storage
