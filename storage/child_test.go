package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashDocs is how many documents (and writer goroutines) the crash child
// appends to at once, so that kills land inside shared group commits.
const crashDocs = 4

// childCmd re-executes the test binary in one of the child modes of TestMain.
func childCmd(t *testing.T, mode, path string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childPathEnv+"="+path)
	cmd.Stderr = os.Stderr
	return cmd
}

// crashChild appends random ops to crashDocs documents as fast as it can,
// with real fsyncs, and prints "doc version" after each durable Append. It
// runs until killed.
func crashChild(path string) {
	db, err := Open(path, Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	var out sync.Mutex
	for i := range crashDocs {
		go func() {
			w, err := resumeWriter(db, fmt.Sprintf("c%d", i))
			for err == nil {
				recs, snap := w.next(1+w.rng.IntN(10), 32)
				if err = db.Append(context.Background(), w.id, recs, w.length(), snap); err == nil {
					out.Lock()
					fmt.Fprintf(os.Stdout, "%s %d\n", w.id, w.head())
					out.Unlock()
				}
			}
			fmt.Println("ERR", err)
			os.Exit(1)
		}()
	}
	select {}
}

// resumeWriter continues document id where the store has it.
func resumeWriter(db *DB, id string) (*writer, error) {
	l, err := db.Load(context.Background(), id)
	if errors.Is(err, ErrNotFound) {
		_, err = db.Create(context.Background(), id, "")
		return newWriter(id, rand.Uint64(), ""), err
	}
	if err != nil {
		return nil, err
	}
	w := newWriter(id, rand.Uint64(), l.Snapshot.Text)
	for _, r := range l.Ops {
		if err := w.doc.Apply(r.Op); err != nil {
			return nil, err
		}
	}
	// Only the head text matters from here on; pad texts so head() matches.
	w.texts = make([]string, l.Meta.Version+1)
	w.texts[l.Meta.Version] = w.doc.String()
	w.seq, _, err = db.SessionSeq(context.Background(), id, "s-"+id)
	return w, err
}

// TestCrash kills a child that appends as fast as it can at random moments
// and checks after each kill that every version it reported is durable and
// the store is consistent (no gaps, snapshots agree with the log).
func TestCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	reported := map[string]uint64{}
	const kills = 24
	for i := range kills {
		for doc, v := range runAndKill(t, path, rng.IntN(100)) {
			reported[doc] = max(reported[doc], v)
		}
		db, err := Open(path, Options{LockTimeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", i, err)
		}
		for doc, v := range reported {
			if m, err := db.Meta(ctx, doc); err != nil || m.Version < v {
				t.Errorf("kill %d: %s reported at %d, store has %+v (%v)", i, doc, v, m, err)
			}
		}
		err = db.Check(ctx)
		db.Close()
		if err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
	}
	total := uint64(0)
	for _, v := range reported {
		total += v
	}
	t.Logf("%d kills, %d ops reported durable across %d documents", kills, total, len(reported))
	if len(reported) != crashDocs {
		t.Fatalf("child reported on %d documents, want %d", len(reported), crashDocs)
	}
}

// runAndKill starts the crash child, SIGKILLs it after it has reported n
// commits, and returns the highest version reported per document.
func runAndKill(t *testing.T, path string, n int) map[string]uint64 {
	cmd := childCmd(t, "crash", path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reported := map[string]uint64{}
	sc := bufio.NewScanner(stdout)
	seen := 0
	for seen < n && sc.Scan() {
		parseReport(t, sc.Text(), reported)
		seen++
	}
	cmd.Process.Signal(syscall.SIGKILL)
	for sc.Scan() { // Lines the child wrote before it died count too.
		parseReport(t, sc.Text(), reported)
	}
	cmd.Wait()
	return reported
}

func parseReport(t *testing.T, line string, reported map[string]uint64) {
	var doc string
	var v uint64
	if _, err := fmt.Sscanf(line, "%s %d", &doc, &v); err != nil || doc == "ERR" {
		t.Fatalf("child: %q", line)
	}
	reported[doc] = max(reported[doc], v)
}

// lockChild holds the database open until its stdin closes.
func lockChild(path string) {
	db, err := Open(path, Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	db.Close()
}

// TestSecondProcessFailsFast opens a file another process holds.
func TestSecondProcessFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "held.db")
	cmd := childCmd(t, "lock", path)
	stdin := must(cmd.StdinPipe())(t)
	stdout := must(cmd.StdoutPipe())(t)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("child: %q", sc.Text())
	}
	start := time.Now()
	db, err := Open(path, Options{LockTimeout: 300 * time.Millisecond})
	elapsed := time.Since(start)
	if err == nil {
		db.Close()
		t.Fatal("second Open succeeded while another process holds the file")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open: %v; want ErrLocked naming %s", err, path)
	}
	if elapsed > 3*time.Second {
		t.Fatalf("second Open took %v", elapsed)
	}
	t.Logf("second open failed after %v: %v", elapsed.Round(time.Millisecond), err)
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	openAt(t, path, Options{}) // Free again once the holder exits.
}
