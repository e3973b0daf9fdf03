package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// now returns the clock reading at the precision stored on disk.
func (db *DB) now() time.Time { return time.Unix(0, db.opts.Now().UnixNano()).UTC() }

// Create makes a new document whose first snapshot is its initial text, at
// version 0, or when a document of that id was deleted before, one past that
// document's last version (Meta.Base). ErrExists if id is taken.
func (db *DB) Create(ctx context.Context, id, text string) (Meta, error) {
	if err := checkID("create", id); err != nil {
		return Meta{}, err
	}
	if !utf8.ValidString(text) {
		return Meta{}, fmt.Errorf("storage: create %s: text is not valid UTF-8: %w", id, ErrInvalidArgument)
	}
	snapValue := encodeSnapshot(text)
	var meta Meta
	err := db.write(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta).Get([]byte(id)) != nil {
			return reject(fmt.Errorf("storage: create %s: %w", id, ErrExists))
		}
		base, err := takeTombstone(tx, id)
		if err != nil {
			return err
		}
		now := db.now()
		meta = Meta{ID: id, Version: base, Base: base, Length: utf8.RuneCountInString(text), CreatedAt: now, UpdatedAt: now}
		if err := putMeta(tx, metaRec{Meta: meta, flushed: base}); err != nil {
			return err
		}
		b, err := tx.Bucket(bucketDocs).CreateBucket([]byte(id))
		if err != nil {
			return err
		}
		if _, err := b.CreateBucket(bucketSess); err != nil {
			return err
		}
		snaps, err := b.CreateBucket(bucketSnap)
		if err != nil {
			return err
		}
		return snaps.Put(versionKey(base), snapValue)
	})
	if err != nil {
		return Meta{}, err
	}
	return meta, nil
}

// Append durably logs recs after the document's head, in one transaction
// shared with other concurrent writes (group commit), together with each
// session's (Seq, Version) record, the updated Meta (Version, Length,
// UpdatedAt) and snap when non-nil. recs must be contiguous from head+1,
// else ErrVersionConflict; snap.Version must be one of recs' versions.
// length is the document's length in code points after the last rec.
//
// Append returns only after the commit is durable. On any error nothing of
// this call is committed, and the caller must not move its in-memory state.
func (db *DB) Append(ctx context.Context, id string, recs []OpRecord, length int, snap *Snapshot) error {
	if err := checkID("append", id); err != nil {
		return err
	}
	r, err := db.appendReq(ctx, id, recs, length, snap)
	if err != nil {
		return err
	}
	return db.submit(ctx, r)
}

// appendReq checks and encodes Append's arguments into the request the
// committer runs, in one allocation with its journal record.
func (db *DB) appendReq(ctx context.Context, id string, recs []OpRecord, length int, snap *Snapshot) (*writeReq, error) {
	var req struct {
		writeReq
		j journaled
	}
	var err error
	if req.j.appendArgs, err = db.newAppend(id, recs, length, snap); err != nil {
		return nil, err
	}
	req.writeReq = writeReq{ctx: ctx, done: make(chan error, 1), app: &req.j}
	return &req.writeReq, nil
}

// appendArgs is an Append checked and encoded outside the committer.
type appendArgs struct {
	id          string
	recs        []OpRecord // With their Times set.
	chunk       []byte     // encodeChunk(recs)
	first, last uint64
	length      int
	snap        *Snapshot
	snapValue   []byte // encodeSnapshot(snap.Text)
}

func (db *DB) newAppend(id string, recs []OpRecord, length int, snap *Snapshot) (appendArgs, error) {
	recs, chunk, err := db.encodeAppend(id, recs, length, snap)
	if err != nil {
		return appendArgs{}, err
	}
	a := appendArgs{id: id, recs: recs, chunk: chunk, first: recs[0].Version, last: recs[len(recs)-1].Version,
		length: length, snap: snap}
	if snap != nil {
		a.snapValue = encodeSnapshot(snap.Text)
	}
	return a, nil
}

// apply validates a against the stored head and writes it, with UpdatedAt
// at.
func (a *appendArgs) apply(tx *bolt.Tx, at time.Time) error {
	m, err := getMeta(tx, "append", a.id)
	if err != nil {
		return reject(err)
	}
	if a.first != m.Version+1 {
		return reject(fmt.Errorf("storage: append %s@%d..%d: head is %d: %w", a.id, a.first, a.last, m.Version, ErrVersionConflict))
	}
	if a.snap != nil || m.pending()+uint64(len(a.recs)) >= flushAfter {
		err = flush(tx, &m, a.recs)
	} else {
		err = logAppend(tx, &m, a.first, a.chunk)
	}
	if err != nil {
		return err
	}
	m.Version, m.Length, m.UpdatedAt = a.last, a.length, at
	if err := putMeta(tx, m); err != nil {
		return err
	}
	if a.snap == nil {
		return nil
	}
	b, err := docBucket(tx, a.id)
	if err != nil {
		return err
	}
	return b.Bucket(bucketSnap).Put(versionKey(a.snap.Version), a.snapValue)
}

// logAppend adds chunk to the log as m's newest pending entry.
func logAppend(tx *bolt.Tx, m *metaRec, first uint64, chunk []byte) error {
	log := tx.Bucket(bucketLog)
	log.FillPercent = 1 // Keys only grow.
	k := nextLogKey(log)
	if err := log.Put(versionKey(k), encodeEntry(m.ID, m.tail, first, chunk)); err != nil {
		return err
	}
	m.tail = k
	return nil
}

