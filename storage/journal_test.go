package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/foliodocs/folio/ot"
)

// crashCopy copies db's files as a crash would leave them: the bbolt file as
// of its last transaction and the journal as written, without the
// checkpoint that Close makes. Nothing may be writing meanwhile.
func crashCopy(t *testing.T, db *DB) string {
	t.Helper()
	dir := t.TempDir()
	for _, suffix := range []string{"", journalSuffix} {
		b, err := os.ReadFile(db.Path() + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "folio.db"+suffix), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "folio.db")
}

// noCheckpoints: records stay in the journal until a read or another write
// checkpoints them.
var noCheckpoints = Options{NoSync: true, CheckpointEvery: time.Hour}

// appendN appends n single-op Appends to w's document and returns its head.
func appendN(t *testing.T, db *DB, w *writer, n int) uint64 {
	t.Helper()
	for range n {
		recs, _ := w.next(1, 0)
		if err := db.Append(ctx, w.id, recs, w.length(), nil); err != nil {
			t.Fatal(err)
		}
	}
	return w.head()
}

// checkWriter fails unless db holds exactly w's document: head, text, length
// and its session's seq.
func checkWriter(t *testing.T, db *DB, w *writer) {
	t.Helper()
	m := must(db.Meta(ctx, w.id))(t)
	if m.Version != w.head() || m.Length != w.length() {
		t.Fatalf("%s: meta %+v, want version %d length %d", w.id, m, w.head(), w.length())
	}
	if got := must(db.TextAt(ctx, w.id, m.Version))(t); got != w.text(m.Version) {
		t.Fatalf("%s: text at %d differs", w.id, m.Version)
	}
	want := w.head()
	if w.seq == 0 {
		want = 0 // No op of the session: an unknown session.
	}
	if seq, v := must2(db.SessionSeq(ctx, w.id, "s-"+w.id))(t); seq != w.seq || v != want {
		t.Fatalf("%s: session at %d@%d, want %d@%d", w.id, seq, v, w.seq, want)
	}
}

// TestJournalReplay: Appends acknowledged from the journal alone are there
// after a crash, with their sessions, and the replayed database takes more
// Appends and survives another crash.
func TestJournalReplay(t *testing.T) {
	db := openTest(t, noCheckpoints)
	ws := []*writer{newWriter("a", 1, "x"), newWriter("b", 2, "")}
	for _, w := range ws {
		must(db.Create(ctx, w.id, w.texts[0]))(t)
	}
	for i := range 3 * flushAfter { // Past flushAfter: replay flushes too.
		appendN(t, db, ws[i%2], 1)
	}
	if st := db.Stats(); st.Checkpoints != 0 {
		t.Fatalf("%d checkpoints before any read", st.Checkpoints)
	}
	re := openAt(t, crashCopy(t, db), noCheckpoints)
	for _, w := range ws {
		checkWriter(t, re, w)
		appendN(t, re, w, 5)
	}
	re2 := openAt(t, crashCopy(t, re), noCheckpoints)
	for _, w := range ws {
		checkWriter(t, re2, w)
	}
}

