package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/foliodocs/folio/ot"
	bolt "go.etcd.io/bbolt"
)

// readPrologue checks a read's arguments.
func readPrologue(ctx context.Context, op, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return checkID(op, id)
}

// settledPrologue checks a read's arguments and settles the document, for
// the reads that see bbolt alone.
func (db *DB) settledPrologue(ctx context.Context, op, id string) error {
	if err := readPrologue(ctx, op, id); err != nil {
		return err
	}
	return db.settle(ctx, id)
}

// Meta returns a document's metadata.
func (db *DB) Meta(ctx context.Context, id string) (Meta, error) {
	if err := readPrologue(ctx, "meta", id); err != nil {
		return Meta{}, err
	}
	var m metaRec
	err := db.overlayView(id, func(tx *bolt.Tx, ov *overlay) (err error) {
		m, err = getMeta(tx, "meta", id)
		if err == nil && ov != nil {
			m.Version, m.Length, m.UpdatedAt = ov.version, ov.length, ov.at
		}
		return err
	})
	return m.Meta, err
}

// Load returns a document's metadata, its latest snapshot and every op after
// that snapshot up to the head.
func (db *DB) Load(ctx context.Context, id string) (Loaded, error) {
	if err := db.settledPrologue(ctx, "load", id); err != nil {
		return Loaded{}, err
	}
	var l Loaded
	err := db.view(func(tx *bolt.Tx) error {
		m, err := getMeta(tx, "load", id)
		if err != nil {
			return err
		}
		l.Meta = m.Meta
		if l.Snapshot, err = snapshotAtOrBelow(tx, id, m.Version); err != nil {
			return err
		}
		l.Ops = make([]OpRecord, 0, m.Version-l.Snapshot.Version)
		return eachOp(ctx, tx, m, l.Snapshot.Version, m.Version, func(r OpRecord) error {
			l.Ops = append(l.Ops, r)
			return nil
		})
	})
	if err != nil {
		return Loaded{}, err
	}
	return l, nil
}

// snapshotAtOrBelow returns the snapshot with the highest version <= v.
func snapshotAtOrBelow(tx *bolt.Tx, id string, v uint64) (Snapshot, error) {
	b, err := docBucket(tx, id)
	if err != nil {
		return Snapshot{}, err
	}
	c := b.Bucket(bucketSnap).Cursor()
	k, text := c.Seek(versionKey(v))
	if k == nil || keyVersion(k) > v {
		k, text = c.Prev()
	}
	if k == nil || !isVersionKey(k) {
		return Snapshot{}, fmt.Errorf("storage: %s: no snapshot at or below %d: %w", id, v, ErrCorrupt)
	}
	s, err := decodeSnapshot(text)
	if err != nil {
		return Snapshot{}, fmt.Errorf("storage: %s: snapshot %d: %w", id, keyVersion(k), err)
	}
	return Snapshot{Version: keyVersion(k), Text: s}, nil
}

// Ops returns the ops that produced versions from+1..to inclusive; empty
// when from >= to. to beyond the head is ErrVersionAhead; from before the
// document's Base is ErrVersionGone.
func (db *DB) Ops(ctx context.Context, id string, from, to uint64) ([]OpRecord, error) {
	ops, _, err := db.readOps(ctx, id, from, to, math.MaxInt)
	return ops, err
}

// OpsWithin is Ops bounded by size, for a reader that would rather have
// something else (the text, a shorter page) than ops past maxBytes: it
// stops after the first op that takes the total Size of those it read past
// maxBytes, and returns them and their total. So size > maxBytes says it
// stopped there (or that the last op passed it); the ops after the one that
// passed maxBytes are never decoded.
func (db *DB) OpsWithin(ctx context.Context, id string, from, to uint64, maxBytes int) (ops []OpRecord, size int, err error) {
	return db.readOps(ctx, id, from, to, maxBytes)
}

// errOverSize ends readOps' walk once maxBytes is passed.
var errOverSize = errors.New("over size")

