package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foliodocs/folio/ot"
	bolt "go.etcd.io/bbolt"
)

// TestConcurrentWriters runs many goroutines appending to their own
// documents and to one shared document at once; every acknowledged op must be
// there, in order, and conflicts on the shared document must write nothing.
func TestConcurrentWriters(t *testing.T) {
	db := openTest(t, Options{NoSync: true, MaxBatch: 8})
	const writers, rounds = 16, 25
	ws := make([]*writer, writers)
	for i := range ws {
		ws[i] = newWriter(fmt.Sprintf("w%d", i), uint64(i), "")
		must(db.Create(ctx, ws[i].id, ""))(t)
	}
	must(db.Create(ctx, "shared", ""))(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	sharedOK, sharedConflicts := 0, 0
	for _, w := range ws {
		wg.Go(func() {
			for i := range rounds {
				recs, snap := w.next(1+i%3, 10)
				if err := db.Append(ctx, w.id, recs, w.length(), snap); err != nil {
					t.Error(err)
					return
				}
				// Everyone races for the shared doc's next version.
				head := must(db.Meta(ctx, "shared"))(t).Version
				rec := OpRecord{Version: head + 1, Op: ot.Op{{Insert: "x"}}, Session: w.id, Seq: uint64(i + 1)}
				err := db.Append(ctx, "shared", []OpRecord{rec}, int(head+1), nil)
				mu.Lock()
				switch {
				case err == nil:
					sharedOK++
				case errors.Is(err, ErrVersionConflict):
					sharedConflicts++
				default:
					t.Error(err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, w := range ws {
		if got := must(db.TextAt(ctx, w.id, w.head()))(t); got != w.text(w.head()) {
			t.Fatalf("%s: text at head differs", w.id)
		}
	}
	m := must(db.Meta(ctx, "shared"))(t)
	if int(m.Version) != sharedOK || sharedOK+sharedConflicts != writers*rounds {
		t.Fatalf("shared head %d, %d ok, %d conflicts", m.Version, sharedOK, sharedConflicts)
	}
}

// TestBatchIsolation commits one batch holding valid requests, a rejected one
// and one that fails after writing; only the two bad ones fail.
func TestBatchIsolation(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	for _, id := range []string{"a", "b"} {
		must(db.Create(ctx, id, ""))(t)
	}
	appendReq := func(id string, v uint64, text string) *writeReq {
		recs := []OpRecord{{Version: v, Op: ot.Op{{Insert: text}}}}
		r, err := db.appendReq(ctx, id, recs, int(v), nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	partial := &writeReq{ctx: ctx, done: make(chan error, 1), apply: func(tx *bolt.Tx) error {
		tx.Bucket(bucketMeta).Put([]byte("b"), []byte("half-written"))
		return errors.New("disk said no")
	}}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	late := appendReq("b", 2, "z")
	late.ctx = cancelled
	batch := []*writeReq{
		appendReq("a", 1, "x"), appendReq("a", 5, "bad"), partial,
		appendReq("a", 2, "y"), appendReq("b", 1, "w"), late,
	}
	db.commit(batch)
	want := []string{"", "conflict", "disk said no", "", "", "canceled"}
	for i, r := range batch {
		err := <-r.done
		if (err == nil) != (want[i] == "") || err != nil && !bytes.Contains([]byte(err.Error()), []byte(want[i])) {
			t.Errorf("request %d: %v, want %q", i, err, want[i])
		}
	}
	if got := must(db.TextAt(ctx, "a", 2))(t); got != "yx" {
		t.Fatalf("a = %q", got)
	}
	if got := must(db.TextAt(ctx, "b", 1))(t); got != "w" {
		t.Fatalf("b = %q", got)
	}
}

// TestCommitFailure injects a failing commit: the Append reports an error,
// nothing of it is visible, the store stays consistent, and the next commit
// succeeds.
func TestCommitFailure(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	w := newWriter("doc", 5, "abc")
	must(db.Create(ctx, w.id, w.texts[0]))(t)
	recs, _ := w.next(3, 0)
	if err := db.Append(ctx, w.id, recs, w.length(), nil); err != nil {
		t.Fatal(err)
	}
	injected := errors.New("injected: no space left on device")
	db.commitHook = func() error { return injected }
	recs, snap := w.next(4, 2)
	err := db.Append(ctx, w.id, recs, w.length(), snap)
	if !errors.Is(err, injected) {
		t.Fatalf("Append with failing commit: %v", err)
	}
	w.rollback(4)
	recs, _ = w.next(1, 0)
	if err := db.Append(ctx, w.id, recs, w.length(), nil); !errors.Is(err, injected) {
		t.Fatalf("Append through the journal with failing commit: %v", err)
	}
	w.rollback(1)
	recs, _ = w.next(1, 0)
	if err := db.Append(ctx, w.id, recs, w.length(), nil); !errors.Is(err, injected) {
		t.Fatalf("Append after a failed journal write: %v", err)
	}
	w.rollback(1)
	_, errCreate := db.Create(ctx, "other", "")
	if !errors.Is(errCreate, injected) {
		t.Fatalf("Create with failing commit: %v", errCreate)
	}
	db.commitHook = nil // Reads would checkpoint the journal, which would fail too.
	m := must(db.Meta(ctx, w.id))(t)
	if m.Version != 3 || m.Length != w.length() {
		t.Fatalf("meta moved after failed commit: %+v", m)
	}
	if _, err := db.Ops(ctx, w.id, 3, 4); !errors.Is(err, ErrVersionAhead) {
		t.Fatalf("op 4 visible after failed commit: %v", err)
	}
	if seq, _ := must2(db.SessionSeq(ctx, w.id, "s-doc"))(t); seq != 3 {
		t.Fatalf("session seq %d after failed commit, want 3", seq)
	}
	if err := db.Check(ctx); err != nil {
		t.Fatal(err)
	}
	recs, snap = w.next(4, 2)
	if err := db.Append(ctx, w.id, recs, w.length(), snap); err != nil {
		t.Fatal(err)
	}
	if got := must(db.TextAt(ctx, w.id, 7))(t); got != w.text(7) {
		t.Fatalf("text after recovery %q, want %q", got, w.text(7))
	}
}

func TestContextCancelled(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	must(db.Create(ctx, "doc", ""))(t)
	c, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.Append(c, "doc", []OpRecord{{Version: 1, Op: ot.Op{{Insert: "x"}}}}, 1, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append: %v", err)
	}
	if _, err := db.Load(c, "doc"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load: %v", err)
	}
	if m := must(db.Meta(ctx, "doc"))(t); m.Version != 0 {
		t.Fatalf("cancelled append committed: %+v", m)
	}
}

func TestClosed(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	must(db.Create(ctx, "doc", ""))(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := db.Append(ctx, "doc", []OpRecord{{Version: 1, Op: ot.Op{{Insert: "x"}}}}, 1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := db.Load(ctx, "doc"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Load after Close: %v", err)
	}
}

func TestReopenAndBackup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "folio.db") // Open creates the parents.
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := newWriter("doc", 6, "ab")
	must(db.Create(ctx, w.id, w.texts[0]))(t)
	recs, snap := w.next(20, 8)
	if err := db.Append(ctx, w.id, recs, w.length(), snap); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n := must(db.Backup(ctx, &buf))(t)
	if n != int64(buf.Len()) || db.Path() != path {
		t.Fatalf("backup wrote %d, buffer has %d", n, buf.Len())
	}
	db.Close()
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(backup, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, backup} {
		db := openAt(t, p, Options{Verify: true})
		if got := must(db.TextAt(ctx, w.id, 20))(t); got != w.text(20) {
			t.Fatalf("%s: text %q, want %q", p, got, w.text(20))
		}
	}
}

func TestOpenForeignFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 2000), 0o600)
	foreign := filepath.Join(dir, "foreign")
	bdb, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other-app")); return err })
	bdb.Close()
	for _, p := range []string{garbage, foreign} {
		db, err := Open(p, Options{})
		if !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte(p)) {
			t.Errorf("Open(%s) = %v, want ErrCorrupt naming the file", p, err)
		}
		if db != nil {
			db.Close()
		}
	}
}

// TestCheckFindsDamage damages a database behind the API and expects Check
// (and Open with Verify) to report each problem.
func TestCheckFindsDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	w := newWriter("doc", 7, "ab")
	must(db.Create(ctx, w.id, w.texts[0]))(t)
	for range 2 { // Two flushed chunks: ops 1..5 and 6..10.
		recs, snap := w.next(5, 5)
		if err := db.Append(ctx, w.id, recs, w.length(), snap); err != nil {
			t.Fatal(err)
		}
	}
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDocs).Bucket([]byte(w.id))
		b.Bucket(bucketSnap).Put(versionKey(5), encodeSnapshot("wrong text"))
		b.Delete(versionKey(6))
		b.Bucket(bucketSess).Put([]byte("ghost"), encodeSession(1, 3))
		tx.Bucket(bucketLog).Put(versionKey(99), encodeEntry("nobody", 0, 1, encodeChunk([]OpRecord{{Op: ot.Op{{Insert: "x"}}}})))
		tx.Bucket(bucketLog).Put(versionKey(98), encodeEntry("doc", 0, 99, encodeChunk([]OpRecord{{Op: ot.Op{{Insert: "x"}}}})))
		gone, _ := tx.CreateBucketIfNotExists(bucketGone)
		gone.Put([]byte("doc"), []byte{3})
		gone.Put([]byte("dead"), []byte{0x80})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Check(ctx)
	for _, want := range []string{"snapshot 5 differs", "op 6 missing", "holds ops 1..5, meta says flushed to 10", `session "ghost"`, "belongs to no document", "neither pending nor flushed", `"doc" has a tombstone`, `"dead": tombstone`} {
		if !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(fmt.Sprint(err)), []byte(want)) {
			t.Errorf("Check: %v; want ErrCorrupt mentioning %q", err, want)
		}
	}
	db.Close()
	if _, err := Open(path, Options{Verify: true}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with Verify: %v, want ErrCorrupt", err)
	}
}

// TestHotBackup takes backups while a writer appends; every backup opens
// as a consistent database holding a prefix of the writer's history.
func TestHotBackup(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	w := newWriter("doc", 12, "")
	must(db.Create(ctx, w.id, ""))(t)
	done := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < 300 && err == nil; i++ {
			recs, snap := w.next(1+i%5, 64)
			err = db.Append(ctx, w.id, recs, w.length(), snap)
		}
		done <- err
	}()
	dir := t.TempDir()
	var backups []string
	for i := range 5 {
		var buf bytes.Buffer
		must(db.Backup(ctx, &buf))(t)
		p := filepath.Join(dir, fmt.Sprintf("b%d.db", i))
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		backups = append(backups, p)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, p := range backups {
		b := openAt(t, p, Options{Verify: true})
		m := must(b.Meta(ctx, w.id))(t)
		if got := must(b.TextAt(ctx, w.id, m.Version))(t); got != w.text(m.Version) {
			t.Fatalf("%s: text at %d differs from the writer's", p, m.Version)
		}
	}
}

// TestLoneWriterNeverLingers: with a CommitDelay far longer than the test, a
// writer alone (one request at a time) still commits at once.
func TestLoneWriterNeverLingers(t *testing.T) {
	db := openTest(t, Options{NoSync: true, CommitDelay: time.Hour})
	w := newWriter("lone", 1, "")
	must(db.Create(ctx, w.id, ""))(t)
	for range 20 {
		recs, snap := w.next(1, 0)
		if err := db.Append(ctx, w.id, recs, w.length(), snap); err != nil {
			t.Fatal(err)
		}
	}
	if st := db.Stats(); st.Transactions != 21 || st.Requests != 21 {
		t.Fatalf("stats %+v, want 21 transactions of one request", st)
	}
}

// TestBusyCommitterGathers: writers that arrive together while the committer
// is busy share transactions. The first transaction is held (commitHook)
// until every other writer waits to be taken, so the next one finds them all
// waiting (and then lingers for CommitDelay).
func TestBusyCommitterGathers(t *testing.T) {
	db := openTest(t, Options{NoSync: true, CommitDelay: 20 * time.Millisecond})
	const writers = 16
	for i := range writers {
		must(db.Create(ctx, fmt.Sprintf("g%d", i), ""))(t)
	}
	before := db.Stats()
	appendBehindHeldCommit(t, db, "g", writers)
	st := db.Stats()
	txns, reqs := st.Transactions-before.Transactions, st.Requests-before.Requests
	if reqs != writers || txns != 2 {
		t.Fatalf("%d requests in %d transactions, want %d in 2 (the held one, then all the others)", reqs, txns, writers)
	}
}

// appendBehindHeldCommit appends one op to each of the documents prefix0
// .. prefix<writers-1>: the first commit is held (commitHook) until every
// other writer waits to be taken, then released; it returns when every
// Append has.
func appendBehindHeldCommit(t *testing.T, db *DB, prefix string, writers int) {
	t.Helper()
	release := make(chan struct{})
	var holding atomic.Bool
	db.commitHook = func() error {
		if holding.CompareAndSwap(false, true) {
			<-release
		}
		return nil
	}
	appendOne := func(i int) {
		w := newWriter(fmt.Sprintf("%s%d", prefix, i), uint64(i), "")
		recs, _ := w.next(1, 0)
		if err := db.Append(ctx, w.id, recs, w.length(), nil); err != nil {
			t.Error(err)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { appendOne(0) })
	eventually(t, "the first commit held", holding.Load)
	for i := 1; i < writers; i++ {
		wg.Go(func() { appendOne(i) })
	}
	eventually(t, "every writer waiting", func() bool { return waitingWriters() == writers-1 })
	close(release)
	wg.Wait()
}

// eventually polls cond until it holds, failing after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitingWriters counts the goroutines blocked in DB.submit's send to the
// committer.
func waitingWriters() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[select") && strings.Contains(g, "storage.(*DB).submit(") {
			n++
		}
	}
	return n
}

// TestCloseEndsLinger: Close while the committer lingers (CommitDelay of an
// hour) does not wait for it: what the batch holds is committed, and every
// Append returns either nil (durable: there after reopening) or ErrClosed.
// Several rounds, so that some close while a batch lingers.
func TestCloseEndsLinger(t *testing.T) {
	for round := range 10 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("f%d.db", round))
		db := openAt(t, path, Options{NoSync: true, CommitDelay: time.Hour})
		const writers = 8
		for i := range writers {
			must(db.Create(ctx, fmt.Sprintf("c%d", i), ""))(t)
		}
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Go(func() {
				w := newWriter(fmt.Sprintf("c%d", i), uint64(i), "")
				recs, _ := w.next(1, 0)
				errs[i] = db.Append(ctx, w.id, recs, w.length(), nil)
			})
		}
		for range 20 * round { // Let some appends reach the committer.
			runtime.Gosched()
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		db = openAt(t, path, Options{NoSync: true})
		for i, err := range errs {
			m := must(db.Meta(ctx, fmt.Sprintf("c%d", i)))(t)
			switch {
			case err == nil && m.Version != 1, errors.Is(err, ErrClosed) && m.Version != 0:
				t.Errorf("round %d, c%d: append returned %v, stored version %d", round, i, err, m.Version)
			case err != nil && !errors.Is(err, ErrClosed):
				t.Errorf("round %d, c%d: %v", round, i, err)
			}
		}
	}
}

