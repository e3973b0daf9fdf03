package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/foliodocs/folio/storage"
)

func runCheck(ctx context.Context, e env) error {
	fs := flag.NewFlagSet("folio check", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	data := dataFlag(fs, e.getenv)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: folio check [--data DIR]\n\nChecks the database (bbolt structure, every snapshot and length replayed from the op log, the journal's records).\nExits non-zero on any problem. Writes nothing: it works on a read-only copy. The server must not be\nrunning on the directory.")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, e.args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fs.Usage()
		return errUsage
	}
	file, err := dataFile(*data)
	if err != nil {
		return err
	}
	// Read-only: Open would apply the journal, a commit that changes what
	// is being diagnosed and fails on a read-only copy.
	err = storage.CheckFile(ctx, file, storage.Options{LockTimeout: dataLockTimeout})
	switch {
	case errors.Is(err, storage.ErrCorrupt):
		return fmt.Errorf("%s has problems:\n%w", file, err)
	case err != nil:
		return inUse(file, err)
	}
	fmt.Fprintf(e.stdout, "ok: %s\n", file)
	return nil
}