// TestJournalReads: Meta, Ops, TextAt and List see ops that are only in
// the journal without a checkpoint (from the overlay); the other reads
// checkpoint first.
// Either way a read sees every acknowledged write.
func TestJournalReads(t *testing.T) {
	db := openTest(t, noCheckpoints)
	w := newWriter("r", 3, "hello")
	must(db.Create(ctx, w.id, w.texts[0]))(t)
	appendN(t, db, w, 3)
	if m := must(db.Meta(ctx, w.id))(t); m.Version != 3 || m.Length != w.length() {
		t.Fatalf("Meta: %+v", m)
	}
	if ops := must(db.Ops(ctx, w.id, 1, 3))(t); len(ops) != 2 || ops[1].Version != 3 {
		t.Fatalf("Ops: %+v", ops)
	}
	if _, err := db.Ops(ctx, w.id, 0, 4); !errors.Is(err, ErrVersionAhead) {
		t.Fatalf("Ops past the head: %v", err)
	}
	for v := range uint64(4) {
		if got := must(db.TextAt(ctx, w.id, v))(t); got != w.text(v) {
			t.Fatalf("TextAt(%d) = %q, want %q", v, got, w.text(v))
		}
	}
	if st := db.Stats(); st.Checkpoints != 0 {
		t.Fatalf("%d checkpoints after Meta, Ops and TextAt", st.Checkpoints)
	}
	checkWriter(t, db, w) // SessionSeq checkpoints.
	if st := db.Stats(); st.Checkpoints != 1 || st.CheckpointTime <= 0 {
		t.Fatalf("%d checkpoints in %v, want 1", st.Checkpoints, st.CheckpointTime)
	}
	appendN(t, db, w, 2) // 4 and 5 in the journal, 1..3 in bbolt.
	ops := must(db.Ops(ctx, w.id, 0, 5))(t)
	for i, r := range ops {
		if r.Version != uint64(i+1) || r.Session != "s-r" {
			t.Fatalf("op %d: %+v", i, r)
		}
	}
	if len(ops) != 5 {
		t.Fatalf("%d ops, want 5", len(ops))
	}
	ops[4].Op[0].Insert = "changed by the caller"
	if again := must(db.Ops(ctx, w.id, 4, 5))(t); again[0].Op[0].Insert == "changed by the caller" {
		t.Fatal("Ops returned the overlay's own op")
	}
	appendN(t, db, w, 1)
	before := db.Stats().Checkpoints
	metas, _ := must2(db.List(ctx, "", 0))(t)
	if len(metas) != 1 || metas[0].Version != 6 || metas[0].Length != w.length() {
		t.Fatalf("List: %+v", metas)
	}
	if db.Stats().Checkpoints != before {
		t.Fatal("List checkpointed")
	}
}

// TestJournalReadsDuringCheckpoints: readers racing appends and frequent
// checkpoints (run with -race) always see a head that only grows and the
// exact ops up to it.
func TestJournalReadsDuringCheckpoints(t *testing.T) {
	db := openTest(t, Options{NoSync: true, CheckpointEvery: time.Millisecond})
	w := newWriter("c", 9, "")
	must(db.Create(ctx, w.id, ""))(t)
	const total = 600
	texts := make(chan []string, 1)
	go func() {
		for range total {
			recs, _ := w.next(1, 0)
			if err := db.Append(ctx, w.id, recs, w.length(), nil); err != nil {
				t.Error(err)
				break
			}
		}
		texts <- w.texts
	}()
	var last uint64
	var seen [][]OpRecord
	for last < total && !t.Failed() {
		m := must(db.Meta(ctx, w.id))(t)
		if m.Version < last {
			t.Fatalf("head went back from %d to %d", last, m.Version)
		}
		ops := must(db.Ops(ctx, w.id, last, m.Version))(t)
		for i, r := range ops {
			if r.Version != last+uint64(i)+1 {
				t.Fatalf("Ops(%d, %d)[%d] has version %d", last, m.Version, i, r.Version)
			}
		}
		seen, last = append(seen, ops), m.Version
	}
	all := <-texts
	doc := ot.NewDocument("")
	for _, ops := range seen {
		for _, r := range ops {
			if err := doc.Apply(r.Op); err != nil {
				t.Fatal(err)
			}
		}
	}
	if doc.String() != all[total] {
		t.Fatal("the ops read do not make the text written")
	}
	if st := db.Stats(); st.Checkpoints < 2 {
		t.Fatalf("only %d checkpoints", st.Checkpoints)
	}
}

