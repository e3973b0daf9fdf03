package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestBackupNeverHarmsAnExistingFile: `folio backup` replaces an existing
// file only with --force, and a backup that fails (the server cuts the
// copy midway, the run is interrupted, the directory cannot be written)
// leaves the file as it was and no temporary file beside it.
func TestBackupNeverHarmsAnExistingFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.db")
	const good = "the one good backup"
	if err := os.WriteFile(file, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	intact := func(what string) {
		t.Helper()
		if b, err := os.ReadFile(file); err != nil || string(b) != good {
			t.Errorf("%s: the existing backup became %q (%v)", what, b, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%s: left beside it: %v", what, entries)
		}
	}
	data := seedData(t, "hello")

	code, out, errs := runIn(t, "backup", "--server", "http://127.0.0.1:1", "--data", data, file)
	if code != 1 || !strings.Contains(errs, "exists; pass --force") || strings.Contains(out, "written") {
		t.Errorf("backup over an existing file without --force: %d %q %q", code, out, errs)
	}
	intact("without --force")

	// A server that sends part of the copy, then drops the connection.
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1048576")
		w.Write(bytes.Repeat([]byte{1}, 4096))
	}))
	t.Cleanup(cut.Close)
	if code, out, errs := runIn(t, "backup", "--force", "--server", cut.URL, file); code != 1 || !strings.Contains(errs, "unexpected EOF") {
		t.Errorf("backup cut midway: %d %q %q", code, out, errs)
	}
	intact("cut midway")

	// A server that sends part of the copy, then waits: the run is
	// interrupted (SIGINT cancels a command's context) while it copies.
	sent := make(chan struct{})
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte{1}, 4096))
		w.(http.Flusher).Flush()
		close(sent)
		<-r.Context().Done()
	}))
	t.Cleanup(stalled.Close)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-sent; cancel() }()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"backup", "--force", "--server", stalled.URL, file}, envMap(nil), &stdout, &stderr); code != 1 {
		t.Errorf("interrupted backup: %d %q %q", code, stdout.String(), stderr.String())
	}
	intact("interrupted")

	unwritable(t, dir)
	if code, out, errs := runIn(t, "backup", "--force", "--server", "http://127.0.0.1:1", "--data", data, file); code != 1 {
		t.Errorf("backup into a directory that cannot be written: %d %q %q", code, out, errs)
	}
	intact("unwritable directory")
	writable(t, dir)

	if code, out, errs := runIn(t, "backup", "--force", "--server", "http://127.0.0.1:1", "--data", data, file); code != 0 || !strings.Contains(out, "backup written") {
		t.Fatalf("backup --force: %d %q %q", code, out, errs)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("backup --force left beside its file: %v", entries)
	}
	restored := t.TempDir()
	if err := os.Rename(file, filepath.Join(restored, DBFile)); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runIn(t, "export", "doc", "--data", restored); code != 0 || out != "hello" {
		t.Errorf("export from the replaced backup: %d %q %s", code, out, errs)
	}
}

// unwritable makes dir refuse new files, also to root (who ignores its
// mode): then it is made immutable (chattr +i). It fails the test when dir
// still takes a file.
func unwritable(t *testing.T, dir string) {
	t.Helper()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
			t.Fatalf("chattr +i %s: %v %s", dir, err, out)
		}
	}
	t.Cleanup(func() { writable(t, dir) })
	if f, err := os.CreateTemp(dir, "probe-*"); err == nil {
		f.Close()
		os.Remove(f.Name())
		t.Fatalf("%s still takes new files", dir)
	}
}

func writable(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chattr", "-i", dir).CombinedOutput(); err != nil {
			t.Errorf("chattr -i %s: %v %s", dir, err, out)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Error(err)
	}
}

// childArgsEnv, set, makes a test that calls runAsChild the folio command
// run with these arguments (separated by newlines) in a child process.
const childArgsEnv = "FOLIO_TEST_CHILD_ARGS"

