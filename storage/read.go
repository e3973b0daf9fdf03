package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/foliodocs/folio/ot"
	bolt "go.etcd.io/bbolt"
)

// Meta returns a document's metadata.
func (db *DB) Meta(ctx context.Context, id string) (Meta, error) {
	if err := readPrologue(ctx, "meta", id); err != nil {
		return Meta{}, err
	}
	var m Meta
	err := db.view(func(tx *bolt.Tx) (err error) {
		_, m, err = docBucket(tx, "meta", id)
		return err
	})
	return m, err
}

func readPrologue(ctx context.Context, op, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return checkID(op, id)
}

// Load returns a document's metadata, its latest snapshot and every op after
// that snapshot up to the head.
func (db *DB) Load(ctx context.Context, id string) (Loaded, error) {
	if err := readPrologue(ctx, "load", id); err != nil {
		return Loaded{}, err
	}
	var l Loaded
	err := db.view(func(tx *bolt.Tx) error {
		b, m, err := docBucket(tx, "load", id)
		if err != nil {
			return err
		}
		l.Meta = m
		l.Snapshot, err = snapshotAtOrBelow(b, id, m.Version)
		if err != nil {
			return err
		}
		l.Ops, err = readOps(ctx, b, id, l.Snapshot.Version, m.Version)
		return err
	})
	if err != nil {
		return Loaded{}, err
	}
	return l, nil
}

// snapshotAtOrBelow returns the snapshot with the highest version <= v.
func snapshotAtOrBelow(b *bolt.Bucket, id string, v uint64) (Snapshot, error) {
	c := b.Bucket(bucketSnap).Cursor()
	k, text := c.Seek(versionKey(v))
	if k == nil || keyVersion(k) > v {
		k, text = c.Prev()
	}
	if k == nil || !isVersionKey(k) {
		return Snapshot{}, fmt.Errorf("storage: %s: no snapshot at or below %d: %w", id, v, ErrCorrupt)
	}
	return Snapshot{Version: keyVersion(k), Text: string(text)}, nil
}

// readOps decodes ops from+1..to, which must all exist.
func readOps(ctx context.Context, b *bolt.Bucket, id string, from, to uint64) ([]OpRecord, error) {
	if from >= to {
		return nil, nil
	}
	ops := make([]OpRecord, 0, to-from)
	c := b.Cursor()
	want := from + 1
	for k, v := c.Seek(versionKey(want)); want <= to; k, v = c.Next() {
		if k == nil || !isVersionKey(k) || keyVersion(k) != want {
			return nil, fmt.Errorf("storage: %s: op %d missing: %w", id, want, ErrCorrupt)
		}
		if want%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		r, err := decodeRecord(want, v)
		if err != nil {
			return nil, fmt.Errorf("storage: %s: %w", id, err)
		}
		ops = append(ops, r)
		want++
	}
	return ops, nil
}

// Ops returns the ops that produced versions from+1..to inclusive; empty
// when from >= to. to beyond the head is ErrVersionAhead.
func (db *DB) Ops(ctx context.Context, id string, from, to uint64) ([]OpRecord, error) {
	if err := readPrologue(ctx, "ops", id); err != nil {
		return nil, err
	}
	var ops []OpRecord
	err := db.view(func(tx *bolt.Tx) error {
		b, m, err := docBucket(tx, "ops", id)
		if err != nil {
			return err
		}
		if to > m.Version {
			return fmt.Errorf("storage: ops %s %d..%d: head is %d: %w", id, from, to, m.Version, ErrVersionAhead)
		}
		ops, err = readOps(ctx, b, id, from, to)
		return err
	})
	return ops, err
}

// TextAt returns the text at version: the nearest snapshot at or below it
// plus a replay of the ops after it. A version beyond the head is
// ErrVersionAhead.
func (db *DB) TextAt(ctx context.Context, id string, version uint64) (string, error) {
	if err := readPrologue(ctx, "text at", id); err != nil {
		return "", err
	}
	var text string
	err := db.view(func(tx *bolt.Tx) error {
		b, m, err := docBucket(tx, "text at", id)
		if err != nil {
			return err
		}
		if version > m.Version {
			return fmt.Errorf("storage: text at %s@%d: head is %d: %w", id, version, m.Version, ErrVersionAhead)
		}
		snap, err := snapshotAtOrBelow(b, id, version)
		if err != nil {
			return err
		}
		text, err = replay(ctx, b, id, snap, version)
		return err
	})
	return text, err
}

// replay applies ops snap.Version+1..to to snap.Text, decoding one at a time.
func replay(ctx context.Context, b *bolt.Bucket, id string, snap Snapshot, to uint64) (string, error) {
	if snap.Version == to {
		return snap.Text, nil
	}
	doc := ot.NewDocument(snap.Text)
	c := b.Cursor()
	want := snap.Version + 1
	for k, v := c.Seek(versionKey(want)); want <= to; k, v = c.Next() {
		if k == nil || !isVersionKey(k) || keyVersion(k) != want {
			return "", fmt.Errorf("storage: %s: op %d missing: %w", id, want, ErrCorrupt)
		}
		if want%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return "", err
			}
		}
		r, err := decodeRecord(want, v)
		if err != nil {
			return "", fmt.Errorf("storage: %s: %w", id, err)
		}
		if err := doc.Apply(r.Op); err != nil {
			return "", fmt.Errorf("storage: %s: replay op %d: %v: %w", id, want, err, ErrCorrupt)
		}
		want++
	}
	return doc.String(), nil
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
	err := db.view(func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		c := docs.Cursor()
		k, _ := c.Seek([]byte(after))
		if k != nil && bytes.Equal(k, []byte(after)) {
			k, _ = c.Next()
		}
		for ; k != nil; k, _ = c.Next() {
			if len(metas) == limit {
				next = metas[len(metas)-1].ID
				return nil
			}
			m, err := decodeMeta(string(k), docs.Bucket(k).Get(keyMeta))
			if err != nil {
				return fmt.Errorf("storage: list: %w", err)
			}
			metas = append(metas, m)
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
	if err := readPrologue(ctx, "session seq", id); err != nil {
		return 0, 0, err
	}
	err = db.view(func(tx *bolt.Tx) error {
		b, _, err := docBucket(tx, "session seq", id)
		if err != nil || session == "" {
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
func (db *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if err := ctx.Err(); err != nil {
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