// TestJournalEnds: the journal ends at its first torn record, and records
// left from before a checkpoint are never replayed.
func TestJournalEnds(t *testing.T) {
	db := openTest(t, noCheckpoints)
	w := newWriter("t", 4, "")
	must(db.Create(ctx, w.id, ""))(t)
	appendN(t, db, w, 20)
	must(db.Meta(ctx, w.id))(t) // Checkpoint: the next record goes to the start again.
	appendN(t, db, w, 3)

	// Stale: the 17 records after the 3 new ones are from before.
	re := openAt(t, crashCopy(t, db), noCheckpoints)
	checkWriter(t, re, w)

	// Torn: the last record loses its last byte, or has one flipped.
	size := int64(journalHead) // Where the last record ends.
	for b := mustRead(t, db.Path()+journalSuffix)[journalHead:]; ; {
		j, n, ok, err := nextRecord(b)
		if err != nil || !ok {
			t.Fatalf("record after %d: %v", size, err)
		}
		size, b = size+int64(n), b[n:]
		if j.lsn == db.ckTo {
			break
		}
	}
	for _, damage := range []string{"truncate", "flip"} {
		path := crashCopy(t, db)
		jb := mustRead(t, path+journalSuffix)
		switch damage {
		case "truncate":
			jb = jb[:size-1]
		case "flip":
			jb[size-2] ^= 0x40
		}
		if err := os.WriteFile(path+journalSuffix, jb, 0o600); err != nil {
			t.Fatal(err)
		}
		re := openAt(t, path, noCheckpoints)
		if m := must(re.Meta(ctx, w.id))(t); m.Version != w.head()-1 {
			t.Fatalf("%s: head %d, want %d (all but the torn record)", damage, m.Version, w.head()-1)
		}
	}

	// Stale, all of them: a crash right after a checkpoint.
	checkWriter(t, db, w)
	re = openAt(t, crashCopy(t, db), noCheckpoints)
	checkWriter(t, re, w)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestJournalForeign: Open refuses a journal of another database and a file
// that is not a journal, and changes neither.
func TestJournalForeign(t *testing.T) {
	a, b := openTest(t, noCheckpoints), openTest(t, noCheckpoints)
	w := newWriter("f", 5, "")
	must(a.Create(ctx, w.id, ""))(t)
	appendN(t, a, w, 2)
	pathA, pathB := crashCopy(t, a), crashCopy(t, b)
	notJournal := filepath.Join(t.TempDir(), "folio.db")
	if err := os.WriteFile(notJournal, mustRead(t, pathB), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notJournal+journalSuffix, []byte("some other file, long enough for a header"), 0o600); err != nil {
		t.Fatal(err)
	}
	// b's database with a's journal.
	if err := os.WriteFile(pathB+journalSuffix, mustRead(t, pathA+journalSuffix), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{pathB, notJournal} {
		before := mustRead(t, path+journalSuffix)
		db, err := Open(path, noCheckpoints)
		if err == nil {
			db.Close()
			t.Fatalf("%s: opened", path)
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: %v, want ErrCorrupt", path, err)
		}
		if !bytes.Equal(before, mustRead(t, path+journalSuffix)) {
			t.Fatalf("%s: journal changed", path)
		}
	}
}

// TestJournalBlankOpens: a journal that is all zeros (its length durable, its
// header not, after a power loss) held no record: Open starts it anew, and
// the database works on. One zero byte less is still no Folio journal.
func TestJournalBlankOpens(t *testing.T) {
	for _, size := range []int{journalHead, 1 << 20} {
		path := filepath.Join(t.TempDir(), "folio.db")
		db := openAt(t, path, noCheckpoints)
		must(db.Create(ctx, "d", "x"))(t)
		db.Close()
		if err := os.WriteFile(path+journalSuffix, make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		db = openAt(t, path, noCheckpoints)
		w := newWriter("d", 3, "x")
		appendN(t, db, w, 3)
		checkWriter(t, db, w)
	}
	path := filepath.Join(t.TempDir(), "folio.db")
	openAt(t, path, noCheckpoints).Close()
	junk := make([]byte, journalHead)
	junk[journalHead-1] = 1
	if err := os.WriteFile(path+journalSuffix, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(path, noCheckpoints); !errors.Is(err, ErrCorrupt) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("a journal of zeros but one byte: %v, want ErrCorrupt", err)
	}
}

// TestJournalFailedWriteNeverReplayed: records whose write failed (here
// after they reached the file, as when fdatasync fails) are reported
// failed and are never replayed by a crash restart, while the records
// around them are: the failure checkpoints at once (or, when that fails
// too, the next bbolt transaction does), recording their LSNs as applied.
func TestJournalFailedWriteNeverReplayed(t *testing.T) {
	for _, name := range []string{"first in the journal", "after others", "checkpoint fails too"} {
		t.Run(name, func(t *testing.T) {
			db := openTest(t, noCheckpoints)
			w := newWriter("e", 6, "")
			must(db.Create(ctx, w.id, ""))(t)
			if name != "first in the journal" {
				appendN(t, db, w, 4)
			}
			injected := errors.New("injected: fdatasync: input/output error")
			failures := 1
			if name == "checkpoint fails too" {
				failures = 2
			}
			db.commitHook = func() error {
				if failures == 0 {
					return nil
				}
				failures--
				return injected
			}
			recs, _ := w.next(1, 0)
			if err := db.Append(ctx, w.id, recs, w.length(), nil); !errors.Is(err, injected) {
				t.Fatalf("Append: %v", err)
			}
			w.rollback(1)
			if m := must(db.Meta(ctx, w.id))(t); m.Version != w.head() {
				t.Fatalf("Meta shows version %d after the failed Append, want %d", m.Version, w.head())
			}
			wantFailures := int64(0) // The checkpoint right after the failed write.
			if name == "checkpoint fails too" {
				wantFailures = 1
			}
			if got := db.Stats().CheckpointFailures; got != wantFailures {
				t.Fatalf("%d checkpoint failures, want %d", got, wantFailures)
			}
			re := openAt(t, crashCopy(t, db), noCheckpoints) // A crash right after the failure.
			checkWriter(t, re, w)
			if name == "checkpoint fails too" {
				appendN(t, db, w, 1) // A bbolt transaction, which checkpoints.
			}
			re = openAt(t, crashCopy(t, db), noCheckpoints)
			checkWriter(t, re, w)
			appendN(t, db, w, 2) // Through the journal again.
			re = openAt(t, crashCopy(t, db), noCheckpoints)
			checkWriter(t, re, w)
		})
	}
}

// TestJournalRandomCrashes: random Appends over a few documents with
// snapshots, deletes and re-creates between them, and a crash restart every
// few dozen steps, compared with what was acknowledged.
func TestJournalRandomCrashes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	db := openTest(t, noCheckpoints)
	ws := map[string]*writer{}
	for step := range 600 {
		id := fmt.Sprintf("d%d", rng.IntN(5))
		w := ws[id]
		switch r := rng.IntN(100); {
		case w == nil:
			m := must(db.Create(ctx, id, "🎉"))(t)
			w = newWriter(id, rng.Uint64(), "🎉")
			w.base = m.Base
			ws[id] = w
		case r < 3:
			if err := db.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			delete(ws, id)
		case r < 8:
			recs, snap := w.next(1+rng.IntN(3), 1)
			if err := db.Append(ctx, id, recs, w.length(), snap); err != nil {
				t.Fatal(err)
			}
		case r < 10:
			checkWriter(t, db, w)
		default:
			recs, _ := w.next(1+rng.IntN(3), 0)
			if err := db.Append(ctx, id, recs, w.length(), nil); err != nil {
				t.Fatal(err)
			}
		}
		if step%40 == 39 {
			db = openAt(t, crashCopy(t, db), noCheckpoints)
			for _, w := range ws {
				checkWriter(t, db, w)
			}
		}
	}
}

// FuzzJournalRecord: any payload decodes to a record or an error wrapping
// ErrCorrupt, never a panic; a decoded record encodes back to a payload that
// decodes to the same record.
func FuzzJournalRecord(f *testing.F) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, n := range []int{1, 4} {
		recs := randomRecords(rng, n)
		a := appendArgs{id: "doc-1", recs: recs, chunk: encodeChunk(recs), first: recs[0].Version, length: 42}
		rec := appendRecord(nil, &journaled{appendArgs: a, lsn: 7, at: time.Unix(0, 1234).UTC()})
		f.Add(rec[recordHead:])
	}
	f.Add([]byte{1, 3, 'a', 'b', 'c', 0, 0, 0})
	f.Fuzz(func(t *testing.T, payload []byte) {
		j, err := decodeRecord(payload)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not wrapping ErrCorrupt: %v", err)
			}
			return
		}
		rec := appendRecord(nil, &j)
		again, n, ok, err := nextRecord(rec)
		if err != nil || !ok || n != len(rec) {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if again.lsn != j.lsn || again.id != j.id || again.first != j.first || again.last != j.last ||
			again.length != j.length || !again.at.Equal(j.at) || !recordsEqual(again.recs, j.recs) {
			t.Fatalf("re-encoding changed the record: %+v -> %+v", j, again)
		}
	})
}