// TestSlowTransactionsCounted: a transaction held for SlowTransaction (a
// stalled disk, here commitHook) counts in Stats.Slow; a quick one does not.
func TestSlowTransactionsCounted(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	w := newWriter("slow", 1, "")
	must(db.Create(ctx, w.id, ""))(t)
	db.commitHook = func() error {
		time.Sleep(SlowTransaction) // The disk stalls.
		return nil
	}
	recs, snap := w.next(1, 0)
	if err := db.Append(ctx, w.id, recs, w.length(), snap); err != nil {
		t.Fatal(err)
	}
	db.commitHook = nil
	recs, snap = w.next(1, 0)
	if err := db.Append(ctx, w.id, recs, w.length(), snap); err != nil {
		t.Fatal(err)
	}
	if st := db.Stats(); st.Slow != 1 || st.Transactions != 3 {
		t.Fatalf("stats %+v, want 3 transactions, 1 slow", st)
	}
}

// TestLingerEndsAtEnough: a busy committer stops waiting (here up to an
// hour) once its batch holds lingerEnough requests, so writers that wait
// for their commit before writing again are not held for CommitDelay.
func TestLingerEndsAtEnough(t *testing.T) {
	db := openTest(t, Options{NoSync: true, CommitDelay: time.Hour})
	const writers = lingerEnough + 8
	for i := range writers {
		must(db.Create(ctx, fmt.Sprintf("e%d", i), ""))(t)
	}
	withoutLinger(t, db, "e", writers, fmt.Sprintf("the committer waited with %d requests in its batch", lingerEnough))
	// A lone request now (the cleanup's check) would linger: close first.
	db.Close()
}

