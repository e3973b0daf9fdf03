package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/foliodocs/folio/storage"
	"github.com/foliodocs/folio/web"
)

func runExport(ctx context.Context, e env) error {
	fs := flag.NewFlagSet("folio export", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	data := dataFlag(fs, e.getenv)
	format := fs.String("format", web.FormatText, "txt, md, html or json")
	version := fs.String("version", "", "the version to export (default: the head)")
	history := fs.Bool("history", false, "with --format json: include the whole op log")
	out := fs.String("out", "", "write to this file instead of standard output")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: folio export <id> [--format txt|md|html|json] [--version N] [--history] [--out FILE] [--data DIR]")
		fmt.Fprintln(fs.Output(), "\nWrites a document read directly from the data directory (the server must not be running on it).\n"+
			"Writes nothing to the directory: it works on a read-only copy.")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, e.args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	id := pos[0]
	if !storage.ValidID(id) {
		return fmt.Errorf("invalid document id %q: 1 to 64 characters from A-Z a-z 0-9 _ -", id)
	}
	if _, ok := web.ExportContentType(*format); !ok {
		return fmt.Errorf("unknown format %q: use txt, md, html or json", *format)
	}
	var v *uint64
	if *version != "" {
		n, err := parseVersion(*version)
		if err != nil {
			return err
		}
		v = &n
	}
	// Read-only: Open would apply the journal, a commit that changes the
	// directory exported from and fails on a read-only copy.
	return withReadOnlyDB(*data, func(db *storage.DB) error {
		exp, err := web.LoadExport(ctx, db, id, v, *history && *format == web.FormatJSON, 0)
		if err != nil {
			return err
		}
		return writeOut(*out, e.stdout, e.stderr, true, func(w io.Writer) error { return web.WriteExport(ctx, w, *format, exp) })
	})
}

func parseVersion(s string) (uint64, error) {
	var n uint64
	if _, err := fmt.Sscan(s, &n); err != nil || fmt.Sprint(n) != s {
		return 0, fmt.Errorf("--version %q: a non-negative integer", s)
	}
	return n, nil
}

// writeOut writes through f to stdout, or to file via a temporary file in
// its directory, synced, put in place, and the directory synced so that the
// new name survives a power loss. A failure or an interrupt (ctx) before
// the temporary file is in place leaves file as it was and no partial
// file; a failing directory sync after it is an error too. With replace the
// temporary file is renamed over file. Without it an existing file is
// refused before f runs, and the temporary file is linked to file's name,
// which fails if a file of that name appeared meanwhile, never replacing
// it, then unlinked. A failed unlink fails nothing: file is complete and
// in place, and the directory is synced all the same; a warning on stderr
// names the temporary file left, a second link to file. So does one when
// the temporary file, not put in place, cannot be removed: the error
// returned, if the caller goes on (backup, when no server answered, copies
// the data directory itself), may end in success. A nil stderr drops the
// warnings.
func writeOut(file string, stdout, stderr io.Writer, replace bool, f func(io.Writer) error) error {
	if file == "" {
		return f(stdout)
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if err := refuseExisting(file, replace); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".folio-*")
	if err != nil {
		return err
	}
	placed := false
	defer func() {
		if placed {
			return
		}
		if err := os.Remove(tmp.Name()); err != nil {
			fmt.Fprintf(stderr, "warning: the temporary file %s (unused, safe to delete) could not be removed: %v\n", tmp.Name(), err)
		}
	}()
	if err := f(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := putInPlace(tmp.Name(), file, replace); err != nil {
		return err
	}
	placed = true
	if !replace {
		if err := os.Remove(tmp.Name()); err != nil {
			fmt.Fprintf(stderr, "warning: %s is complete, but its temporary name %s (a second link to it, safe to delete) could not be removed: %v\n",
				file, tmp.Name(), err)
		}
	}
	// The new name is durable only once its directory is: without this a
	// power loss just after "backup written" may find no file.
	return storage.SyncDir(filepath.Dir(file))
}

// putInPlace renames tmp to file, or, without replace, links it there
// (leaving tmp for the caller to remove): a link, unlike a rename, fails
// when file exists, so a file that appeared after refuseExisting looked
// (another backup) is kept.
func putInPlace(tmp, file string, replace bool) error {
	if replace {
		return os.Rename(tmp, file)
	}
	err := os.Link(tmp, file)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; pass --force to replace it", file)
	}
	return err
}

// refuseExisting is an error when file exists and may not be replaced.
func refuseExisting(file string, replace bool) error {
	if replace {
		return nil
	}
	if _, err := os.Lstat(file); !errors.Is(err, os.ErrNotExist) {
		if err != nil {
			return err
		}
		return fmt.Errorf("%s exists; pass --force to replace it", file)
	}
	return nil
}