// TestJournalVoidedGroupStaysDead: a group of two records whose write and
// checkpoint both failed is cut off from a replay by its first record's
// zeroed head, but its second record stays in the file with an LSN that
// was never applied. After a crash the reopened database must not hand
// out those LSNs again: a retried Append of the same size, journaled at
// the start again, would be followed by the failed record, and the next
// replay would bring it back (or fail Open on its version conflict).
func TestJournalVoidedGroupStaysDead(t *testing.T) {
	db := openTest(t, Options{NoSync: true, CheckpointEvery: time.Hour, CommitDelay: -1})
	// Same seed and id length: their records have the same size, so
	// whichever is retried first ends where the failed group's first did.
	ws := []*writer{newWriter("a", 1, ""), newWriter("b", 1, "")}
	recs := make([][]OpRecord, len(ws))
	for i, w := range ws {
		must(db.Create(ctx, w.id, ""))(t)
		recs[i], _ = w.next(1, 0)
	}
	injected := errors.New("injected: fdatasync: input/output error")
	release := make(chan struct{})
	var calls atomic.Int32
	db.commitHook = func() error {
		switch calls.Add(1) {
		case 1: // The Create that the two Appends queue behind.
			<-release
			return nil
		case 2, 3: // The group's journal write, then its checkpoint.
			return injected
		}
		return nil
	}
	var wg sync.WaitGroup
	wg.Go(func() { must(db.Create(ctx, "held", ""))(t) })
	eventually(t, "the Create held", func() bool { return calls.Load() == 1 })
	for i, w := range ws {
		wg.Go(func() {
			if err := db.Append(ctx, w.id, recs[i], w.length(), nil); !errors.Is(err, injected) {
				t.Errorf("%s: Append: %v, want the injected failure", w.id, err)
			}
		})
	}
	eventually(t, "both Appends waiting", func() bool { return waitingWriters() == 2 })
	close(release)
	wg.Wait()
	if calls.Load() != 3 {
		t.Fatalf("%d commit hooks, want the Create, the group and its checkpoint", calls.Load())
	}
	db.commitHook = nil
	for _, w := range ws {
		w.rollback(1)
	}

	re := openAt(t, crashCopy(t, db), noCheckpoints) // A crash right after the failure.
	for _, w := range ws {
		checkWriter(t, re, w)
	}
	w := ws[0] // Its client sends the same op again.
	for _, r := range recs[0] {
		if err := w.doc.Apply(r.Op); err != nil {
			t.Fatal(err)
		}
		w.seq++
		w.texts = append(w.texts, w.doc.String())
	}
	if err := re.Append(ctx, w.id, recs[0], w.length(), nil); err != nil {
		t.Fatal(err)
	}
	re2, err := Open(crashCopy(t, re), noCheckpoints) // And another crash.
	if err != nil {
		t.Fatalf("reopen after the retry: %v", err)
	}
	defer re2.Close()
	for _, w := range ws {
		checkWriter(t, re2, w)
	}
}

