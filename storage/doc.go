// Package storage keeps Folio's documents durable in one bbolt file and its
// journal (see Journal): their metadata, op logs, snapshots and the
// per-session records that make op submission exactly-once.
//
// # Versions
//
// A document at version N is the result of its ops Base+1..N; op N is the op
// that produced version N. A new document is at its Base version, whose
// snapshot is its initial text. Base is 0, except for an id whose earlier
// document was deleted: Delete leaves a tombstone with the last version, and
// the next Create of that id starts one past it, so that no version of an id
// ever names two texts (a reader resuming from the deleted document's version
// gets ErrVersionGone, not the new document's ops). Ops are never removed
// (except by Delete), so the text at any version from Base on can be rebuilt.
//
// # Bucket layout
//
//	folio/                    format -> "folio-storage/1"; a bbolt file without it is foreign
//	                          journal -> 16-byte database id, uvarint LSN of the last journal record applied
//	meta/                     <id> -> meta: head version, length, times, flushed, tail[, base]
//	gone/                     <id> -> uvarint last version of a deleted document (made by the first Delete)
//	log/                      <8-byte big-endian commit key> -> log entry
//	docs/                     one nested bucket per document
//	  <id>/
//	    <8-byte big-endian version> -> op chunk       ops Base+1..flushed, a chunk keyed by its first version
//	    snap/  <8-byte big-endian version> -> text    version Base always present; DEFLATE'd when smaller
//	    sess/  <session> -> uvarint seq, uvarint version   as of the flushed ops
//
// Every id passes ValidID before any key is built. Versions are 8-byte
// big-endian keys so they sort numerically.
//
// Appends are staged: an Append writes one log entry (document id, the key
// of that document's previous pending entry, the first version, its ops as
// one chunk) and updates the document's meta (Version, Length, UpdatedAt and
// tail, the key of its newest entry). A commit of many documents' appends
// therefore dirties a few shared log and meta pages, not a few pages per
// document, which is what makes group commit pay off with many writers.
// When a document has flushAfter (128) pending ops, or an Append carries a
// snapshot, the same transaction copies its pending ops into its own bucket
// as chunks of up to 256 ops keyed by their first version, and updates its
// session records; meta.flushed says up to where. Readers take ops
// 1..flushed from the document's bucket and the rest by walking the tail
// chain, so a document's data is complete in every committed transaction. Each commit then trims the log from its front
// only (entries already flushed), so each log page is freed once; a document
// whose oldest pending entry lags maxLogLag (65,536) entries behind the newest
// is flushed so that an idle document cannot pin the log. Delete removes the
// document's meta, bucket and all its log entries.
//
// An op chunk is compact binary (see encodeChunk): a format byte, a count,
// then per op its Seq, its Session and Author as references into a string
// table local to the chunk (so they cost a byte per op after their first
// use), its Time as nanoseconds since the previous op's, and its components
// as a tag byte (0 skip, 1 insert, 2 delete count, 3 delete text) with a
// uvarint count or a length-prefixed UTF-8 string. Meta is a format byte,
// uvarint Version and Length, varint CreatedAt and UpdatedAt nanoseconds,
// uvarint flushed and tail, and in format 2 (only a document with a Base,
// so that older builds still read every other file) uvarint Base. A
// snapshot value is a format byte, a kind byte and the text, raw or
// DEFLATE-compressed with its length. Decoding checks
// every field and reports ErrCorrupt (FuzzDecodeChunk, FuzzDecodeSnapshot).
//
// Reads decode a chunk record by record, passing over those before the
// range without copying their text. OpsWithin stops after the op that takes
// the total OpRecord.Size past its bound, so a reader that would rather
// have the text than many large ops (a catch-up) never decodes the rest.
//
// # Journal
//
// An Append without a snapshot does not wait for a bbolt transaction: the
// committer writes it to the journal (a write-ahead log next to the bbolt
// file, <file>-journal; format in journal.go) and answers once that write
// is fdatasync'd. bbolt commits cost two fdatasyncs and rewrite whole pages;
// a group of journal records costs one fdatasync of the bytes written, in
// place in a file that keeps its size. Options.CheckpointEvery (1 s) after
// the first record, or once checkpointRecords (2048) Appends or
// checkpointBytes wait, whichever comes first, a checkpoint applies
// the journaled Appends to bbolt exactly as above (each document's Appends
// joined into one), in one transaction that
// also records the last LSN (record number) applied, under folio/journal,
// with the database's random 16-byte id that the journal's header repeats.
// The next record then goes to the start of the journal again.
//
//   - Every read sees every acknowledged write. Meta, Ops (and OpsWithin), TextAt and List
//     (what polling clients and catch-up read) add to a bbolt read
//     transaction what the overlay holds: per document with journaled
//     records, its head, length, UpdatedAt and those records, published
//     only after their fdatasync and replaced, never changed, at a
//     checkpoint. The transaction begins under the overlay's lock and its
//     stored LSN says whether the overlay still applies to it. The other
//     reads (Load, SessionSeq; Backup and Check for every document) first
//     have the committer checkpoint a document with journaled records; the
//     room keeps recent ops in memory, so that is rare.
//   - Every other write (Create, PutSnapshot, Delete, an Append with a
//     snapshot) runs in a bbolt transaction that checkpoints first, so the
//     journal never holds anything older than what bbolt holds.
//   - Open applies the records after the stored LSN in one transaction
//     before anything else. The records are the run from the journal's start
//     with LSNs increasing by one and valid checksums; the first torn or
//     stale record ends it (a torn one was never acknowledged; a stale one,
//     left from before a restart of the file, has an LSN already applied).
//     A journal of another database, or one whose records start past the
//     stored LSN + 1, fails Open with ErrCorrupt and changes nothing.
//     Otherwise, once bbolt holds the run, Open empties the journal: records
//     past the run (a failed group, a torn one) may carry LSNs that were
//     never applied, which the next records would take again. It commits
//     first even when bbolt held every record already (see Failures).
//     CheckFile, for a diagnosis, writes neither file: it opens bbolt
//     read-only and checks the run in memory against what bbolt holds.
//     OpenReadOnly, for a reader such as folio export, writes neither
//     either: it opens bbolt read-only and holds the run's records after
//     the stored LSN in memory as the overlay (refusing what Open refuses),
//     with no committer; every write fails with ErrReadOnly, and so do
//     the reads that would first have the committer checkpoint, but
//     Backup, which applies the records to a scratch copy of both files
//     in the system's temporary directory and writes that, then removes
//     it (a scratch copy that outlives a complete backup is reported as
//     a *ScratchLeftError, not a failure).
//   - A journal that cannot grow to take a group (a full disk) checkpoints
//     first when the group fits in the file from its start, and writes it
//     there: bbolt reuses its free pages where the journal would need new
//     blocks. The growth wrote only zeros past every record, so nothing of
//     the group is in the file and the checkpoint leaves its LSNs free; the
//     group is acknowledged after this write's fdatasync, as any other.
//     When the checkpoint fails too, the group fails as below, that failed
//     checkpoint standing for the one that follows the failure there (bbolt
//     is not tried twice at once); when the group is larger than the file,
//     it fails as below.
//   - A failed journal write fails its whole group and stops the journal
//     until a checkpoint records the group's LSNs as applied without
//     applying them: what was reported failed is never replayed. The
//     checkpoint runs before the failure is reported; if it fails too, the
//     group's first record head is zeroed and synced, which ends any replay
//     before the group. Only when that write fails as well (a disk failing
//     every write) may a crash before the next checkpoint replay the group.
//
// # Failures
//
// After a failed fsync the kernel may have dropped the pages it could not
// write and marked them clean: a later fsync succeeds without them (Linux;
// PostgreSQL's "fsyncgate"). So what a failed write or fsync touched is
// never relied on again; what is rewritten comes from memory.
//
//   - A journal write or fdatasync that fails (EIO; ENOSPC when the journal
//     grows and a checkpoint cannot make room) fails its group, never
//     acknowledged, as above. The checkpoint that follows writes the
//     acknowledged records to bbolt from memory, not from the file. Until a checkpoint succeeds every write goes
//     through bbolt (and fails while the disk is full; no restart is
//     needed once there is room); after it the journal starts again from
//     its header, so nothing it held before is read again but by a replay,
//     which stops at the zeroed or stale head.
//   - A bbolt commit that fails before its meta page is written (growing
//     the file, writing or syncing its data pages: a full disk, EIO)
//     changes nothing bbolt reads; its pages are free again. The batch
//     fails; journaled records stay in the journal and the overlay for the
//     next checkpoint.
//   - A bbolt commit that fails after its meta page reached the file (the
//     fdatasync of the meta page failed) landed: bbolt reads it, but it may
//     never reach the disk. The store then fails every call with ErrFailed
//     until it is reopened (a restart); the journal, never emptied or
//     reused meanwhile, keeps every acknowledged record. Open commits
//     before it empties the journal, whatever it replays, so that a state
//     read from the page cache alone is durable before the journal's copy
//     goes (its data pages were synced; the new meta page goes to the other
//     slot). Left: a power loss within that first commit, between its data
//     and its meta page, could find the meta page before the landed one
//     pointing at pages the commit reused.
//   - SyncDir failing at Open fails Open, and so does syncing the parent of
//     a directory Open creates for the database (MkdirAll). A later Open
//     that succeeds trusts that the directory entries of the two files, and
//     of the directories it created, are durable.
//
// An acknowledged op is therefore never lost nor changed by these
// failures, and a replay applies each record once, in LSN order. A write
// reported failed may still be found committed after a restart in two
// cases only: its batch landed (ErrFailed), or its journal group failed
// and so did the checkpoint and the zeroing after it. Ops of a (session,
// seq) already committed are acknowledged again, not applied (collab), so
// a client that resends them is safe; a REST op without an Idempotency-Key
// is not.
//
// # Durability promises
//
//   - Append returns nil only after the ops are fsync'd, in the journal or in
//     a bbolt transaction (unless Options.NoSync, which is for tests and
//     benchmarks only).
//   - The ops of one Append (with their sessions' Seq), the new Meta and the
//     optional snapshot are written in one transaction: a crash never leaves
//     a gap in versions, a session whose op is lost, or a snapshot the log
//     does not reach. SessionSeq reads the pending ops first, then the
//     flushed session records.
//   - An Append whose first version is not head+1, or whose records are not
//     contiguous, is rejected with ErrVersionConflict and writes nothing.
//   - Writes from many goroutines (Append, Create, PutSnapshot, Delete) are
//     group-committed: one committer goroutine, owned by DB and stopped by
//     Close, puts whatever requests queued while the previous commit ran (up
//     to Options.MaxBatch) into one journal write or one transaction, and
//     one fsync. When busy (the
//     previous transaction or the waiting requests number more than one),
//     and the last 100 ms promise more (requests fast enough to expect at
//     least lingerExpect (2) within Options.CommitDelay, from documents
//     that Appended then and are not in the batch yet), it first waits up to
//     CommitDelay for more, until the batch holds lingerEnough (32) or every
//     such document; a lone writer, or a few, never waits. It never yields the processor to let requests arrive. A request that
//     fails validation fails alone; a failed commit fails every request of
//     its batch and commits none of them. The ops of one document keep the
//     order of their Append calls; a caller that wants many ops per fsync
//     passes them in one Append.
//   - Open fails within about Options.LockTimeout, naming the file and
//     wrapping ErrLocked, when another process holds it; it fails wrapping
//     ErrCorrupt on a file that is not a Folio database. Options.Verify (or
//     Check) replays every log to find deeper damage; CheckFile does so on a
//     closed database without writing to it (a read-only copy works).
//
// # Errors
//
// Errors wrap the sentinels (ErrNotFound, ErrExists, ErrInvalidID,
// ErrVersionConflict, ErrVersionAhead for reads past the head, ErrLocked,
// ErrCorrupt, ErrClosed, ErrInvalidArgument, ErrReadOnly) with the operation and key
// facts; test them with errors.Is. One error is no failure: a
// *ScratchLeftError from Backup (errors.As) comes with a complete backup
// and names the scratch copy left in the temporary directory.
//
// # Caller contract
//
// If Append (or any write) returns an error, nothing of that call is
// committed: the caller's in-memory state (text, version, session table)
// must not move, and the ops must not be acknowledged or broadcast. A
// context cancelled before the committer writes the request's batch fails it
// with the context's error, unwritten; once the batch is being written,
// Append waits for the outcome whatever the context: its result is always
// the truth.
// The caller owns snapshot timing: it passes a snapshot to Append about every
// DefaultSnapshotEvery ops and calls PutSnapshot when it unloads a document,
// so that Load never replays much more than that many ops.
package storage
