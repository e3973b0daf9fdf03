package storage

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foliodocs/folio/ot"
)

// TestOpenReadOnly: OpenReadOnly reads a crash copy whose journal holds
// Appends bbolt does not, through the overlay, changing neither file (nor
// creating a missing journal) on a read-only copy, where Open would apply
// the journal and empty it; every write fails with ErrReadOnly, and so do
// the reads that would need a checkpoint. Backup writes a copy with the
// journal's records applied.
func TestOpenReadOnly(t *testing.T) {
	db := openTest(t, noCheckpoints)
	journaled, stored := newWriter("ro", 14, "🎉"), newWriter("flat", 3, "x")
	must(db.Create(ctx, journaled.id, journaled.texts[0]))(t)
	must(db.Create(ctx, stored.id, stored.texts[0]))(t)
	appendN(t, db, stored, 3)
	if _, err := db.Backup(ctx, io.Discard); err != nil { // A checkpoint: stored's ops are in bbolt.
		t.Fatal(err)
	}
	appendN(t, db, journaled, 2*flushAfter) // Past flushAfter: a replay would flush.
	if _, err := OpenReadOnly(db.Path(), Options{LockTimeout: 50 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("OpenReadOnly of an open database: %v, want ErrLocked", err)
	}
	path := crashCopy(t, db)
	noJournal := crashCopy(t, db)
	if err := os.Remove(noJournal + journalSuffix); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, noJournal} {
		dir := filepath.Dir(p)
		readOnly(t, dir)
		before := stateOf(t, dir)
		ro, err := OpenReadOnly(p, Options{})
		if err != nil {
			t.Fatalf("OpenReadOnly: %v", err)
		}
		want := journaled.head()
		if p == noJournal {
			want = 0
		}
		m := must(ro.Meta(ctx, journaled.id))(t)
		if m.Version != want {
			t.Fatalf("meta %+v, want version %d", m, want)
		}
		if got := must(ro.TextAt(ctx, journaled.id, want))(t); got != journaled.text(want) {
			t.Fatalf("text at %d differs", want)
		}
		if ops := must(ro.Ops(ctx, journaled.id, 0, want))(t); uint64(len(ops)) != want || want > 0 && ops[want-1].Version != want {
			t.Fatalf("%d ops, want %d", len(ops), want)
		}
		if metas, _ := must2(ro.List(ctx, "", 0))(t); len(metas) != 2 || metas[1].Version != want {
			t.Fatalf("list %+v", metas)
		}
		if l := must(ro.Load(ctx, stored.id))(t); l.Meta.Version != stored.head() {
			t.Fatalf("load of a document bbolt holds whole: %+v", l.Meta)
		}
		if p == path {
			if _, err := ro.Load(ctx, journaled.id); !errors.Is(err, ErrReadOnly) {
				t.Fatalf("load of journaled ops: %v, want ErrReadOnly", err)
			}
		}
		_, createErr := ro.Create(ctx, "new", "")
		recs, _ := stored.next(1, 0)
		for name, err := range map[string]error{
			"create":       createErr,
			"append":       ro.Append(ctx, stored.id, recs, stored.length(), nil),
			"put snapshot": ro.PutSnapshot(ctx, stored.id, Snapshot{Version: 1, Text: stored.text(1)}),
			"delete":       ro.Delete(ctx, stored.id),
		} {
			if !errors.Is(err, ErrReadOnly) {
				t.Errorf("%s: %v, want ErrReadOnly", name, err)
			}
		}
		stored.rollback(1)
		var backup bytes.Buffer
		if _, err := ro.Backup(ctx, &backup); err != nil {
			t.Fatalf("backup: %v", err)
		}
		copied := filepath.Join(t.TempDir(), "folio.db")
		if err := os.WriteFile(copied, backup.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		c := openAt(t, copied, Options{})
		if m := must(c.Meta(ctx, journaled.id))(t); m.Version != want {
			t.Fatalf("backup: meta %+v, want version %d", m, want)
		}
		if err := c.Check(ctx); err != nil {
			t.Fatalf("backup: %v", err)
		}
		if err := ro.Close(); err != nil {
			t.Fatal(err)
		}
		if d := before.diff(stateOf(t, dir)); d != "" {
			t.Fatalf("OpenReadOnly wrote: %s", d)
		}
	}
}

// TestOpenReadOnlyRefusesWhatOpenRefuses: a journal of another database
// fails OpenReadOnly with ErrCorrupt, as it fails Open.
func TestOpenReadOnlyRefusesWhatOpenRefuses(t *testing.T) {
	db := openTest(t, noCheckpoints)
	w := newWriter("x", 1, "")
	must(db.Create(ctx, w.id, w.texts[0]))(t)
	appendN(t, db, w, 3)
	path := crashCopy(t, db)
	b := mustRead(t, path+journalSuffix)
	b[len(journalMagic)] ^= 1 // Its database id.
	if err := os.WriteFile(path+journalSuffix, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(path, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("OpenReadOnly: %v, want ErrCorrupt", err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
}

// TestRecordPastItsHead: a journal record that does not continue its
// document's head (bbolt's, or the record's before it) fails OpenReadOnly
// as it fails Open, with ErrCorrupt, and OpenReadOnly names the record and
// the head in the words CheckFile uses for the same file. Neither writes.
func TestRecordPastItsHead(t *testing.T) {
	db := openTest(t, noCheckpoints)
	must(db.Create(ctx, "j", "ab"))(t)
	base := crashCopy(t, db) // bbolt at applied LSN 0, j at version 0.
	header := mustRead(t, base+journalSuffix)[:journalHead]
	next := journalRecord(1, "j", 1, ot.Op{{Skip: 2}, {Insert: "x"}}, 3)
	for _, c := range []struct {
		name    string
		journal []byte
		want    string
	}{
		{"past bbolt's head", concat(header, journalRecord(1, "j", 2, ot.Op{{Skip: 2}, {Insert: "x"}}, 3)), "record 1 (j@2..2): head is 0"},
		{"past the record before", concat(header, next, journalRecord(2, "j", 3, ot.Op{{Skip: 3}, {Insert: "x"}}, 4)), "record 2 (j@3..3): head is 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			copies := journaledCopies(t, base, c.journal)
			dir := filepath.Dir(copies[0])
			before := stateOf(t, dir)
			ro, err := OpenReadOnly(copies[0], Options{})
			if err == nil {
				ro.Close()
			}
			checkErr := CheckFile(ctx, copies[0], Options{})
			if d := before.diff(stateOf(t, dir)); d != "" {
				t.Fatalf("OpenReadOnly or CheckFile wrote: %s", d)
			}
			if _, oerr := Open(copies[1], noCheckpoints); !errors.Is(oerr, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", oerr)
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("OpenReadOnly: %v; want ErrCorrupt mentioning %q", err, c.want)
			}
			if !errors.Is(checkErr, ErrCorrupt) {
				t.Fatalf("CheckFile: %v; want ErrCorrupt", checkErr)
			}
			// From the journal's name on, both say the same: which record,
			// why, and that the database is corrupt.
			jpath := JournalPath(copies[0])
			_, roSays, _ := strings.Cut(err.Error(), jpath)
			_, checkSays, _ := strings.Cut(checkErr.Error(), jpath)
			if roSays != checkSays {
				t.Fatalf("OpenReadOnly says %q of the record, CheckFile %q", roSays, checkSays)
			}
		})
	}
}