func (db *DB) readOps(ctx context.Context, id string, from, to uint64, maxBytes int) (ops []OpRecord, size int, err error) {
	if err := readPrologue(ctx, "ops", id); err != nil {
		return nil, 0, err
	}
	take := func(r OpRecord) error {
		ops = append(ops, r)
		if size += r.Size(); size > maxBytes {
			return errOverSize
		}
		return nil
	}
	err = db.overlayView(id, func(tx *bolt.Tx, ov *overlay) error {
		ops, size = nil, 0
		m, err := getMeta(tx, "ops", id)
		if err != nil {
			return err
		}
		head := m.Version
		if ov != nil {
			head = ov.version
		}
		if to > head {
			return fmt.Errorf("storage: ops %s %d..%d: head is %d: %w", id, from, to, head, ErrVersionAhead)
		}
		if from < m.Base && from < to {
			return fmt.Errorf("storage: ops %s %d..%d: the document starts at %d: %w", id, from, to, m.Base, ErrVersionGone)
		}
		if from < to && maxBytes == math.MaxInt {
			ops = make([]OpRecord, 0, to-from)
		}
		err = eachOp(ctx, tx, m, from, min(to, m.Version), take)
		if err != nil || ov == nil {
			return err
		}
		for _, r := range ov.recs { // Versions m.Version+1..ov.version.
			if r.Version > max(from, m.Version) && r.Version <= to {
				r.Op = slices.Clone(r.Op) // The caller may change what it gets.
				if err := take(r); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == errOverSize {
		err = nil
	}
	if err != nil {
		return nil, 0, err
	}
	return ops, size, nil
}

// TextAt returns the text at version: the nearest snapshot at or below it
// plus a replay of the ops after it. A version beyond the head is
// ErrVersionAhead, one before the document's Base ErrVersionGone.
func (db *DB) TextAt(ctx context.Context, id string, version uint64) (string, error) {
	if err := readPrologue(ctx, "text at", id); err != nil {
		return "", err
	}
	var text string
	err := db.overlayView(id, func(tx *bolt.Tx, ov *overlay) error {
		m, err := getMeta(tx, "text at", id)
		if err != nil {
			return err
		}
		head := m.Version
		if ov != nil {
			head = ov.version
		}
		if version > head {
			return fmt.Errorf("storage: text at %s@%d: head is %d: %w", id, version, head, ErrVersionAhead)
		}
		if version < m.Base {
			return fmt.Errorf("storage: text at %s@%d: the document starts at %d: %w", id, version, m.Base, ErrVersionGone)
		}
		stored := min(version, m.Version) // Snapshots and ops up to here are in bbolt.
		snap, err := snapshotAtOrBelow(tx, id, stored)
		if err != nil || snap.Version == version {
			text = snap.Text
			return err
		}
		doc := ot.NewDocument(snap.Text)
		apply := func(r OpRecord) error {
			if err := doc.Apply(r.Op); err != nil {
				return fmt.Errorf("storage: %s: replay op %d: %v: %w", id, r.Version, err, ErrCorrupt)
			}
			return nil
		}
		if err := eachOp(ctx, tx, m, snap.Version, stored, apply); err != nil {
			return err
		}
		if ov != nil {
			for _, r := range ov.recs { // Versions m.Version+1..ov.version.
				if r.Version > m.Version && r.Version <= version {
					if err := apply(r); err != nil {
						return err
					}
				}
			}
		}
		text = doc.String()
		return nil
	})
	if err != nil {
		return "", err
	}
	return text, nil
}

// DefaultListLimit and MaxListLimit bound List's page size.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// List returns up to limit documents with ids sorted after the cursor after
// ("" for the first page), and the cursor of the next page ("" at the end).
// limit <= 0 means DefaultListLimit; it is capped at MaxListLimit.
func (db *DB) List(ctx context.Context, after string, limit int) ([]Meta, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if after != "" && !ValidID(after) {
		return nil, "", fmt.Errorf("storage: list after %q: %w", after, ErrInvalidID)
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	var metas []Meta
	var next string
	heads := func(m map[string]*overlay) map[string]overlay { // The heads only.
		out := make(map[string]overlay, len(m))
		for id, p := range m {
			out[id] = overlay{version: p.version, length: p.length, at: p.at}
		}
		return out
	}
	err := db.overlaysView(heads, func(tx *bolt.Tx, ovs map[string]overlay) error {
		c := tx.Bucket(bucketMeta).Cursor()
		k, v := c.Seek([]byte(after))
		if k != nil && bytes.Equal(k, []byte(after)) {
			k, v = c.Next()
		}
		for ; k != nil; k, v = c.Next() {
			if len(metas) == limit {
				next = metas[len(metas)-1].ID
				return nil
			}
			m, err := decodeMeta(string(k), v)
			if err != nil {
				return fmt.Errorf("storage: list: %w", err)
			}
			if ov, ok := ovs[m.ID]; ok {
				m.Version, m.Length, m.UpdatedAt = ov.version, ov.length, ov.at
			}
			metas = append(metas, m.Meta)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return metas, next, nil
}

// SessionSeq returns the highest sequence number committed for session on
// document id and the version its op got; 0, 0, nil for an unknown session.
func (db *DB) SessionSeq(ctx context.Context, id, session string) (seq, version uint64, err error) {
	if err := db.settledPrologue(ctx, "session seq", id); err != nil {
		return 0, 0, err
	}
	err = db.view(func(tx *bolt.Tx) error {
		m, err := getMeta(tx, "session seq", id)
		if err != nil || session == "" {
			return err
		}
		var found bool
		if seq, version, found, err = pendingSession(tx, m, session); err != nil || found {
			return err
		}
		b, err := docBucket(tx, id)
		if err != nil {
			return err
		}
		v := b.Bucket(bucketSess).Get([]byte(session))
		if v == nil {
			return nil
		}
		seq, version, err = decodeSession(v)
		if err != nil {
			return fmt.Errorf("storage: session seq %s/%s: %w", id, session, err)
		}
		return nil
	})
	return seq, version, err
}

// Backup writes a consistent copy of the whole database to w while writers
// go on (a bbolt read transaction), returning the bytes written.
//
// A read-only DB (OpenReadOnly) whose journal holds records bbolt does not
// writes a copy with them applied, made in a scratch copy of both files in
// the system's temporary directory. When that copy cannot be removed
// after a complete backup, the error is a *ScratchLeftError naming it: w
// holds the whole backup all the same.
func (db *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if db.readOnly {
		db.mu.Lock()
		pending := len(db.overlay) > 0 // Never changes: no committer.
		db.mu.Unlock()
		if pending {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			return db.backupReadOnly(ctx, w)
		}
	}
	if err := db.settle(ctx, ""); err != nil {
		return 0, err
	}
	var n int64
	err := db.view(func(tx *bolt.Tx) (err error) {
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("storage: backup: %w", err)
	}
	return n, nil
}
