package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/foliodocs/folio/storage"
)

func runCheck(ctx context.Context, e env) error {
	fs := flag.NewFlagSet("folio check", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	data := dataFlag(fs, e.getenv)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: folio check [--data DIR]\n\nChecks the database (bbolt structure, every snapshot and length replayed from the op log).\nExits non-zero on any problem. The server must not be running on the directory.")
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
	return withDB(ctx, *data, func(db *storage.DB) error {
		if err := db.Check(ctx); err != nil {
			return fmt.Errorf("%s has problems:\n%w", db.Path(), err)
		}
		fmt.Fprintf(e.stdout, "ok: %s\n", db.Path())
		return nil
	})
}