// TestArrivals: the committer's estimate of its recent writers is the rate
// and the documents of the last complete period; until one completes it
// assumes many, as busy; a quiet stretch counts as slow.
func TestArrivals(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := newArrivals(t0)
	const delay = 3 * time.Millisecond
	appends := func(ids ...string) []*writeReq {
		var b []*writeReq
		for _, id := range ids {
			b = append(b, &writeReq{app: &journaled{appendArgs: appendArgs{id: id}}})
		}
		return b
	}
	creates := func(n int) []*writeReq { // Requests other than Appends.
		b := make([]*writeReq, n)
		for i := range b {
			b[i] = &writeReq{}
		}
		return b
	}
	if a.expect(delay) < lingerExpect || a.active != math.MaxInt {
		t.Fatalf("before the first period: expect %v, %d active", a.expect(delay), a.active)
	}
	a.add(appends("a", "b", "a"), t0.Add(50*time.Millisecond)) // The period is not over: still unknown.
	if a.expect(delay) < lingerExpect || a.active != math.MaxInt {
		t.Fatal("within the first period the estimate changed")
	}
	a.add(append(appends("c", "a"), creates(5)...), t0.Add(100*time.Millisecond)) // 10 in 100 ms.
	if got := a.expect(delay); got < 0.29 || got > 0.31 || a.active != 3 {
		t.Fatalf("10 requests from 3 documents in 100 ms: expect %.2f within 3 ms (want 0.3), %d active (want 3)", got, a.active)
	}
	if a.hold(appends("a")[0]) || a.hold(appends("a")[0]) || a.hold(&writeReq{}) || a.hold(appends("b")[0]) {
		t.Fatal("a batch of a, a, a create and b holds all 3 active documents")
	}
	if !a.hold(appends("c")[0]) {
		t.Fatal("a batch of a, b and c does not hold all 3 active documents")
	}
	clear(a.held)
	a.add(creates(300), t0.Add(200*time.Millisecond)) // 3,000/s: 9 within 3 ms.
	if got := a.expect(delay); got < 8.9 || got > 9.1 || a.active != 0 {
		t.Fatalf("3,000 creates/s: expect %.2f within 3 ms (want 9), %d active documents (want 0)", got, a.active)
	}
	a.add(appends("a"), t0.Add(10*time.Second)) // Ten seconds quiet, then one.
	if a.expect(delay) >= lingerExpect {
		t.Fatalf("after a quiet stretch: expect %.4f", a.expect(delay))
	}
}

