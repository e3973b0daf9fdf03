package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/foliodocs/folio/ot"
	bolt "go.etcd.io/bbolt"
)

// Check verifies the whole database: bbolt's own page checks, the format
// marker, and for every document that its ops are exactly 1..head, that a
// snapshot exists at version 0 and none beyond the head, that replaying the
// log from version 0 reproduces every snapshot and the head length, and that
// every session record points at an op of that session. It returns
// errors.Join of every problem found, each wrapping ErrCorrupt.
func (db *DB) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.checkCtx(ctx)
}

func (db *DB) check() error { return db.checkCtx(context.Background()) }

func (db *DB) checkCtx(ctx context.Context) error {
	var errs []error
	err := db.view(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, fmt.Errorf("%w: bbolt: %v", ErrCorrupt, err))
		}
		if fb := tx.Bucket(bucketFolio); fb == nil || string(fb.Get(keyFormat)) != formatV1 {
			errs = append(errs, fmt.Errorf("%w: missing or wrong format marker", ErrCorrupt))
		}
		docs := tx.Bucket(bucketDocs)
		if docs == nil {
			errs = append(errs, fmt.Errorf("%w: missing bucket %q", ErrCorrupt, bucketDocs))
			return nil
		}
		return docs.ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := checkDoc(docs, k, v); err != nil {
				errs = append(errs, fmt.Errorf("document %q: %w", k, err))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("storage: check %s: %w", db.path, errors.Join(errs...))
	}
	return nil
}

func corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, a...))
}

// checkDoc verifies one document's bucket; k and v are its entry in docs.
func checkDoc(docs *bolt.Bucket, k, v []byte) error {
	id := string(k)
	b := docs.Bucket(k)
	if v != nil || b == nil {
		return corrupt("not a bucket")
	}
	if !ValidID(id) {
		return corrupt("invalid id")
	}
	m, err := decodeMeta(id, b.Get(keyMeta))
	if err != nil {
		return err
	}
	snaps, sess := b.Bucket(bucketSnap), b.Bucket(bucketSess)
	if snaps == nil || sess == nil {
		return corrupt("missing snapshot or session bucket")
	}
	var errs []error
	if err := checkKeys(b); err != nil {
		errs = append(errs, err)
	}
	if err := checkReplay(b, snaps, m); err != nil {
		errs = append(errs, err)
	}
	if err := checkSessions(b, sess, m); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkKeys verifies that the document bucket holds only ops, the meta and
// the two sub-buckets.
func checkKeys(b *bolt.Bucket) error {
	return b.ForEach(func(k, v []byte) error {
		switch {
		case isVersionKey(k):
			if v == nil {
				return corrupt("bucket at an op key")
			}
		case string(k) == string(keyMeta):
		case string(k) == string(bucketSnap), string(k) == string(bucketSess):
			if v != nil {
				return corrupt("%s is not a bucket", k)
			}
		default:
			return corrupt("unexpected key %q", k)
		}
		return nil
	})
}

// checkReplay replays ops 1..head from snapshot 0, comparing every snapshot
// on the way and the head length.
func checkReplay(b, snaps *bolt.Bucket, m Meta) error {
	sc := snaps.Cursor()
	sk, sv := sc.First()
	if sk == nil || !isVersionKey(sk) || keyVersion(sk) != 0 {
		return corrupt("no snapshot at version 0")
	}
	doc := ot.NewDocument(string(sv))
	var errs []error
	sk, sv = sc.Next()
	next := uint64(1)
	c := b.Cursor()
	for k, v := c.First(); k != nil && isVersionKey(k); k, v = c.Next() {
		if keyVersion(k) != next {
			return errors.Join(append(errs, corrupt("op %d found where %d expected", keyVersion(k), next))...)
		}
		r, err := decodeRecord(next, v)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		if err := doc.Apply(r.Op); err != nil {
			return errors.Join(append(errs, corrupt("replay op %d: %v", next, err))...)
		}
		for sk != nil && keyVersion(sk) <= next {
			if keyVersion(sk) == next && doc.String() != string(sv) {
				errs = append(errs, corrupt("snapshot %d differs from the replayed log", next))
			}
			sk, sv = sc.Next()
		}
		next++
	}
	if next-1 != m.Version {
		errs = append(errs, corrupt("log ends at %d, head is %d", next-1, m.Version))
	}
	if sk != nil {
		errs = append(errs, corrupt("snapshot %d beyond the log", keyVersion(sk)))
	}
	if doc.Len() != m.Length {
		errs = append(errs, corrupt("head length is %d code points, meta says %d", doc.Len(), m.Length))
	}
	return errors.Join(errs...)
}

// checkSessions verifies that each session record names an op of that
// session with that seq.
func checkSessions(b, sess *bolt.Bucket, m Meta) error {
	var errs []error
	sess.ForEach(func(k, v []byte) error {
		seq, version, err := decodeSession(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("session %q: %w", k, err))
			return nil
		}
		if version == 0 || version > m.Version {
			errs = append(errs, corrupt("session %q at version %d, head is %d", k, version, m.Version))
			return nil
		}
		r, err := decodeRecord(version, b.Get(versionKey(version)))
		if err != nil || r.Session != string(k) || r.Seq != seq {
			errs = append(errs, corrupt("session %q seq %d does not match op %d", k, seq, version))
		}
		return nil
	})
	return errors.Join(errs...)
}
