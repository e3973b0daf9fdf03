package storage

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/foliodocs/folio/ot"
	bolt "go.etcd.io/bbolt"
)

// Check verifies the whole database: bbolt's own page checks, the format
// marker, and for every document that its ops are exactly Base+1..head (in
// its bucket and then in its log chain), that a snapshot exists at its Base
// and none beyond the head, that replaying the log from its Base reproduces
// every snapshot and the head length, and that every session record points
// at an op of that session; that no bucket or log entry belongs to no
// document; and that every tombstone is readable and names no live
// document. It returns errors.Join of every problem found, each wrapping
// ErrCorrupt.
func (db *DB) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := db.settle(ctx, ""); err != nil {
		return err
	}
	return db.checkCtx(ctx)
}

func (db *DB) check() error { return db.checkCtx(context.Background()) }

func (db *DB) checkCtx(ctx context.Context) error {
	var errs []error
	err := db.view(func(tx *bolt.Tx) (err error) {
		errs, err = checkTx(ctx, tx)
		return err
	})
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("storage: check %s: %w", db.path, errors.Join(errs...))
	}
	return nil
}

// checkTx checks what tx holds (see Check) and returns every problem.
func checkTx(ctx context.Context, tx *bolt.Tx) (errs []error, err error) {
	if err := tx.ForEach(func(_ []byte, b *bolt.Bucket) error { touch(b); return nil }); err != nil {
		return nil, err
	}
	for err := range tx.Check() {
		errs = append(errs, corrupt("bbolt: %v", err))
	}
	if fb := tx.Bucket(bucketFolio); fb == nil || string(fb.Get(keyFormat)) != formatV1 {
		errs = append(errs, corrupt("missing or wrong format marker"))
	}
	for _, name := range [][]byte{bucketDocs, bucketMeta, bucketLog} {
		if tx.Bucket(name) == nil {
			return append(errs, corrupt("missing bucket %q", name)), nil
		}
	}
	return checkDocs(ctx, tx, errs)
}

// touch reads every key and value of b and of its nested buckets. Check
// runs it before tx.Check, which walks the same pages on a goroutine of its
// own: there a page a damaged file puts past the mapping is a memory fault
// that ends the process, while here (view) it is ErrCorrupt.
func touch(b *bolt.Bucket) (sum uint32) {
	b.ForEach(func(k, v []byte) error {
		sum = crc32.Update(sum, castagnoli, k)
		if v != nil {
			sum = crc32.Update(sum, castagnoli, v)
		} else if nested := b.Bucket(k); nested != nil {
			sum ^= touch(nested)
		}
		return nil
	})
	return sum
}

// checkDocs checks every document, then that every document bucket has a
// meta and every log entry is in some document's chain.
func checkDocs(ctx context.Context, tx *bolt.Tx, errs []error) ([]error, error) {
	owner := map[uint64]string{} // Log key -> document whose chain holds it.
	err := tx.Bucket(bucketMeta).ForEach(func(k, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := checkDoc(ctx, tx, k, v, owner); err != nil {
			errs = append(errs, fmt.Errorf("document %q: %w", k, err))
		}
		return nil
	})
	if err != nil {
		return errs, err
	}
	meta := tx.Bucket(bucketMeta)
	tx.Bucket(bucketDocs).ForEach(func(k, _ []byte) error {
		if meta.Get(k) == nil {
			errs = append(errs, corrupt("document bucket %q without meta", k))
		}
		return nil
	})
	tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
		if err := checkLogEntry(tx, k, v, owner); err != nil {
			errs = append(errs, fmt.Errorf("log entry %x: %w", k, err))
		}
		return nil
	})
	if gone := tx.Bucket(bucketGone); gone != nil {
		gone.ForEach(func(k, v []byte) error {
			if _, err := decodeTombstone(v); err != nil {
				errs = append(errs, fmt.Errorf("document %q: %w", k, err))
			} else if meta.Get(k) != nil {
				errs = append(errs, corrupt("document %q has a tombstone", k))
			}
			return nil
		})
	}
	return errs, nil
}

// checkLogEntry verifies that a log entry is pending in its document's chain
// or already flushed (awaiting trimLog).
func checkLogEntry(tx *bolt.Tx, k, v []byte, owner map[uint64]string) error {
	if !isVersionKey(k) {
		return corrupt("bad key")
	}
	if _, ok := owner[keyVersion(k)]; ok {
		return nil
	}
	e, err := decodeEntry(v)
	if err != nil {
		return err
	}
	mv := tx.Bucket(bucketMeta).Get([]byte(e.id))
	if mv == nil {
		return corrupt("belongs to no document (%q)", e.id)
	}
	m, err := decodeMeta(e.id, mv)
	if err != nil {
		return err
	}
	if e.last() > m.flushed {
		return corrupt("holds %s@%d..%d, neither pending nor flushed (flushed to %d)", e.id, e.first, e.last(), m.flushed)
	}
	return nil
}

func corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, a...))
}

// checkDoc verifies one document; k and v are its meta entry.
func checkDoc(ctx context.Context, tx *bolt.Tx, k, v []byte, owner map[uint64]string) error {
	id := string(k)
	if !ValidID(id) {
		return corrupt("invalid id")
	}
	m, err := decodeMeta(id, v)
	if err != nil {
		return err
	}
	b, err := docBucket(tx, id)
	if err != nil {
		return err
	}
	snaps, sess := b.Bucket(bucketSnap), b.Bucket(bucketSess)
	if snaps == nil || sess == nil {
		return corrupt("missing snapshot or session bucket")
	}
	keys, _, err := pendingEntries(tx, m)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if other, ok := owner[k]; ok {
			return corrupt("log entry %d also in the chain of %q", k, other)
		}
		owner[k] = id
	}
	return errors.Join(checkKeys(b, m), checkReplay(ctx, tx, snaps, m), checkSessions(b, sess, m))
}

// checkKeys verifies that the document bucket holds chunks of ops
// Base+1..flushed and the two sub-buckets, nothing else.
func checkKeys(b *bolt.Bucket, m metaRec) error {
	n := m.Base
	err := b.ForEach(func(k, v []byte) error {
		switch {
		case isVersionKey(k):
			if v == nil || keyVersion(k) != n+1 {
				return corrupt("op chunk at %d where %d expected", keyVersion(k), n+1)
			}
			count, err := chunkCount(v)
			if err != nil {
				return err
			}
			n += uint64(count)
		case string(k) == string(bucketSnap), string(k) == string(bucketSess):
			if v != nil {
				return corrupt("%s is not a bucket", k)
			}
		default:
			return corrupt("unexpected key %q", k)
		}
		return nil
	})
	if err == nil && n != m.flushed {
		err = corrupt("bucket holds ops %d..%d, meta says flushed to %d", m.Base+1, n, m.flushed)
	}
	return err
}

// checkReplay replays ops Base+1..head from the snapshot at Base, comparing
// every snapshot on the way and the head length.
func checkReplay(ctx context.Context, tx *bolt.Tx, snaps *bolt.Bucket, m metaRec) error {
	sc := snaps.Cursor()
	sk, sv := sc.First()
	if sk == nil || !isVersionKey(sk) || keyVersion(sk) != m.Base {
		return corrupt("no snapshot at version %d, where the document starts", m.Base)
	}
	text, err := decodeSnapshot(sv)
	if err != nil {
		return fmt.Errorf("snapshot %d: %w", m.Base, err)
	}
	doc := ot.NewDocument(text)
	var errs []error
	sk, sv = sc.Next()
	err = eachOp(ctx, tx, m, m.Base, m.Version, func(r OpRecord) error {
		if err := doc.Apply(r.Op); err != nil {
			return corrupt("replay op %d: %v", r.Version, err)
		}
		for ; sk != nil && keyVersion(sk) <= r.Version; sk, sv = sc.Next() {
			if keyVersion(sk) != r.Version {
				continue
			}
			if text, err := decodeSnapshot(sv); err != nil || doc.String() != text {
				errs = append(errs, corrupt("snapshot %d differs from the replayed log (%v)", r.Version, err))
			}
		}
		return nil
	})
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if sk != nil {
		errs = append(errs, corrupt("snapshot %d beyond the head %d", keyVersion(sk), m.Version))
	}
	if doc.Len() != m.Length {
		errs = append(errs, corrupt("head length is %d code points, meta says %d", doc.Len(), m.Length))
	}
	return errors.Join(errs...)
}

// checkSessions verifies that each session record names a flushed op of
// that session with that seq.
func checkSessions(b, sess *bolt.Bucket, m metaRec) error {
	var errs []error
	sess.ForEach(func(k, v []byte) error {
		seq, version, err := decodeSession(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("session %q: %w", k, err))
			return nil
		}
		if version <= m.Base || version > m.flushed {
			errs = append(errs, corrupt("session %q at version %d, flushed to %d", k, version, m.flushed))
			return nil
		}
		var r OpRecord
		err = eachStored(context.Background(), b, m.ID, version-1, version, func(rec OpRecord) error {
			r = rec
			return nil
		})
		if err != nil || r.Session != string(k) || r.Seq != seq {
			errs = append(errs, corrupt("session %q seq %d does not match op %d", k, seq, version))
		}
		return nil
	})
	return errors.Join(errs...)
}