// encodeAppend checks Append's arguments that do not depend on stored state
// and returns a copy of recs with zero Times set to now, and their encoded
// chunk; it runs outside the committer so that callers encode in parallel.
func (db *DB) encodeAppend(id string, recs []OpRecord, length int, snap *Snapshot) ([]OpRecord, []byte, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("storage: append %s: %s: %w", id, fmt.Sprintf(format, a...), ErrInvalidArgument)
	}
	if len(recs) == 0 {
		return nil, nil, bad("no records")
	}
	if length < 0 {
		return nil, nil, bad("negative length %d", length)
	}
	first, last := recs[0].Version, recs[len(recs)-1].Version
	if first == 0 {
		return nil, nil, fmt.Errorf("storage: append %s: version 0 is the initial text: %w", id, ErrVersionConflict)
	}
	if snap != nil && (snap.Version < first || snap.Version > last) {
		return nil, nil, bad("snapshot version %d outside %d..%d", snap.Version, first, last)
	}
	if snap != nil && snap.Version == last && utf8.RuneCountInString(snap.Text) != length {
		return nil, nil, bad("snapshot has %d code points, length says %d", utf8.RuneCountInString(snap.Text), length)
	}
	if snap != nil && !utf8.ValidString(snap.Text) {
		return nil, nil, bad("snapshot is not valid UTF-8")
	}
	now := db.now()
	recs = slices.Clone(recs) // The caller's records stay untouched.
	for i := range recs {
		r := &recs[i]
		if r.Version != first+uint64(i) {
			return nil, nil, fmt.Errorf("storage: append %s: records not contiguous at %d (version %d): %w", id, i, r.Version, ErrVersionConflict)
		}
		if len(r.Session) > maxSessionLen || len(r.Author) > maxAuthorLen {
			return nil, nil, bad("session or author too long at version %d", r.Version)
		}
		for _, c := range r.Op {
			if !validComponent(c) {
				return nil, nil, bad("malformed op component at version %d", r.Version)
			}
		}
		if r.Time.IsZero() {
			r.Time = now
		}
	}
	return recs, encodeChunk(recs), nil
}

// PutSnapshot stores the text at snap.Version (at most the head, at least
// its Base, else ErrVersionAhead or ErrVersionGone), e.g. when a room
// unloads. The text is trusted; Check verifies it against the log.
func (db *DB) PutSnapshot(ctx context.Context, id string, snap Snapshot) error {
	if err := checkID("put snapshot", id); err != nil {
		return err
	}
	if !utf8.ValidString(snap.Text) {
		return fmt.Errorf("storage: put snapshot %s@%d: not valid UTF-8: %w", id, snap.Version, ErrInvalidArgument)
	}
	snapValue := encodeSnapshot(snap.Text)
	return db.write(ctx, func(tx *bolt.Tx) error {
		m, err := getMeta(tx, "put snapshot", id)
		if err != nil {
			return reject(err)
		}
		if snap.Version > m.Version {
			return reject(fmt.Errorf("storage: put snapshot %s@%d: head is %d: %w", id, snap.Version, m.Version, ErrVersionAhead))
		}
		if snap.Version < m.Base { // A version of a deleted document of that id.
			return reject(fmt.Errorf("storage: put snapshot %s@%d: the document starts at %d: %w", id, snap.Version, m.Base, ErrVersionGone))
		}
		b, err := docBucket(tx, id)
		if err != nil {
			return err
		}
		return b.Bucket(bucketSnap).Put(versionKey(snap.Version), snapValue)
	})
}

// Delete removes a document and all its data (meta, ops in its bucket and
// in the log, snapshots, sessions), leaving only a tombstone with its last
// version, where a document created again under its id will start.
func (db *DB) Delete(ctx context.Context, id string) error {
	if err := checkID("delete", id); err != nil {
		return err
	}
	return db.write(ctx, func(tx *bolt.Tx) error {
		m, err := getMeta(tx, "delete", id)
		if err != nil {
			return reject(err)
		}
		if err := purgeLog(tx, m.ID); err != nil {
			return err
		}
		if err := putTombstone(tx, id, m.Version); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Delete([]byte(id)); err != nil {
			return err
		}
		return tx.Bucket(bucketDocs).DeleteBucket([]byte(id))
	})
}

// putTombstone records under gone/ that id's document ended at version last.
// The bucket is made by the first Delete, so Open writes nothing to a file.
func putTombstone(tx *bolt.Tx, id string, last uint64) error {
	b, err := tx.CreateBucketIfNotExists(bucketGone)
	if err != nil {
		return err
	}
	return b.Put([]byte(id), binary.AppendUvarint(nil, last))
}

// takeTombstone removes id's tombstone and returns the base version of a new
// document of that id: 0 without one, else one past the deleted document's
// last version.
func takeTombstone(tx *bolt.Tx, id string) (uint64, error) {
	b := tx.Bucket(bucketGone)
	if b == nil {
		return 0, nil
	}
	v := b.Get([]byte(id))
	if v == nil {
		return 0, nil
	}
	last, err := decodeTombstone(v)
	if err != nil {
		return 0, fmt.Errorf("storage: tombstone of %s: %w", id, err)
	}
	return last + 1, b.Delete([]byte(id))
}
