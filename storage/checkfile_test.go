package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foliodocs/folio/ot"
)

// fileState is what CheckFile must leave as it found it: the names in a
// directory, and each file's bytes and modification time.
type fileState map[string]struct {
	data []byte
	mod  time.Time
}

func stateOf(t *testing.T, dir string) fileState {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := fileState{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		st[e.Name()] = struct {
			data []byte
			mod  time.Time
		}{mustRead(t, filepath.Join(dir, e.Name())), info.ModTime()}
	}
	return st
}

func (st fileState) diff(other fileState) string {
	for name, f := range st {
		g, ok := other[name]
		switch {
		case !ok:
			return name + " is gone"
		case !bytes.Equal(f.data, g.data):
			return name + " changed"
		case !f.mod.Equal(g.mod):
			return name + " has another modification time"
		}
	}
	for name := range other {
		if _, ok := st[name]; !ok {
			return name + " is new"
		}
	}
	return ""
}

// readOnly makes dir and its files read-only until the test ends. A
// process running as root writes them all the same: the states compared
// are what shows that nothing wrote.
func readOnly(t *testing.T, dir string) {
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
	t.Cleanup(func() {
		os.Chmod(dir, 0o700)
		for _, e := range entries {
			os.Chmod(filepath.Join(dir, e.Name()), 0o600)
		}
	})
}

// TestCheckFileWritesNothing: CheckFile checks a database whose journal
// holds Appends bbolt does not, read-only and changing nothing (not even
// creating a missing journal, nor initializing an empty file), where Open
// would apply the journal and empty it; a database held by another DB is
// ErrLocked.
func TestCheckFileWritesNothing(t *testing.T) {
	db := openTest(t, noCheckpoints)
	w := newWriter("ro", 14, "🎉")
	must(db.Create(ctx, w.id, w.texts[0]))(t)
	appendN(t, db, w, 2*flushAfter) // Past flushAfter: a replay would flush.
	if err := CheckFile(ctx, db.Path(), Options{LockTimeout: 50 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("CheckFile of an open database: %v, want ErrLocked", err)
	}
	path := crashCopy(t, db)
	noJournal := crashCopy(t, db)
	if err := os.Remove(noJournal + journalSuffix); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "folio.db") // Open would make it a new database.
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, noJournal, empty} {
		dir := filepath.Dir(p)
		readOnly(t, dir)
		before := stateOf(t, dir)
		if err := CheckFile(ctx, p, Options{}); err != nil {
			t.Fatalf("CheckFile: %v", err)
		}
		if d := before.diff(stateOf(t, dir)); d != "" {
			t.Fatalf("CheckFile wrote: %s", d)
		}
	}
	// Open still applies the journal, and empties it.
	if err := os.Chmod(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", journalSuffix} {
		if err := os.Chmod(path+suffix, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	re := openAt(t, path, noCheckpoints)
	checkWriter(t, re, w)
	if n := len(mustRead(t, path+journalSuffix)); n != journalHead {
		t.Fatalf("journal of %d bytes after Open, want its header alone", n)
	}
}

// TestCheckFileReportsDamage: a damaged journal is reported by CheckFile
// as by Open and a Check after it (ErrCorrupt either way), and CheckFile
// changes neither file.
func TestCheckFileReportsDamage(t *testing.T) {
	db := openTest(t, noCheckpoints)
	must(db.Create(ctx, "j", "ab"))(t)
	w := newWriter("k", 15, "")
	must(db.Create(ctx, w.id, ""))(t)
	appendN(t, db, w, 3)
	base := crashCopy(t, db) // bbolt at applied LSN 0; records 1..3 of k in the journal.
	jb := mustRead(t, base+journalSuffix)
	header := jb[:journalHead]
	_, first, ok, err := nextRecord(jb[journalHead:])
	if !ok || err != nil {
		t.Fatalf("first record: %v", err)
	}
	record := func(first uint64, op ot.Op, length int) []byte { return journalRecord(1, "j", first, op, length) }
	malformed := record(1, ot.Op{{Insert: "x"}}, 3)
	malformed[recordHead+2] = '!' // The id (after the LSN and its length), invalid under a checksum that holds.
	binary.LittleEndian.PutUint32(malformed[4:], crc32.Checksum(malformed[recordHead:], castagnoli))

	for _, c := range []struct {
		name    string
		journal []byte
		want    string // In CheckFile's error; "" for none.
	}{
		{"a good record", concat(header, record(1, ot.Op{{Skip: 2}, {Insert: "🎉"}}, 3)), ""},
		{"not a journal", bytes.Repeat([]byte("junk"), 20), "is not a Folio journal"},
		{"another database's", concat([]byte(journalMagic), make([]byte, 16)), "belongs to another database"},
		{"records past the applied one", concat(header, jb[journalHead+first:]), "starts at record 2"},
		{"malformed record", concat(header, malformed), "journal record"},
		{"record past the head", concat(header, record(2, ot.Op{{Insert: "x"}}, 3)), "head is 0"},
		{"op that does not replay", concat(header, record(1, ot.Op{{Delete: 5}}, 0)), "replay op 1"},
		{"wrong length", concat(header, record(1, ot.Op{{Insert: "x"}}, 7)), "its last record says 7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			copies := journaledCopies(t, base, c.journal)
			dir := filepath.Dir(copies[0])
			before := stateOf(t, dir)
			err := CheckFile(ctx, copies[0], Options{})
			if d := before.diff(stateOf(t, dir)); d != "" {
				t.Fatalf("CheckFile wrote: %s", d)
			}
			opened, oerr := Open(copies[1], noCheckpoints)
			if oerr == nil {
				oerr = opened.Check(ctx)
				opened.Close()
			}
			if c.want == "" {
				if err != nil || oerr != nil {
					t.Fatalf("CheckFile: %v; Open and Check: %v; want neither to fail", err, oerr)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("CheckFile: %v; want ErrCorrupt mentioning %q", err, c.want)
			}
			if !errors.Is(oerr, ErrCorrupt) {
				t.Fatalf("Open and Check: %v; want ErrCorrupt, as CheckFile", oerr)
			}
			t.Log(err)
		})
	}
}

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// journaledCopies makes two copies of the database file base, each in a
// directory of its own, with journal as their journal.
func journaledCopies(t *testing.T, base string, journal []byte) [2]string {
	t.Helper()
	var copies [2]string
	for i := range copies {
		copies[i] = filepath.Join(t.TempDir(), "folio.db")
		if err := os.WriteFile(copies[i], mustRead(t, base), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(copies[i]+journalSuffix, journal, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return copies
}

// journalRecord is a journal record, LSN lsn, of one op of document id
// that makes its version first and its length length.
func journalRecord(lsn uint64, id string, first uint64, op ot.Op, length int) []byte {
	recs := []OpRecord{{Version: first, Op: op, Session: "s", Seq: 1, Author: "Ada", Time: time.Unix(1700000000, 0).UTC()}}
	a := appendArgs{id: id, recs: recs, chunk: encodeChunk(recs), first: first, last: first, length: length}
	return appendRecord(nil, &journaled{appendArgs: a, lsn: lsn, at: time.Unix(1700000001, 0).UTC()})
}