// TestSlowArrivalsNeverLinger: a busy committer (a batch of two) does not
// wait when requests arrive too slowly for a wait to gather more. The
// estimate is pinned at zero (a period that never ends) and CommitDelay is
// an hour, so a linger would outlast the test.
func TestSlowArrivalsNeverLinger(t *testing.T) {
	db := openTest(t, Options{NoSync: true, CommitDelay: time.Hour})
	a := newArrivals(time.Now().Add(time.Hour)) // Before any write.
	a.perSec = 0
	db.arrivals = a
	lingerless(t, db, "the busy committer waited for more requests at a rate of zero")
}

// TestLingerEndsWhenAllIn: a busy committer does not wait when its batch
// holds every document that wrote recently (pinned here: the two that the
// batch holds), since each waits for its commit before it writes again.
func TestLingerEndsWhenAllIn(t *testing.T) {
	db := openTest(t, Options{NoSync: true, CommitDelay: time.Hour})
	a := newArrivals(time.Now().Add(time.Hour)) // Before any write.
	a.active = 2
	db.arrivals = a
	lingerless(t, db, "the busy committer waited for more requests with every writer in its batch")
}

// lingerless appends behind a held commit from three documents, so that
// the two behind it form a busy batch, and fails with msg unless that batch
// commits without a linger (CommitDelay is an hour).
func lingerless(t *testing.T, db *DB, msg string) {
	t.Helper()
	const writers = 3
	for i := range writers {
		must(db.Create(ctx, fmt.Sprintf("s%d", i), ""))(t)
	}
	withoutLinger(t, db, "s", writers, msg)
	if st := db.Stats(); st.Transactions != writers+2 || st.Requests != 2*writers {
		t.Fatalf("stats %+v, want the creates, the held append, then the other two together", st)
	}
	// A request now (the cleanup's check) could linger: close first.
	db.Close()
}

// withoutLinger runs appendBehindHeldCommit and fails with msg unless it
// returns within 10 s: with CommitDelay an hour, only a linger that should
// not have happened takes that long.
func withoutLinger(t *testing.T, db *DB, prefix string, writers int, msg string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		appendBehindHeldCommit(t, db, prefix, writers)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		db.Close() // Ends the linger, and the cleanup's check with it.
		t.Fatal(msg)
	}
}

// TestReadPanicNotCorrupt: a panic in a read that no damaged file causes (a
// bug's nil dereference) is an error with its stack, not ErrCorrupt, and a
// bbolt-style panic is ErrCorrupt; neither takes the process down.
func TestReadPanicNotCorrupt(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	var nilMap *map[string]int
	err := db.view(func(*bolt.Tx) error { _ = (*nilMap)["x"]; return nil })
	if err == nil || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "TestReadPanicNotCorrupt") {
		t.Errorf("a nil dereference in a read: %v", err)
	}
	err = db.view(func(*bolt.Tx) error { panic("assertion failed: page 7: has unexpected type/flags: 0") })
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("a bbolt assertion in a read: %v", err)
	}
}
