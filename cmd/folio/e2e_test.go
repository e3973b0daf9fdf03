package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinaryEndToEnd builds the folio binary and drives it as a user would:
// serve → create → edit (op and PUT) → export over HTTP → backup through the
// server → SIGTERM → export, check and read the backup from the data directory.
func TestBinaryEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; runs without -short (CI)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "folio")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	addr := freeAddr(t)
	base := "http://" + addr

	var logs bytes.Buffer
	srv := exec.Command(bin, "serve", "--addr", addr, "--data", data, "--shutdown-timeout", "10s")
	srv.Env = append(os.Environ(), "FOLIO_LOG_LEVEL=debug")
	srv.Stderr = &logs // Read only after the process exited (Wait copied everything).
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		if srv.ProcessState == nil {
			_ = srv.Process.Kill()
			<-exited
		}
	})
	waitReady(t, base, exited)

	mustHTTP(t, "POST", base+"/api/v1/docs", `{"id":"e2e","text":"# Hello"}`, http.StatusCreated)
	mustHTTP(t, "POST", base+"/api/v1/docs/e2e/ops", `{"version":0,"op":[7,"\n\nfrom *folio* 🎉"]}`, http.StatusOK)
	mustHTTP(t, "PUT", base+"/api/v1/docs/e2e/text", "# Hello\n\nfrom *folio* 🎉 and <script>alert(1)</script>", http.StatusOK)
	md := mustHTTP(t, "GET", base+"/api/v1/docs/e2e/export/md", "", http.StatusOK)
	want := "# Hello\n\nfrom *folio* 🎉 and <script>alert(1)</script>"
	if md != want {
		t.Errorf("md export %q", md)
	}
	if page := mustHTTP(t, "GET", base+"/api/v1/docs/e2e/export/html", "", http.StatusOK); strings.Contains(page, "<script>alert") || !strings.Contains(page, "<em>folio</em>") {
		t.Errorf("html export:\n%s", page)
	}

	backup := filepath.Join(dir, "backup.db")
	runBin(t, bin, 0, "", "backup", "--server", base, backup)
	// The server holds the data directory: a direct export says so.
	runBin(t, bin, 1, "in use by a running folio server", "export", "e2e", "--data", data)

	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("server exit: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop on SIGTERM")
	}
	for _, want := range []string{`"message":"configuration"`, `"message":"listening"`, `"message":"stopped"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "from *folio*") {
		t.Error("document text in the logs")
	}

	if out := runBin(t, bin, 0, "", "export", "e2e", "--format", "md", "--data", data); out != want {
		t.Errorf("offline export %q", out)
	}
	if out := runBin(t, bin, 0, "", "export", "--version", "1", "--data", data, "e2e"); out != "# Hello\n\nfrom *folio* 🎉" {
		t.Errorf("offline export v1 %q", out)
	}
	runBin(t, bin, 1, "beyond the head", "export", "e2e", "--version", "3", "--data", data)
	runBin(t, bin, 0, "ok:", "check", "--data", data)
	// The backup is a complete database of its own.
	bdir := filepath.Join(dir, "restored")
	if err := os.MkdirAll(bdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(backup, filepath.Join(bdir, DBFile)); err != nil {
		t.Fatal(err)
	}
	if out := runBin(t, bin, 0, "", "export", "e2e", "--data", bdir); out != want {
		t.Errorf("export from backup %q", out)
	}
	runBin(t, bin, 0, "folio ", "version")
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func waitReady(t *testing.T, base string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("server exited early: %v", err)
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustHTTP(t *testing.T, method, url, body string, status int) string {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return string(b)
}

// runBin runs the binary, checks its exit code and that its combined output
// contains want, and returns its standard output.
func runBin(t *testing.T, bin string, code int, want string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	got := 0
	if ee, ok := err.(*exec.ExitError); ok {
		got = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("folio %v: %v", args, err)
	}
	if got != code || !strings.Contains(stdout.String()+stderr.String(), want) {
		t.Fatalf("folio %v: exit %d (want %d), output lacks %q:\n%s%s", args, got, code, want, stdout.String(), stderr.String())
	}
	return stdout.String()
}
