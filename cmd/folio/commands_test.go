package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foliodocs/folio/ot"
	"github.com/foliodocs/folio/storage"
)

// seedData makes a data directory holding one document "doc" with text.
func seedData(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, DBFile), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Create(context.Background(), "doc", text); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runIn(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, envMap(nil), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestExportFormatsOffline(t *testing.T) {
	data := seedData(t, "# T\n\n<img src=x onerror=alert(1)>")
	if code, out, errs := runIn(t, "export", "doc", "--data", data); code != 0 || out != "# T\n\n<img src=x onerror=alert(1)>" {
		t.Errorf("txt: %d %q %s", code, out, errs)
	}
	if code, out, _ := runIn(t, "export", "doc", "--format", "html", "--data", data); code != 0 || strings.Contains(out, "onerror") || !strings.Contains(out, "<h1") {
		t.Errorf("html: %d %s", code, out)
	}
	if code, out, _ := runIn(t, "export", "doc", "--format", "json", "--history", "--data", data); code != 0 || !strings.Contains(out, `"id": "doc"`) {
		t.Errorf("json: %d %s", code, out)
	}
	file := filepath.Join(t.TempDir(), "out.md")
	if code, _, errs := runIn(t, "export", "doc", "--format", "md", "--out", file, "--data", data); code != 0 {
		t.Fatalf("--out: %d %s", code, errs)
	}
	if b, err := os.ReadFile(file); err != nil || !strings.HasPrefix(string(b), "# T") {
		t.Errorf("--out file %q %v", b, err)
	}
	for _, args := range [][]string{
		{"export", "doc", "--format", "pdf", "--data", data},
		{"export", "doc", "--version", "-1", "--data", data},
		{"export", "doc", "--version", "x", "--data", data},
		{"export", "missing", "--data", data},
	} {
		if code, _, errs := runIn(t, args...); code != 1 || errs == "" {
			t.Errorf("%v: exit %d %q", args, code, errs)
		}
	}
}

// TestBackupWithoutServer falls back to a direct copy when nothing listens
// at --server.
func TestBackupWithoutServer(t *testing.T) {
	data := seedData(t, "hello")
	file := filepath.Join(t.TempDir(), "copy.db")
	code, out, errs := runIn(t, "backup", "--server", "http://127.0.0.1:1", "--data", data, file)
	if code != 0 || !strings.Contains(out, "backup written") || !strings.Contains(errs, "no server") {
		t.Fatalf("backup: %d %q %q", code, out, errs)
	}
	restored := t.TempDir()
	if err := os.Rename(file, filepath.Join(restored, DBFile)); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runIn(t, "export", "doc", "--data", restored); code != 0 || out != "hello" {
		t.Errorf("export from backup: %d %q %s", code, out, errs)
	}
	if code, out, _ := runIn(t, "check", "--data", restored); code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Errorf("check backup: %d %q", code, out)
	}
}

// TestBackupWithoutServerWritesNothing: the direct copy of `folio backup`
// holds the ops a crash left in the journal alone, and leaves the data
// directory as it was, also when it is read-only.
func TestBackupWithoutServerWritesNothing(t *testing.T) {
	data := seedJournaled(t)
	readOnlyDir(t, data)
	before := dirState(t, data)
	file := filepath.Join(t.TempDir(), "copy.db")
	if code, out, errs := runIn(t, "backup", "--server", "http://127.0.0.1:1", "--data", data, file); code != 0 {
		t.Fatalf("backup: %d %q %q", code, out, errs)
	}
	if after := dirState(t, data); !maps.Equal(before, after) {
		t.Errorf("backup changed the data directory:\n%v\n%v", before, after)
	}
	restored := t.TempDir()
	if err := os.Rename(file, filepath.Join(restored, DBFile)); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runIn(t, "export", "doc", "--data", restored); code != 0 || out != "hi!!!" {
		t.Errorf("export from backup: %d %q %s", code, out, errs)
	}
}

