package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// flushAfter is how many pending ops a document may have in the log before
// an Append moves them (and its own) into the document's bucket. The log
// makes a commit of many documents' appends dirty a few shared pages instead
// of a few pages per document; flushing writes a document's pages once per
// flushAfter ops. Reads walk at most this many pending ops.
const flushAfter = 128

// getMeta returns id's stored meta, or an error wrapping ErrNotFound.
func getMeta(tx *bolt.Tx, op, id string) (metaRec, error) {
	v := tx.Bucket(bucketMeta).Get([]byte(id))
	if v == nil {
		return metaRec{}, fmt.Errorf("storage: %s %s: %w", op, id, ErrNotFound)
	}
	m, err := decodeMeta(id, v)
	if err != nil {
		return metaRec{}, fmt.Errorf("storage: %s %s: %w", op, id, err)
	}
	return m, nil
}

func putMeta(tx *bolt.Tx, m metaRec) error {
	return tx.Bucket(bucketMeta).Put([]byte(m.ID), encodeMeta(m))
}

// docBucket returns the bucket of a document whose meta exists.
func docBucket(tx *bolt.Tx, id string) (*bolt.Bucket, error) {
	b := tx.Bucket(bucketDocs).Bucket([]byte(id))
	if b == nil {
		return nil, fmt.Errorf("storage: %s: meta without a bucket: %w", id, ErrCorrupt)
	}
	return b, nil
}

// pendingEntries returns the keys and entries of m's pending ops, oldest
// first, checking that they cover m.flushed+1..m.Version exactly.
func pendingEntries(tx *bolt.Tx, m metaRec) ([]uint64, []logEntry, error) {
	var keys []uint64
	var entries []logEntry
	log := tx.Bucket(bucketLog)
	want := m.Version // Last version of the next (older) entry.
	for k := m.tail; k != 0; {
		if len(keys) > int(m.pending()) {
			return nil, nil, fmt.Errorf("storage: %s: log chain loops: %w", m.ID, ErrCorrupt)
		}
		e, err := decodeEntry(log.Get(versionKey(k)))
		if err != nil {
			return nil, nil, fmt.Errorf("storage: %s: log entry %d: %w", m.ID, k, err)
		}
		if e.id != m.ID || e.last() != want {
			return nil, nil, fmt.Errorf("storage: %s: log entry %d holds %s@%d..%d, want ..%d: %w",
				m.ID, k, e.id, e.first, e.last(), want, ErrCorrupt)
		}
		keys, entries = append(keys, k), append(entries, e)
		want = e.first - 1
		k = e.prev
	}
	if want != m.flushed {
		return nil, nil, fmt.Errorf("storage: %s: log chain ends at %d, flushed is %d: %w", m.ID, want+1, m.flushed, ErrCorrupt)
	}
	slices.Reverse(keys)
	slices.Reverse(entries)
	return keys, entries, nil
}

// nextLogKey returns the key after the log's last one.
func nextLogKey(log *bolt.Bucket) uint64 {
	k, _ := log.Cursor().Last()
	if k == nil {
		return 1
	}
	return keyVersion(k) + 1
}

// maxChunk bounds how many ops flush puts into one value of a document's
// bucket, so that reading one version decodes at most that many.
const maxChunk = 256

// flush copies m's pending ops from the log into the document's bucket,
// followed by recs (the records of the Append in progress), as chunks keyed
// by their first version, and updates the session records. The log entries
// stay until trimLog reaches them.
func flush(tx *bolt.Tx, m *metaRec, recs []OpRecord) error {
	_, entries, err := pendingEntries(tx, *m)
	if err != nil {
		return err
	}
	b, err := docBucket(tx, m.ID)
	if err != nil {
		return err
	}
	all := make([]OpRecord, 0, int(m.pending())+len(recs))
	for _, e := range entries {
		rs, err := e.records()
		if err != nil {
			return fmt.Errorf("storage: %s: log entry: %w", m.ID, err)
		}
		all = append(all, rs...)
	}
	all = append(all, recs...)
	b.FillPercent = 1 // Chunks arrive in key order; pack their pages.
	for chunk := range slices.Chunk(all, maxChunk) {
		if err := b.Put(versionKey(chunk[0].Version), encodeChunk(chunk)); err != nil {
			return err
		}
	}
	sess := b.Bucket(bucketSess)
	var done []string
	for i := len(all) - 1; i >= 0; i-- {
		r := &all[i]
		if r.Session == "" || slices.Contains(done, r.Session) {
			continue
		}
		done = append(done, r.Session)
		if err := sess.Put([]byte(r.Session), encodeSession(r.Seq, r.Version)); err != nil {
			return err
		}
	}
	if len(all) > 0 {
		m.flushed = all[len(all)-1].Version
	}
	m.tail = 0
	return nil
}

// Log trimming bounds.
const (
	// maxLogLag is how far (in log keys) the oldest pending entry may lag
	// behind the newest before trimLog flushes its document, so that an idle
	// document's few pending ops do not pin the log.
	maxLogLag = 1 << 16
	// maxTrim bounds the entries one commit trims.
	maxTrim = 1024
)

