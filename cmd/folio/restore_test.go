package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// crashCopy makes a data directory that looks like one whose server was
// killed after appending " world" to doc: the op is only in the journal.
func crashCopy(t *testing.T, data string) string {
	t.Helper()
	file := filepath.Join(data, DBFile)
	db, err := storage.Open(file, storage.Options{CheckpointEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs := []storage.OpRecord{{Version: 1, Op: ot.Op{{Skip: 5}, {Insert: " world"}}}}
	if err := db.Append(context.Background(), "doc", recs, 11, nil); err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	for _, f := range []string{file, storage.JournalPath(file)} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crashed, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return crashed
}

func exportDoc(t *testing.T, data string) string {
	t.Helper()
	code, out, errs := runIn(t, "export", "doc", "--data", data)
	if code != 0 {
		t.Fatalf("export from %s: exit %d: %s", data, code, errs)
	}
	return out
}

// TestRestore restores a backup over a directory whose journal holds a
// newer op: the backup's state comes back, the journal's op is not replayed
// into it, and the previous database, kept aside, holds that op.
func TestRestore(t *testing.T) {
	data := seedData(t, "hello")
	backup := filepath.Join(t.TempDir(), "backup.db")
	if code, _, errs := runIn(t, "backup", "--server", "http://127.0.0.1:1", "--data", data, backup); code != 0 {
		t.Fatalf("backup: %d %s", code, errs)
	}
	crashed := crashCopy(t, data)
	if got := exportDoc(t, copyDir(t, crashed)); got != "hello world" {
		t.Fatalf("the crashed directory holds %q, want its journaled op", got)
	}

	code, out, errs := runIn(t, "restore", "--data", crashed, backup)
	if code != 0 || !strings.Contains(out, "(1 documents)") {
		t.Fatalf("restore: exit %d %q %s", code, out, errs)
	}
	if got := exportDoc(t, crashed); got != "hello" {
		t.Errorf("after restore: %q, want the backup's text", got)
	}
	if code, out, _ := runIn(t, "check", "--data", crashed); code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Errorf("check after restore: %d %q", code, out)
	}

	asides, _ := filepath.Glob(filepath.Join(crashed, DBFile+".pre-restore-*"))
	var aside string
	for _, f := range asides {
		if !strings.HasSuffix(f, "-journal") {
			aside = f
		}
	}
	if aside == "" || !strings.Contains(out, aside) {
		t.Fatalf("previous database not kept aside (files %v, output %q)", asides, out)
	}
	old := t.TempDir()
	b, err := os.ReadFile(aside)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, DBFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := exportDoc(t, old); got != "hello world" {
		t.Errorf("the database kept aside holds %q without its journal, want the journaled op in it", got)
	}

	// A second restore within the same second keeps both previous copies.
	if code, _, errs := runIn(t, "restore", "--data", crashed, backup); code != 0 {
		t.Fatalf("second restore: %d %s", code, errs)
	}
	if now, _ := filepath.Glob(filepath.Join(crashed, DBFile+".pre-restore-*")); len(now) < len(asides)+1 {
		t.Errorf("second restore left %v (first left %v)", now, asides)
	}
}

// TestRestoreIntoEmptyDirectory restores on a fresh machine.
func TestRestoreIntoEmptyDirectory(t *testing.T) {
	data := seedData(t, "hello")
	backup := filepath.Join(t.TempDir(), "backup.db")
	if code, _, errs := runIn(t, "backup", "--server", "http://127.0.0.1:1", "--data", data, backup); code != 0 {
		t.Fatalf("backup: %d %s", code, errs)
	}
	fresh := filepath.Join(t.TempDir(), "new", "data")
	if code, out, errs := runIn(t, "restore", "--data", fresh, backup); code != 0 || strings.Contains(out, "previous") {
		t.Fatalf("restore: exit %d %q %s", code, out, errs)
	}
	if got := exportDoc(t, fresh); got != "hello" {
		t.Errorf("after restore: %q", got)
	}
}

// TestRestoreRefusals: a bad backup, an empty one (bbolt would make a new
// database of it), a missing one and a running server
// each fail with a message, and the data directory stays as it was.
func TestRestoreRefusals(t *testing.T) {
	data := seedData(t, "hello")
	before := listDir(t, data)
	garbage := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"garbage", []string{"restore", "--data", data, garbage}, "not a usable Folio backup"},
		{"missing", []string{"restore", "--data", data, filepath.Join(t.TempDir(), "none.db")}, "no such file"},
		{"empty", []string{"restore", "--data", data, empty}, "the file is empty"},
	} {
		code, _, errs := runIn(t, c.args...)
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d %q, want 1 and %q", c.name, code, errs, c.want)
		}
	}
	if code, _, _ := runIn(t, "restore", "--data", data); code != 2 {
		t.Errorf("no backup named: exit %d, want 2", code)
	}

	backup := filepath.Join(t.TempDir(), "backup.db")
	if code, _, errs := runIn(t, "backup", "--server", "http://127.0.0.1:1", "--data", data, backup); code != 0 {
		t.Fatalf("backup: %d %s", code, errs)
	}
	db, err := storage.Open(filepath.Join(data, DBFile), storage.Options{}) // As a running server holds it.
	if err != nil {
		t.Fatal(err)
	}
	code, _, errs := runIn(t, "restore", "--data", data, backup)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if code != 1 || !strings.Contains(errs, "in use by a running folio server") {
		t.Errorf("while open: exit %d %q", code, errs)
	}
	if after := listDir(t, data); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("refused restores changed the directory: %v, was %v", after, before)
	}
	if got := exportDoc(t, data); got != "hello" {
		t.Errorf("after refused restores: %q", got)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// copyDir copies a flat directory, so that opening the copy leaves the
// original as it is.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	for _, name := range listDir(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestRestoreWarnsOfAnUnusedTemporaryFile: restore stages the backup in a
// temporary file in the data directory (writeOut). When staging fails
// (here the file's fsync) and that file cannot be removed either, restore
// fails, saying that copying failed (not that the backup is unusable: it
// is fine), and a warning on stderr names the file left (unused, safe to
// delete), as backup's do. The child runs under strace, which fails every
// fsync and unlinkat (os.Remove) of the child: the temporary file's name
// is not known beforehand. The data directory exists, so restore syncs
// nothing before it stages.
func TestRestoreWarnsOfAnUnusedTemporaryFile(t *testing.T) {
	runAsChild()
	backup := filepath.Join(t.TempDir(), "backup.db")
	if code, _, errs := runIn(t, "backup", "--server", "http://127.0.0.1:1", "--data", seedData(t, "hello"), backup); code != 0 {
		t.Fatalf("backup: %d %s", code, errs)
	}
	data := t.TempDir()
	cmd := faultedCmd(t, "", "fsync,unlinkat", "EIO", "restore", "--data", data, backup)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 || strings.Contains(stdout.String(), "restored") {
		t.Fatalf("restore whose staging fails: %v\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
	}
	left := listDir(t, data)
	if len(left) != 1 || !strings.HasPrefix(left[0], ".folio-") {
		t.Fatalf("left in the data directory: %v, want the temporary file", left)
	}
	file := filepath.Join(data, left[0])
	warned := false
	for line := range strings.Lines(stderr.String()) {
		warned = warned || strings.HasPrefix(line, "warning: ") && strings.Contains(line, file+" (") &&
			strings.Contains(line, "input/output error")
	}
	if !warned {
		t.Errorf("stderr does not warn of %s: %q", file, &stderr)
	}
	// The backup is fine: the copy's sync failed.
	if !strings.Contains(stderr.String(), "copying "+backup+" into "+data+" failed, nothing changed") ||
		strings.Contains(stderr.String(), "not a usable") {
		t.Errorf("the error does not say that copying failed, or blames the backup: %q", &stderr)
	}
}

// TestRestoreWarnsOfAStagedCopyLeft: a backup that fails its check leaves
// nothing changed; its staged copy in the data directory (folio.db.restoring)
// is removed, and when that fails (strace fails every unlinkat of the
// child) a warning names it.
func TestRestoreWarnsOfAStagedCopyLeft(t *testing.T) {
	runAsChild()
	garbage := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	cmd := faultedCmd(t, "", "unlinkat", "EIO", "restore", "--data", data, garbage)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(stderr.String(), "not a usable Folio backup") {
		t.Fatalf("restore of garbage: %v\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
	}
	left := listDir(t, data)
	if len(left) == 0 {
		t.Fatal("nothing left in the data directory: the removal was not failed")
	}
	for _, name := range left {
		if !strings.Contains(stderr.String(), "warning: "+filepath.Join(data, name)+" (") {
			t.Errorf("%s left without a warning: %q", name, &stderr)
		}
	}
	if !slices.Contains(left, DBFile+".restoring") {
		t.Errorf("left %v, want the staged copy among them", left)
	}
}