// TestJournalFullCheckpoints: the journal cannot grow (a full disk) for an
// Append that would fit in it from its start. When bbolt has room, the
// committer checkpoints and journals the Append at the start, acknowledged
// only once written there, and durable; the file never grows. When bbolt
// is full too, the Append fails and is never replayed, and the one failed
// checkpoint counts once in Stats.CheckpointFailures (the committer once
// tried bbolt again at once and counted two).
func TestJournalFullCheckpoints(t *testing.T) {
	for _, name := range []string{"bbolt has room", "bbolt full too"} {
		t.Run(name, func(t *testing.T) {
			db := openTest(t, noCheckpoints)
			w := newWriter("full", 13, "")
			must(db.Create(ctx, w.id, ""))(t)
			appendN(t, db, w, 3) // The journal grows once: all the room the disk has for it.
			full := db.jr.size
			enospc := fmt.Errorf("injected: write: %w", syscall.ENOSPC)
			journalWrites(t, db, func(b []byte, off int64, write func([]byte, int64) (int, error)) (int, error) {
				if off+int64(len(b)) > full {
					return 0, enospc
				}
				return write(b, off)
			})
			if name == "bbolt full too" {
				boltWrites(t, db, func([]byte, int64, func([]byte, int64) (int, error)) (int, error) { return 0, enospc })
			}
			// One op whose record needs more than the journal has left
			// after the three, but less than it holds from its start.
			op := ot.Op{{Skip: w.doc.Len()}, {Insert: strings.Repeat("z", journalGrow-128)}}
			if err := w.doc.Apply(op); err != nil {
				t.Fatal(err)
			}
			w.seq++
			w.texts = append(w.texts, w.doc.String())
			recs := []OpRecord{{Version: w.head(), Op: op, Session: "s-" + w.id, Seq: w.seq, Author: "Ada",
				Time: time.Unix(1700000000, 0).UTC()}}
			a := appendArgs{id: w.id, recs: recs, chunk: encodeChunk(recs), first: w.head(), length: w.length()}
			size := int64(len(appendRecord(nil, &journaled{appendArgs: a, lsn: 4, at: time.Now()})))
			if db.jr.off+size <= full || int64(journalHead)+size > full {
				t.Fatalf("a record of %d bytes: at %d it must not fit a journal of %d bytes, at its start it must", size, db.jr.off, full)
			}
			err := db.Append(ctx, w.id, recs, w.length(), nil)
			switch name {
			case "bbolt has room":
				if err != nil {
					t.Fatalf("Append: %v, want it journaled after a checkpoint", err)
				}
				if st := db.Stats(); st.Checkpoints != 1 || st.CheckpointFailures != 0 {
					t.Fatalf("%d checkpoints, %d failed; want the one that made room", st.Checkpoints, st.CheckpointFailures)
				}
			case "bbolt full too":
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("Append: %v, want ENOSPC", err)
				}
				// One checkpoint tried, to make room; bbolt being full, it
				// failed, and the committer does not try again at once.
				if st := db.Stats(); st.Checkpoints != 0 || st.CheckpointFailures != 1 {
					t.Fatalf("%d checkpoints, %d failed; want the one that failed to make room", st.Checkpoints, st.CheckpointFailures)
				}
				w.rollback(1)
			}
			if size := int64(len(mustRead(t, db.Path()+journalSuffix))); size != full {
				t.Fatalf("journal of %d bytes, want %d", size, full)
			}
			checkWriter(t, openAt(t, crashCopy(t, db), noCheckpoints), w) // A crash now.
		})
	}
}
