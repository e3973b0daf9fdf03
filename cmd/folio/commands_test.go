package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
