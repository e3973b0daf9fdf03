package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/foliodocs/folio/storage"
)

// dataFlag declares --data with its FOLIO_DATA twin for the maintenance
// commands.
func dataFlag(fs *flag.FlagSet, getenv func(string) string) *string {
	def := defaultConfig().Data
	if v := getenv(envName("data")); v != "" {
		def = v
	}
	return fs.String("data", def, "data directory (env FOLIO_DATA)")
}

// parseInterspersed parses flags that may come before or after the
// positional arguments ("export ID --format md" and "export --format md ID").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, flagError(err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// dataLockTimeout is how long a maintenance command waits for the lock of
// a database that a server may hold.
const dataLockTimeout = 500 * time.Millisecond

// dataFile returns the database file of an existing data directory.
func dataFile(dir string) (string, error) {
	file := filepath.Join(dir, DBFile)
	if _, err := os.Stat(file); err != nil {
		return "", fmt.Errorf("no Folio database at %s (set --data or FOLIO_DATA): %w", file, err)
	}
	return file, nil
}

// inUse reports a database that a server holds plainly; other errors
// pass through.
func inUse(file string, err error) error {
	if errors.Is(err, storage.ErrLocked) {
		return fmt.Errorf("%s is in use by a running folio server: stop it first, or work on a copy made "+
			"with `folio backup --server URL FILE` (while it runs, its HTTP API serves exports and backups): %w", file, err)
	}
	return err
}

// openDataDir opens the database of an existing data directory for a
// maintenance command that writes (storage.Open: its journal is applied
// and emptied). A server holding it is reported plainly.
func openDataDir(dir string) (*storage.DB, error) {
	return openDataDirWith(dir, storage.Open)
}

func openDataDirWith(dir string, open func(string, storage.Options) (*storage.DB, error)) (*storage.DB, error) {
	file, err := dataFile(dir)
	if err != nil {
		return nil, err
	}
	db, err := open(file, storage.Options{LockTimeout: dataLockTimeout})
	return db, inUse(file, err)
}

// withReadOnlyDB runs f on the database of dir opened read-only and closes
// it: storage.OpenReadOnly holds the journal's records in memory instead
// of applying them, so a command that only reads changes nothing in dir
// and works on a read-only copy.
func withReadOnlyDB(dir string, f func(*storage.DB) error) error {
	db, err := openDataDirWith(dir, storage.OpenReadOnly)
	if err != nil {
		return err
	}
	ferr := f(db)
	return errors.Join(ferr, db.Close())
}
