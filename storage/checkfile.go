package storage

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/foliodocs/folio/ot"
	bolt "go.etcd.io/bbolt"
)

// CheckFile checks the closed database file at path and its journal as
// Open followed by Check would, writing to neither file. Open applies the
// journal's records and empties it (a bbolt commit even when bbolt holds
// them all), creates a missing journal and gives an older file its id;
// CheckFile opens both read-only, so it also works on a read-only copy,
// and checks in memory the records a replay would apply: a journal Open
// refuses is reported as Open reports it, each record must continue its
// document's head, and a document's stored ops and its records' must
// replay to the length its last record gives. A database another process
// holds fails after opts.LockTimeout (the only field used) with ErrLocked.
// It returns errors.Join of every problem found, each wrapping ErrCorrupt,
// or the error that kept it from checking.
func CheckFile(ctx context.Context, path string, opts Options) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if info, err := os.Stat(path); err == nil && info.Size() == 0 {
		return checkEmpty(path) // bbolt would write its first pages.
	}
	bdb, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: opts.LockTimeout,
		FreelistType: bolt.FreelistMapType,
		// Loaded here, where a damaged freelist is ErrCorrupt, not in
		// tx.Check's goroutine, where a memory fault ends the process.
		PreLoadFreelist: true})
	if err != nil {
		return openError(path, opts.LockTimeout, err)
	}
	defer bdb.Close()
	jdata, err := readJournalFile(path)
	if err != nil {
		return fmt.Errorf("storage: check %s: journal: %w", path, err)
	}
	db := &DB{path: path, opts: opts, bolt: bdb, stop: make(chan struct{})} // Enough for view.
	var errs []error
	err = db.view(func(tx *bolt.Tx) (err error) {
		if errs, err = checkTx(ctx, tx); err != nil || tx.Bucket(bucketFolio) == nil || tx.Bucket(bucketMeta) == nil {
			return err
		}
		id, applied, err := readJournalState(tx)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		todo, _, _, err := readJournal(JournalPath(path), jdata, id, applied)
		if err == nil {
			err = checkJournal(ctx, tx, JournalPath(path), todo)
		}
		if errors.Is(err, ErrCorrupt) {
			errs = append(errs, fmt.Errorf("journal: %w", err))
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("storage: check %s: %w", path, errors.Join(errs...))
	}
	return nil
}

// checkEmpty checks an empty database file, which Open makes a new
// database with a new id: only a journal without records fits it.
func checkEmpty(path string) error {
	jdata, err := readJournalFile(path)
	if err != nil {
		return fmt.Errorf("storage: check %s: journal: %w", path, err)
	}
	if _, _, _, err := readJournal(JournalPath(path), jdata, nil, 0); err != nil {
		return fmt.Errorf("storage: check %s: journal: %w", path, err)
	}
	return nil
}

// checkJournal checks todo, the journal records a replay would apply (in
// LSN order), against the documents tx holds, finding what Open's replay
// and a Check after it would: a record that does not continue its
// document's head (the replay fails there, so this stops there too), and
// a document whose ops with the records' do not replay or end at another
// length than its last record says.
func checkJournal(ctx context.Context, tx *bolt.Tx, path string, todo []journaled) error {
	type journaledDoc struct {
		head   uint64
		length int          // The last record's.
		text   *ot.Document // nil when bbolt's text cannot be rebuilt (checkTx reports that).
		err    error        // The first op that did not replay.
	}
	docs := map[string]*journaledDoc{}
	var order []string
	for _, j := range todo {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := docs[j.id]
		if d == nil {
			m, err := getMeta(tx, "append", j.id)
			if err != nil {
				return j.recordError(path, err)
			}
			d = &journaledDoc{head: m.Version}
			if text, err := storedText(ctx, tx, m); err == nil {
				d.text = ot.NewDocument(text)
			}
			docs[j.id] = d
			order = append(order, j.id)
		}
		if err := j.checkHead(path, d.head); err != nil {
			return err
		}
		d.head, d.length = j.last, j.length
		for _, r := range j.recs {
			if d.text == nil || d.err != nil {
				break
			}
			if err := d.text.Apply(r.Op); err != nil {
				d.err = j.recordError(path, fmt.Errorf("replay op %d: %v", r.Version, err))
			}
		}
	}
	var errs []error
	for _, id := range order {
		switch d := docs[id]; {
		case d.err != nil:
			errs = append(errs, d.err)
		case d.text != nil && d.text.Len() != d.length:
			errs = append(errs, fmt.Errorf("%s: document %q: head length is %d code points, its last record says %d: %w",
				path, id, d.text.Len(), d.length, ErrCorrupt))
		}
	}
	return errors.Join(errs...)
}

// storedText rebuilds the text at m's head from what tx holds.
func storedText(ctx context.Context, tx *bolt.Tx, m metaRec) (string, error) {
	snap, err := snapshotAtOrBelow(tx, m.ID, m.Version)
	if err != nil {
		return "", err
	}
	doc := ot.NewDocument(snap.Text)
	err = eachOp(ctx, tx, m, snap.Version, m.Version, func(r OpRecord) error { return doc.Apply(r.Op) })
	return doc.String(), err
}