// seedJournaled makes a data directory as a crash leaves it: one document
// "doc" whose ops are in the journal alone, not yet in the database file.
func seedJournaled(t *testing.T) string {
	t.Helper()
	live := t.TempDir()
	db, err := storage.Open(filepath.Join(live, DBFile), storage.Options{CheckpointEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Create(ctx, "doc", "hi"); err != nil {
		t.Fatal(err)
	}
	for v := uint64(1); v <= 3; v++ {
		rec := storage.OpRecord{Version: v, Op: ot.Op{{Skip: 1 + int(v)}, {Insert: "!"}}, Session: "s", Seq: v}
		if err := db.Append(ctx, "doc", []storage.OpRecord{rec}, 2+int(v), nil); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	for _, name := range []string{DBFile, DBFile + "-journal"} {
		b, err := os.ReadFile(filepath.Join(live, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// dirState is each file of dir: its bytes and modification time.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := map[string]string{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		st[e.Name()] = fmt.Sprintf("%x %v", sha256.Sum256(b), info.ModTime().UnixNano())
	}
	return st
}

// TestCheckWritesNothing: `folio check` diagnoses a data directory whose
// journal holds ops the database file does not, without applying them:
// both files stay as they were, also when they and the directory are
// read-only; a damaged journal is reported and left alone too.
func TestCheckWritesNothing(t *testing.T) {
	data := seedJournaled(t)
	damaged := seedJournaled(t)
	journal := filepath.Join(damaged, DBFile+"-journal")
	b, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	copy(b, "not a journal") // Its header.
	if err := os.WriteFile(journal, b, 0o600); err != nil {
		t.Fatal(err)
	}
	readOnlyDir(t, data)
	readOnlyDir(t, damaged)
	before := dirState(t, data)
	if code, out, errs := runIn(t, "check", "--data", data); code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Errorf("check: exit %d %q %s", code, out, errs)
	}
	if after := dirState(t, data); !maps.Equal(before, after) {
		t.Errorf("check changed the data directory:\n%v\n%v", before, after)
	}
	before = dirState(t, damaged)
	if code, _, errs := runIn(t, "check", "--data", damaged); code != 1 ||
		!strings.Contains(errs, "is not a Folio journal") {
		t.Errorf("check of a damaged journal: exit %d %s", code, errs)
	}
	if after := dirState(t, damaged); !maps.Equal(before, after) {
		t.Errorf("check changed the damaged data directory:\n%v\n%v", before, after)
	}
}

// TestExportWritesNothing: `folio export` reads a data directory whose
// journal holds ops the database file does not (a crash copy), finding
// those ops without applying them: both files stay as they were, also when
// they and the directory are read-only, and a missing journal is not
// created.
func TestExportWritesNothing(t *testing.T) {
	data := seedJournaled(t)
	noJournal := seedJournaled(t)
	if err := os.Remove(filepath.Join(noJournal, DBFile+"-journal")); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{data, noJournal} {
		readOnlyDir(t, dir)
	}
	before := dirState(t, data)
	if code, out, errs := runIn(t, "export", "doc", "--data", data); code != 0 || out != "hi!!!" {
		t.Errorf("export: exit %d %q %s", code, out, errs)
	}
	code, out, errs := runIn(t, "export", "doc", "--format", "json", "--history", "--data", data)
	if code != 0 || strings.Count(out, `"session": "s"`) != 3 {
		t.Errorf("export --history: exit %d %s %s", code, out, errs)
	}
	if after := dirState(t, data); !maps.Equal(before, after) {
		t.Errorf("export changed the data directory:\n%v\n%v", before, after)
	}
	before = dirState(t, noJournal)
	if code, out, errs := runIn(t, "export", "doc", "--data", noJournal); code != 0 || out != "hi" {
		t.Errorf("export without a journal: exit %d %q %s", code, out, errs)
	}
	if after := dirState(t, noJournal); !maps.Equal(before, after) {
		t.Errorf("export changed the data directory without a journal:\n%v\n%v", before, after)
	}
}

// readOnlyDir makes dir and its files read-only until the test ends. A
// process running as root writes them all the same: the states compared
// are what shows that nothing wrote.
func readOnlyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Chmod(filepath.Join(dir, e.Name()), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
}