// runAsChild, at the top of a test that calls faulted, makes the test
// binary, started as that child, the folio command.
func runAsChild() {
	if args := os.Getenv(childArgsEnv); args != "" {
		os.Exit(run(context.Background(), strings.Split(args, "\n"), os.Getenv, os.Stdout, os.Stderr))
	}
}

// failingDirSync runs the folio command args in a child under strace,
// which fails with EIO every fsync of a descriptor of dir and nothing else.
func failingDirSync(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	return faulted(t, dir, "fsync", "EIO", args...)
}

// faulted runs the folio command args in a child (the test binary, running
// the calling test, which calls runAsChild) under strace, which fails with
// errno the syscalls (strace's -e trace syntax) that name path or one of
// its descriptors (strace -P), and nothing else. A child that serves (it
// logs "listening") is stopped: its process group (strace and the child)
// gets SIGTERM. It returns the exit code and the output.
func faulted(t *testing.T, path, syscalls, errno string, args ...string) (int, string) {
	t.Helper()
	cmd := faultedCmd(t, path, syscalls, errno, args...)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), `"listening"`) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// faultedCmd is faulted's child, not started; with path "", strace fails
// every one of the syscalls the child makes (for a file whose name is not
// known beforehand).
func faultedCmd(t *testing.T, path, syscalls, errno string, args ...string) *exec.Cmd {
	var only []string
	if path != "" {
		only = []string{"-P", path}
	}
	cmd := exec.Command("strace", slices.Concat([]string{"-f", "-qq", "-o", "/dev/null"}, only,
		[]string{"-e", "trace=" + syscalls, "-e", "inject=" + syscalls + ":error=" + errno, os.Args[0], "-test.run=^" + t.Name() + "$"})...)
	cmd.Env = append(os.Environ(), childArgsEnv+"="+strings.Join(args, "\n"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// TestBackupSyncsItsDirectory: after the rename that puts the backup in
// place, the directory is synced, and a failure of that sync is reported,
// not "backup written". The file is in place when the error comes, so the
// directory sync that failed came after the rename. That the data survives
// a real power loss is not tested.
func TestBackupSyncsItsDirectory(t *testing.T) {
	runAsChild()
	data := seedData(t, "hello")
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.db")
	code, out := failingDirSync(t, dir, "backup", "--server", "http://127.0.0.1:1", "--data", data, file)
	if code != 1 || !strings.Contains(out, "input/output error") || strings.Contains(out, "written") {
		t.Fatalf("backup whose directory sync fails: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("the backup was not in place when its directory sync failed: %v", err)
	}
}

// TestNewDataDirectoriesAreSynced: a data directory that serve or restore
// creates is made durable by syncing its parent, and a failure of that sync
// is reported: serve does not start, restore does not report success. That
// the directory survives a real power loss is not tested.
func TestNewDataDirectoriesAreSynced(t *testing.T) {
	runAsChild()
	parent := t.TempDir()
	data := filepath.Join(parent, "data")
	code, out := failingDirSync(t, parent, "serve", "--addr", "127.0.0.1:0", "--data", data)
	if code != 1 || !strings.Contains(out, "input/output error") || strings.Contains(out, `"listening"`) {
		t.Errorf("serve creating %s whose parent's sync fails: exit %d\n%s", data, code, out)
	}

	backup := filepath.Join(t.TempDir(), "backup.db")
	if code, _, errs := runIn(t, "backup", "--server", "http://127.0.0.1:1", "--data", seedData(t, "hello"), backup); code != 0 {
		t.Fatalf("backup: %d %s", code, errs)
	}
	parent = t.TempDir()
	data = filepath.Join(parent, "data")
	code, out = failingDirSync(t, parent, "restore", "--data", data, backup)
	if code != 1 || !strings.Contains(out, "input/output error") || strings.Contains(out, "restored") {
		t.Errorf("restore creating %s whose parent's sync fails: exit %d\n%s", data, code, out)
	}
}

// TestBackupNeverReplacesAFileThatAppears: without --force, a file that
// appears after backup's last look (another backup, a copy) is left as it
// is, not replaced by the final step. The child runs under strace, which
// answers every stat of the file "no such file", as if it were created
// just after each look: the final step (a link, which fails when the name
// exists) must refuse it itself.
func TestBackupNeverReplacesAFileThatAppears(t *testing.T) {
	runAsChild()
	data := seedData(t, "hello")
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.db")
	const good = "the one good backup"
	if err := os.WriteFile(file, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := faulted(t, file, "%stat,%lstat,%fstat", "ENOENT", "backup", "--server", "http://127.0.0.1:1", "--data", data, file)
	if code != 1 || !strings.Contains(out, "exists; pass --force") || strings.Contains(out, "written") {
		t.Errorf("backup over a file it did not see: exit %d\n%s", code, out)

	}
	if b, err := os.ReadFile(file); err != nil || string(b) != good {
		t.Errorf("the existing file became %d bytes (%v)", len(b), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left beside it: %v", entries)
	}
}

// TestBackupSurvivesALeftoverTemporaryName: without --force the backup is
// linked to its name, its temporary name then removed, and the directory
// synced. When that removal fails the backup is complete and in place all
// the same: the command succeeds, with a warning on stderr that names the
// temporary file left beside it (a second name of the backup), and a
// later backup to the same name is not in its way. The child runs under
// strace, which fails every unlinkat (os.Remove) of the child: the
// temporary file's name is not known beforehand. It backs up from a
// server, which answers at once (a refused connection would leave the
// temporary file of that first attempt too:
// TestBackupWarnsOfAnUnusedTemporaryFile).
func TestBackupSurvivesALeftoverTemporaryName(t *testing.T) {
	runAsChild()
	data := seedData(t, "hello")
	served := filepath.Join(t.TempDir(), "served.db")
	if code, out, errs := runIn(t, "backup", "--server", "http://127.0.0.1:1", "--data", data, served); code != 0 {
		t.Fatalf("backup to serve: %d %q %q", code, out, errs)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, served)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.db")
	cmd := faultedCmd(t, "", "unlinkat", "EIO", "backup", "--server", srv.URL, file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil || !strings.Contains(stdout.String(), "backup written") {
		t.Fatalf("backup whose temporary name cannot be removed: %v\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 2 {
		t.Fatalf("beside the backup: %v %v", entries, err)
	}
	leftover := filepath.Join(dir, entries[0].Name())
	if leftover == file {
		leftover = filepath.Join(dir, entries[1].Name())
	}
	if !strings.Contains(stderr.String(), "warning") || !strings.Contains(stderr.String(), leftover) ||
		!strings.Contains(stderr.String(), "input/output error") {
		t.Errorf("stderr does not warn of %s: %q", leftover, &stderr)
	}
	a, errA := os.Stat(file)
	b, errB := os.Stat(leftover)
	if errA != nil || errB != nil || !os.SameFile(a, b) {
		t.Errorf("%s is not a second name of the backup: %v %v", leftover, errA, errB)
	}
	restored := t.TempDir()
	if err := os.Link(file, filepath.Join(restored, DBFile)); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runIn(t, "export", "doc", "--data", restored); code != 0 || out != "hello" {
		t.Errorf("export from the backup: %d %q %s", code, out, errs)
	}

	code, out, errs := runIn(t, "backup", "--server", "http://127.0.0.1:1", "--data", data, file)
	if code != 1 || !strings.Contains(errs, "exists; pass --force") {
		t.Errorf("a later backup to the name without --force: %d %q %q", code, out, errs)
	}
	code, out, errs = runIn(t, "backup", "--force", "--server", "http://127.0.0.1:1", "--data", data, file)
	if code != 0 || !strings.Contains(out, "backup written") || strings.Contains(errs, "warning") {
		t.Errorf("a later backup --force to the name: %d %q %q", code, out, errs)
	}
	if now, _ := os.ReadDir(dir); len(now) != 2 {
		t.Errorf("after a later backup --force: %v", now)
	}
}

// TestBackupWarnsOfAnUnusedTemporaryFile: backup makes its first temporary
// file before it knows that no server answers; it then copies the data
// directory itself, into a second one. When the first cannot be removed
// either, the backup is complete and in place all the same: the command
// succeeds, with a warning on stderr naming that file (empty, safe to
// delete), as it warns of the second one's name left beside the backup.
// The child runs under strace, which fails every unlinkat (os.Remove) of
// the child (TestBackupSurvivesALeftoverTemporaryName says why).
func TestBackupWarnsOfAnUnusedTemporaryFile(t *testing.T) {
	runAsChild()
	data := seedData(t, "hello")
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.db")
	cmd := faultedCmd(t, "", "unlinkat", "EIO", "backup", "--server", "http://127.0.0.1:1", "--data", data, file)
	cmd.Env = append(cmd.Env, "TMPDIR="+t.TempDir()) // Whatever else the child cannot remove stays in the test's.
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "backup written") {
		t.Fatalf("backup whose temporary files cannot be removed: %v\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
	}
	backup, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 3 {
		t.Fatalf("beside the backup: %v %v (stderr %q)", entries, err, &stderr)
	}
	var unused, second []string
	for _, e := range entries {
		name := filepath.Join(dir, e.Name())
		switch fi, err := os.Stat(name); {
		case err != nil:
			t.Fatal(err)
		case name == file:
		case os.SameFile(fi, backup):
			second = append(second, name)
		case fi.Size() == 0:
			unused = append(unused, name)
		}
	}
	if len(unused) != 1 || len(second) != 1 {
		t.Fatalf("beside the backup: %v, want an empty temporary file and a second name of the backup", entries)
	}
	for _, left := range []string{unused[0], second[0]} {
		if !strings.Contains(stderr.String(), left+" (") {
			t.Errorf("stderr does not warn of %s: %q", left, &stderr)
		}
	}
	if strings.Count(stderr.String(), "warning: ") != 2 || strings.Count(stderr.String(), "input/output error") != 2 {
		t.Errorf("stderr has not two warnings, each with its cause: %q", &stderr)
	}
	restored := t.TempDir()
	if err := os.Link(file, filepath.Join(restored, DBFile)); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runIn(t, "export", "doc", "--data", restored); code != 0 || out != "hello" {
		t.Errorf("export from the backup: %d %q %s", code, out, errs)
	}
}

// TestBackupWarnsOfALeftoverScratchCopy: backup without a server, of a
// data directory whose journal holds ops the database file does not,
// applies them in a scratch copy of the database in the temporary
// directory. When that copy cannot be removed afterwards, the backup is
// complete and in place all the same: the command succeeds, with a
// warning on stderr naming the directory left (a full copy of the data).
// The child runs under strace, which fails every unlinkat (os.Remove,
// os.RemoveAll) of the child, with its temporary directory the test's.
func TestBackupWarnsOfALeftoverScratchCopy(t *testing.T) {
	runAsChild()
	data := seedJournaled(t)
	tmp := t.TempDir()
	file := filepath.Join(t.TempDir(), "backup.db")
	cmd := faultedCmd(t, "", "unlinkat", "EIO", "backup", "--force", "--server", "http://127.0.0.1:1", "--data", data, file)
	cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "backup written") {
		t.Fatalf("backup whose scratch copy cannot be removed: %v\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
	}
	left, err := filepath.Glob(filepath.Join(tmp, "folio-backup-*"))
	if err != nil || len(left) != 1 {
		t.Fatalf("in the temporary directory: %v %v, want the scratch copy", left, err)
	}
	if _, err := os.Stat(filepath.Join(left[0], DBFile)); err != nil {
		t.Errorf("the scratch directory holds no copy of the database: %v", err)
	}
	warned := false
	for line := range strings.Lines(stderr.String()) {
		warned = warned || strings.HasPrefix(line, "warning: ") && strings.Contains(line, left[0]+" (") &&
			strings.Contains(line, "input/output error")
	}
	if !warned {
		t.Errorf("stderr does not warn of %s: %q", left[0], &stderr)
	}
	restored := t.TempDir()
	if err := os.Link(file, filepath.Join(restored, DBFile)); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runIn(t, "export", "doc", "--data", restored); code != 0 || out != "hi!!!" {
		t.Errorf("export from the backup: %d %q %s", code, out, errs)
	}
}
