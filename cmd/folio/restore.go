package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/foliodocs/folio/storage"
)

func runRestore(ctx context.Context, e env) error {
	fset := flag.NewFlagSet("folio restore", flag.ContinueOnError)
	fset.SetOutput(e.stderr)
	data := dataFlag(fset, e.getenv)
	fset.Usage = func() {
		fmt.Fprintln(fset.Output(), "Usage: folio restore [--data DIR] <backup-file>\n\n"+
			"Makes a backup (from folio backup) the data directory's database. The server must be stopped.\n"+
			"The backup is checked (as folio check) before anything changes; the current database and its\n"+
			"journal are kept beside it as "+DBFile+".pre-restore-<time>, never deleted.")
		fset.PrintDefaults()
	}
	pos, err := parseInterspersed(fset, e.args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fset.Usage()
		return errUsage
	}
	return restore(ctx, pos[0], *data, time.Now(), e.stdout, e.stderr)
}

// restore puts backup in place as dir's database. Nothing in dir changes
// until the backup has passed Check; the current database (made whole by
// replaying its journal into it, when it opens) and its journal are renamed
// aside. Warnings (a temporary file or staged copy left, see stage and
// removeStaged) go to warn.
func restore(ctx context.Context, backup, dir string, now time.Time, out, warn io.Writer) error {
	live := filepath.Join(dir, DBFile)
	hasLive, err := exists(live)
	if err != nil {
		return err
	}
	if hasLive {
		db, err := openDataDir(dir) // Refuses while a server holds it.
		if errors.Is(err, storage.ErrLocked) {
			return err
		}
		if err != nil {
			fmt.Fprintf(out, "the current database does not open (%v); it is set aside as it is\n", err)
		} else if err := db.Close(); err != nil { // Opening replayed its journal into it.
			return err
		}
	}
	if err := storage.MkdirAll(dir, 0o700); err != nil { // A new directory must survive with the database in it.
		return err
	}

	staged := live + ".restoring"
	defer removeStaged(warn, staged, storage.JournalPath(staged))
	n, err := stage(ctx, backup, staged, warn)
	var copyErr *stageCopyError
	if errors.As(err, &copyErr) {
		return fmt.Errorf("copying %s into %s failed, nothing changed: %w", backup, dir, copyErr.err)
	}
	if err != nil {
		return fmt.Errorf("%s is not a usable Folio backup, nothing changed: %w", backup, err)
	}

	aside, err := asideName(live, now)
	if err != nil {
		return err
	}
	for _, m := range [][2]string{{live, aside}, {storage.JournalPath(live), storage.JournalPath(aside)}} {
		if ok, err := exists(m[0]); err != nil {
			return err
		} else if ok {
			if err := os.Rename(m[0], m[1]); err != nil {
				return err
			}
		}
	}
	if err := os.Rename(staged, live); err != nil {
		return fmt.Errorf("the previous database is at %s; putting the backup in place failed: %w", aside, err)
	}
	if err := storage.SyncDir(dir); err != nil {
		return err
	}
	fmt.Fprintf(out, "restored %s (%d documents) into %s\n", backup, n, live)
	if hasLive {
		fmt.Fprintf(out, "the previous database is at %s\n", aside)
	}
	return nil
}

// stageCopyError is a failure of stage to write its copy (a full disk, a
// failing sync), not a fault of the backup: restore must not call the
// backup unusable for it.
type stageCopyError struct{ err error }

func (e *stageCopyError) Error() string { return e.err.Error() }
func (e *stageCopyError) Unwrap() error { return e.err }

// sourceReader remembers the error reading the backup returned, so that a
// failed copy tells the backup's faults from the copy's.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// stage copies backup to file, syncs it, and checks it, returning how many
// documents it holds. The copy goes through writeOut, which warns on warn
// of a temporary file it could not remove (a failed copy's, say). A copy
// that fails on the writing side is a *stageCopyError.
func stage(ctx context.Context, backup, file string, warn io.Writer) (int, error) {
	src, err := os.Open(backup)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	if st, err := src.Stat(); err != nil {
		return 0, err
	} else if st.Size() == 0 { // Opening it would make a new, empty database.
		return 0, errors.New("the file is empty")
	}
	in := &sourceReader{r: src}
	err = writeOut(file, nil, warn, true, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
	if err != nil && in.err == nil {
		return 0, &stageCopyError{err}
	}
	if err != nil {
		return 0, err
	}
	db, err := storage.Open(file, storage.Options{Verify: true})
	if err != nil {
		return 0, err
	}
	n := 0
	for after := ""; ; {
		metas, next, err := db.List(ctx, after, 1000)
		if err != nil {
			db.Close()
			return 0, err
		}
		n += len(metas)
		if next == "" {
			break
		}
		after = next
	}
	if err := db.Close(); err != nil {
		return 0, err
	}
	// Open made an empty journal for the staged file; the live file gets its own.
	return n, os.Remove(storage.JournalPath(file))
}

// removeStaged removes what stage left of a restore that did not put it in
// place (the staged copy, its journal), warning on warn of each that
// exists and could not be removed.
func removeStaged(warn io.Writer, paths ...string) {
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			continue // Put in place, or never made.
		}
		if err := os.Remove(p); err != nil {
			fmt.Fprintf(warn, "warning: %s (a staged copy of the backup, unused, safe to delete) could not be removed: %v\n", p, err)
		}
	}
}

// asideName is a name for live's previous copy that no file has yet.
func asideName(live string, now time.Time) (string, error) {
	base := fmt.Sprintf("%s.pre-restore-%s", live, now.UTC().Format("20060102T150405Z"))
	for i := 1; ; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		taken, err := exists(name)
		if err != nil || !taken {
			return name, err
		}
	}
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