// trimLog deletes entries from the front of the log whose ops are already
// in their document's bucket, flushing the front entry's document first
// when it lags more than maxLogLag behind. Entries are deleted only in key
// order, so each log page is freed once instead of being rewritten by every
// document flushed out of it.
func trimLog(tx *bolt.Tx, maxLag uint64) error {
	log, metas := tx.Bucket(bucketLog), tx.Bucket(bucketMeta)
	c := log.Cursor()
	k, v := c.First()
	if k == nil {
		return nil
	}
	next := nextLogKey(log)
	flushed := map[string]uint64{} // Documents seen in this trim; a flush updates them.
	for n := 0; k != nil && n < maxTrim; n++ {
		e, err := decodeEntry(v)
		if err != nil {
			return fmt.Errorf("storage: log entry %d: %w", keyVersion(k), err)
		}
		f, seen := flushed[e.id]
		if !seen {
			// An entry of a deleted document is garbage (Delete removes them;
			// this only happens after damage, which Check reports).
			f = math.MaxUint64
			if mv := metas.Get([]byte(e.id)); mv != nil {
				m, err := decodeMeta(e.id, mv)
				if err != nil {
					return err
				}
				f = m.flushed
				if e.last() > f && keyVersion(k)+maxLag < next {
					if err := flush(tx, &m, nil); err != nil {
						return err
					}
					if err := putMeta(tx, m); err != nil {
						return err
					}
					f = m.flushed
				}
			}
			flushed[e.id] = f
		}
		if e.last() > f {
			return nil
		}
		if err := c.Delete(); err != nil {
			return err
		}
		k, v = c.First()
	}
	return nil
}

// purgeLog deletes every log entry of document id.
func purgeLog(tx *bolt.Tx, id string) error {
	c := tx.Bucket(bucketLog).Cursor()
	for k, v := c.First(); k != nil; {
		e, err := decodeEntry(v)
		if err != nil {
			return fmt.Errorf("storage: log entry %d: %w", keyVersion(k), err)
		}
		if e.id != id {
			k, v = c.Next()
			continue
		}
		k = bytes.Clone(k) // Seek from the deleted key after the node changed.
		if err := c.Delete(); err != nil {
			return err
		}
		k, v = c.Seek(k)
	}
	return nil
}

// eachOp calls fn with the ops from+1..to (to <= m.Version) in order,
// wherever they are stored, decoding each only when it is reached: a caller
// that stops (fn's error) has not decoded the ops after.
func eachOp(ctx context.Context, tx *bolt.Tx, m metaRec, from, to uint64, fn func(OpRecord) error) error {
	if from >= to {
		return nil
	}
	if from < m.flushed {
		b, err := docBucket(tx, m.ID)
		if err != nil {
			return err
		}
		if err := eachStored(ctx, b, m.ID, from, min(to, m.flushed), fn); err != nil {
			return err
		}
	}
	if to <= m.flushed {
		return nil
	}
	_, entries, err := pendingEntries(tx, m)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.last() <= from {
			continue
		}
		if _, err := eachInRange(m.ID+": log entry", e.first, e.chunk, from, to, fn); err != nil {
			return err
		}
	}
	return nil
}

// errPastRange stops eachInRange's decoding at the first record past its range.
var errPastRange = errors.New("past the range")

// eachInRange calls fn with the records from+1..to of the chunk b whose
// first record is version first, and returns the next version wanted (one
// past the last passed to fn, or from+1). An error of fn is returned as it
// is, a decoding error wrapped with where.
func eachInRange(where string, first uint64, b []byte, from, to uint64, fn func(OpRecord) error) (uint64, error) {
	want := from + 1
	var fnErr error
	err := eachInChunk(first, b, from, func(r OpRecord) error {
		if r.Version > to {
			return errPastRange
		}
		if fnErr = fn(r); fnErr != nil {
			return fnErr
		}
		want++
		return nil
	})
	switch {
	case fnErr != nil:
		return want, fnErr
	case err != nil && err != errPastRange:
		return want, fmt.Errorf("storage: %s: %w", where, err)
	}
	return want, nil
}

// eachStored calls fn with ops from+1..to from the chunks of a document's
// bucket, checking that the chunks are contiguous.
func eachStored(ctx context.Context, b *bolt.Bucket, id string, from, to uint64, fn func(OpRecord) error) error {
	want := from + 1
	c := b.Cursor()
	k, v := c.Seek(versionKey(want))
	if k == nil || !isVersionKey(k) || keyVersion(k) > want {
		k, v = c.Prev() // The chunk that starts before want holds it.
	}
	for ; want <= to; k, v = c.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if k == nil || !isVersionKey(k) || keyVersion(k) > want {
			return fmt.Errorf("storage: %s: op %d missing: %w", id, want, ErrCorrupt)
		}
		next, err := eachInRange(id, keyVersion(k), v, want-1, to, fn)
		if err != nil {
			return err
		}
		if next == want {
			return fmt.Errorf("storage: %s: op %d missing: %w", id, want, ErrCorrupt)
		}
		want = next
	}
	return nil
}

// pendingSession finds the newest pending op of session, newest entry first.
func pendingSession(tx *bolt.Tx, m metaRec, session string) (seq, version uint64, found bool, err error) {
	if m.tail == 0 {
		return 0, 0, false, nil
	}
	_, entries, err := pendingEntries(tx, m)
	if err != nil {
		return 0, 0, false, err
	}
	for i := len(entries) - 1; i >= 0; i-- {
		recs, err := entries[i].records()
		if err != nil {
			return 0, 0, false, fmt.Errorf("storage: %s: log entry: %w", m.ID, err)
		}
		for j := len(recs) - 1; j >= 0; j-- {
			if recs[j].Session == session {
				return recs[j].Seq, recs[j].Version, true, nil
			}
		}
	}
	return 0, 0, false, nil
}
