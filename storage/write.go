package storage

import (
	"context"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// now returns the clock reading at the precision stored on disk.
func (db *DB) now() time.Time { return time.Unix(0, db.opts.Now().UnixNano()).UTC() }

// Create makes a new document at version 0 whose snapshot {0, text} is its
// initial text. ErrExists if id is taken.
func (db *DB) Create(ctx context.Context, id, text string) (Meta, error) {
	if err := checkID("create", id); err != nil {
		return Meta{}, err
	}
	if !utf8.ValidString(text) {
		return Meta{}, fmt.Errorf("storage: create %s: text is not valid UTF-8: %w", id, ErrInvalidArgument)
	}
	var meta Meta
	err := db.write(ctx, func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		if docs.Bucket([]byte(id)) != nil {
			return reject(fmt.Errorf("storage: create %s: %w", id, ErrExists))
		}
		now := db.now()
		meta = Meta{ID: id, Length: utf8.RuneCountInString(text), CreatedAt: now, UpdatedAt: now}
		b, err := docs.CreateBucket([]byte(id))
		if err != nil {
			return err
		}
		if err := b.Put(keyMeta, encodeMeta(meta)); err != nil {
			return err
		}
		if _, err := b.CreateBucket(bucketSess); err != nil {
			return err
		}
		snaps, err := b.CreateBucket(bucketSnap)
		if err != nil {
			return err
		}
		return snaps.Put(versionKey(0), []byte(text))
	})
	if err != nil {
		return Meta{}, err
	}
	return meta, nil
}

// docBucket returns id's bucket and decoded meta, or an error wrapping
// ErrNotFound.
func docBucket(tx *bolt.Tx, op, id string) (*bolt.Bucket, Meta, error) {
	b := tx.Bucket(bucketDocs).Bucket([]byte(id))
	if b == nil {
		return nil, Meta{}, fmt.Errorf("storage: %s %s: %w", op, id, ErrNotFound)
	}
	m, err := decodeMeta(id, b.Get(keyMeta))
	if err != nil {
		return nil, Meta{}, fmt.Errorf("storage: %s %s: %w", op, id, err)
	}
	return b, m, nil
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
	enc, err := db.encodeAppend(id, recs, length, snap)
	if err != nil {
		return err
	}
	first, last := recs[0].Version, recs[len(recs)-1].Version
	return db.write(ctx, func(tx *bolt.Tx) error {
		b, m, err := docBucket(tx, "append", id)
		if err != nil {
			return reject(err)
		}
		b.FillPercent = 1 // Ops are appended in key order; pack their pages.
		if first != m.Version+1 {
			return reject(fmt.Errorf("storage: append %s@%d..%d: head is %d: %w", id, first, last, m.Version, ErrVersionConflict))
		}
		for i, v := range enc {
			if err := b.Put(versionKey(first+uint64(i)), v); err != nil {
				return err
			}
		}
		if err := putSessions(b, recs); err != nil {
			return err
		}
		m.Version, m.Length, m.UpdatedAt = last, length, db.now()
		if err := b.Put(keyMeta, encodeMeta(m)); err != nil {
			return err
		}
		if snap == nil {
			return nil
		}
		return b.Bucket(bucketSnap).Put(versionKey(snap.Version), []byte(snap.Text))
	})
}

// encodeAppend checks Append's arguments that do not depend on stored state
// and encodes recs, outside the committer so that callers encode in parallel.
func (db *DB) encodeAppend(id string, recs []OpRecord, length int, snap *Snapshot) ([][]byte, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("storage: append %s: %s: %w", id, fmt.Sprintf(format, a...), ErrInvalidArgument)
	}
	if len(recs) == 0 {
		return nil, bad("no records")
	}
	if length < 0 {
		return nil, bad("negative length %d", length)
	}
	first, last := recs[0].Version, recs[len(recs)-1].Version
	if first == 0 {
		return nil, fmt.Errorf("storage: append %s: version 0 is the initial text: %w", id, ErrVersionConflict)
	}
	if snap != nil && (snap.Version < first || snap.Version > last) {
		return nil, bad("snapshot version %d outside %d..%d", snap.Version, first, last)
	}
	if snap != nil && snap.Version == last && utf8.RuneCountInString(snap.Text) != length {
		return nil, bad("snapshot has %d code points, length says %d", utf8.RuneCountInString(snap.Text), length)
	}
	if snap != nil && !utf8.ValidString(snap.Text) {
		return nil, bad("snapshot is not valid UTF-8")
	}
	now := db.now()
	buf := make([]byte, 0, 64*len(recs))
	ends := make([]int, len(recs))
	for i := range recs {
		r := &recs[i]
		if r.Version != first+uint64(i) {
			return nil, fmt.Errorf("storage: append %s: records not contiguous at %d (version %d): %w", id, i, r.Version, ErrVersionConflict)
		}
		if len(r.Session) > maxSessionLen || len(r.Author) > maxAuthorLen {
			return nil, bad("session or author too long at version %d", r.Version)
		}
		for _, c := range r.Op {
			if !validComponent(c) {
				return nil, bad("malformed op component at version %d", r.Version)
			}
		}
		buf = encodeRecord(buf, r, now)
		ends[i] = len(buf)
	}
	enc := make([][]byte, len(recs))
	start := 0
	for i, end := range ends {
		enc[i] = buf[start:end:end]
		start = end
	}
	return enc, nil
}

// putSessions records, for each session in recs, its last Seq and the
// version that op got.
func putSessions(b *bolt.Bucket, recs []OpRecord) error {
	sess := b.Bucket(bucketSess)
	var done []string // Sessions already written; usually one.
	for i := len(recs) - 1; i >= 0; i-- {
		r := &recs[i]
		if r.Session == "" || slices.Contains(done, r.Session) {
			continue
		}
		done = append(done, r.Session)
		if err := sess.Put([]byte(r.Session), encodeSession(r.Seq, r.Version)); err != nil {
			return err
		}
	}
	return nil
}

// PutSnapshot stores the text at snap.Version (at most the head), e.g. when
// a room unloads. The text is trusted; Check verifies it against the log.
func (db *DB) PutSnapshot(ctx context.Context, id string, snap Snapshot) error {
	if err := checkID("put snapshot", id); err != nil {
		return err
	}
	if !utf8.ValidString(snap.Text) {
		return fmt.Errorf("storage: put snapshot %s@%d: not valid UTF-8: %w", id, snap.Version, ErrInvalidArgument)
	}
	return db.write(ctx, func(tx *bolt.Tx) error {
		b, m, err := docBucket(tx, "put snapshot", id)
		if err != nil {
			return reject(err)
		}
		if snap.Version > m.Version {
			return reject(fmt.Errorf("storage: put snapshot %s@%d: head is %d: %w", id, snap.Version, m.Version, ErrVersionAhead))
		}
		return b.Bucket(bucketSnap).Put(versionKey(snap.Version), []byte(snap.Text))
	})
}

// Delete removes a document and all its data (ops, snapshots, sessions).
func (db *DB) Delete(ctx context.Context, id string) error {
	if err := checkID("delete", id); err != nil {
		return err
	}
	return db.write(ctx, func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		if docs.Bucket([]byte(id)) == nil {
			return reject(fmt.Errorf("storage: delete %s: %w", id, ErrNotFound))
		}
		return docs.DeleteBucket([]byte(id))
	})
}
