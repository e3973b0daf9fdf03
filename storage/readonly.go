package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrReadOnly is returned by a DB opened with OpenReadOnly for every write,
// and for a read that would first have the committer checkpoint (see
// OpenReadOnly).
var ErrReadOnly = errors.New("database is open read-only")

// OpenReadOnly opens the closed database file at path and its journal for
// reading, writing to neither file: bbolt is opened read-only and the
// journal's records that a replay would apply are held in memory as the
// overlay that Meta, Ops, TextAt and List already add to what bbolt holds,
// so those reads see every acknowledged op, also on a crash copy or a
// read-only copy. Open would apply the journal and empty it (a bbolt
// commit even when bbolt holds every record), create a missing journal
// and give an older file its id.
//
// The DB has no committer: Create, Append, PutSnapshot and Delete fail
// with ErrReadOnly, and so do the reads that see bbolt alone (Load,
// SessionSeq, Check) when the journal holds records they would need
// checkpointed. Backup then replays the journal into a scratch copy in the
// system's temporary directory instead, and writes that copy; should the
// scratch copy outlive a complete backup, it returns a *ScratchLeftError.
//
// A journal that Open refuses fails OpenReadOnly the same way
// (ErrCorrupt), as does a record that does not continue its document's
// head (in CheckFile's words). An empty file (which Open would make a new
// database) fails too. A database another process holds fails after
// opts.LockTimeout (the only field used) with ErrLocked.
func OpenReadOnly(path string, opts Options) (*DB, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	opts.Now = time.Now // Only for the checks of a write's arguments, before ErrReadOnly.
	if info, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	} else if info.Size() == 0 { // bbolt would write its first pages.
		return nil, fmt.Errorf("storage: open %s: an empty file, not yet a database", path)
	}
	bdb, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: opts.LockTimeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, openError(path, opts.LockTimeout, err)
	}
	db := &DB{path: path, opts: opts, bolt: bdb, stop: make(chan struct{}), readOnly: true}
	if err := db.loadReadOnly(); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	return db, nil
}

// loadReadOnly checks the format marker and builds the overlay from the
// journal's records that bbolt lacks.
func (db *DB) loadReadOnly() error {
	jpath := JournalPath(db.path)
	jdata, err := readJournalFile(db.path)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return db.view(func(tx *bolt.Tx) error {
		if empty, err := checkFormat(tx); err != nil {
			return err
		} else if empty {
			return fmt.Errorf("%w: a bbolt file without the Folio format marker", ErrCorrupt)
		}
		id, applied, err := readJournalState(tx)
		if err != nil {
			return err
		}
		todo, _, _, err := readJournal(jpath, jdata, id, applied)
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		db.overlay, db.base = map[string]*overlay{}, applied
		for _, j := range todo {
			ov := db.overlay[j.id]
			if ov == nil {
				m, err := getMeta(tx, "append", j.id)
				if err != nil {
					return fmt.Errorf("journal: %w", j.recordError(jpath, err))
				}
				ov = &overlay{version: m.Version}
				db.overlay[j.id] = ov
			}
			if err := j.checkHead(jpath, ov.version); err != nil {
				return fmt.Errorf("journal: %w", err)
			}
			ov.version, ov.length, ov.at = j.last, j.length, j.at
			ov.recs = append(ov.recs, j.recs...)
		}
		return nil
	})
}

// ScratchLeftError is the error Backup returns when the backup it wrote
// to w is complete but the scratch copy it made for it (a read-only DB
// whose journal holds records bbolt lacks: see OpenReadOnly) could not be
// removed afterwards: Dir, in the system's temporary directory, holds a
// full copy of the database until someone deletes it. The caller has its
// backup and should not fail it, but tell whoever can delete Dir. Backup
// returns one only with a complete backup; a failed backup whose scratch
// copy stays names it in its error, not as a ScratchLeftError.
type ScratchLeftError struct {
	Dir string // The scratch directory left, safe to delete.
	Err error  // Why it could not be removed.
}

func (e *ScratchLeftError) Error() string {
	return fmt.Sprintf("storage: backup complete, but its scratch copy %s (a full copy of the database, safe to delete) could not be removed: %v",
		e.Dir, e.Err)
}

func (e *ScratchLeftError) Unwrap() error { return e.Err }

// backupReadOnly is Backup of a read-only DB whose journal holds records
// bbolt lacks: bbolt's copy alone would miss them, and they cannot be
// checkpointed into the file read. So a scratch copy of both files, in
// the system's temporary directory, is opened (its journal applied) and
// its Backup written to w; the scratch copy is removed, and one that
// cannot be is reported (a ScratchLeftError when the backup is complete).
func (db *DB) backupReadOnly(ctx context.Context, w io.Writer) (int64, error) {
	dir, err := os.MkdirTemp("", "folio-backup-*")
	if err != nil {
		return 0, fmt.Errorf("storage: backup: %w", err)
	}
	n, err := db.backupVia(ctx, filepath.Join(dir, filepath.Base(db.path)), w)
	rmErr := os.RemoveAll(dir)
	switch {
	case err != nil && rmErr != nil:
		return n, fmt.Errorf("storage: backup: %w (its scratch copy %s, safe to delete, could not be removed: %v)", err, dir, rmErr)
	case err != nil:
		return n, fmt.Errorf("storage: backup: %w", err)
	case rmErr != nil:
		return n, &ScratchLeftError{Dir: dir, Err: rmErr}
	}
	return n, nil
}

// backupVia makes scratch a copy of db's files, opens it (applying its
// journal) and writes its Backup to w.
func (db *DB) backupVia(ctx context.Context, scratch string, w io.Writer) (int64, error) {
	// The journal is read under bbolt's lock, which db holds: no Folio
	// process writes it meanwhile.
	jdata, err := os.ReadFile(JournalPath(db.path))
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(JournalPath(scratch), jdata, 0o600); err != nil {
		return 0, err
	}
	err = db.view(func(tx *bolt.Tx) error { return tx.CopyFile(scratch, 0o600) })
	if err != nil {
		return 0, err
	}
	sdb, err := Open(scratch, Options{NoSync: true}) // Scratch: w is what the caller makes durable.
	if err != nil {
		return 0, err
	}
	n, err := sdb.Backup(ctx, w)
	return n, errors.Join(err, sdb.Close())
}
