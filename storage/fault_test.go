package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// boltWrites replaces the function bbolt writes its pages with (its
// unexported DB.ops.writeAt) by fn, which gets the original as write, until
// the test ends. bbolt has no other seam for a failing write; the test
// fails at once if a bbolt upgrade renames the field. Set it while the
// committer is idle: the next request's hand-over orders it before the
// committer's use.
func boltWrites(t *testing.T, db *DB, fn func(b []byte, off int64, write func([]byte, int64) (int, error)) (int, error)) {
	t.Helper()
	f := reflect.ValueOf(db.bolt).Elem().FieldByName("ops").FieldByName("writeAt")
	if !f.IsValid() || f.Type() != reflect.TypeFor[func([]byte, int64) (int, error)]() {
		t.Fatal("bbolt's DB.ops.writeAt is gone: the fault injection needs another seam")
	}
	p := (*func([]byte, int64) (int, error))(unsafe.Pointer(f.UnsafeAddr()))
	orig := *p
	*p = func(b []byte, off int64) (int, error) { return fn(b, off, orig) }
	t.Cleanup(func() { *p = orig })
}

// journalWrites replaces the journal's writes (records, the zeros it
// grows by, a voided record head) by fn, which gets the original as
// write, until the test ends. Set it while the committer is idle.
func journalWrites(t *testing.T, db *DB, fn func(b []byte, off int64, write func([]byte, int64) (int, error)) (int, error)) {
	t.Helper()
	orig := db.jr.writeAt
	db.jr.writeAt = func(b []byte, off int64) (int, error) { return fn(b, off, orig) }
	t.Cleanup(func() { db.jr.writeAt = orig })
}

// failMetaSync makes bbolt's next n writes of a meta page reach the file
// and then fail, as when the fdatasync after the write fails (EIO): bbolt
// rolls the transaction back, but its meta page is in the page cache,
// where bbolt reads its state from.
func failMetaSync(t *testing.T, db *DB, n int, injected error) {
	t.Helper()
	meta := int64(2 * db.bolt.Info().PageSize) // Pages 0 and 1.
	boltWrites(t, db, func(b []byte, off int64, write func([]byte, int64) (int, error)) (int, error) {
		nw, err := write(b, off)
		if err == nil && off < meta && n > 0 {
			n--
			return nw, injected
		}
		return nw, err
	})
}

// TestLandedCommitFailsTheStore: a checkpoint whose bbolt commit failed
// after its meta page reached the file (its fdatasync failed) is what bbolt
// then reads, although Commit reported failure. Folio cannot know whether
// it is durable, so the store fails every call from then on (ErrFailed)
// instead of acknowledging more ops that reads would miss (the overlay no
// longer applies to bbolt's state) and that no checkpoint could take (each
// would apply the records again and conflict). Every op acknowledged
// before is there after a crash and after a reopen.
func TestLandedCommitFailsTheStore(t *testing.T) {
	db := openTest(t, Options{NoSync: true, CheckpointEvery: time.Hour})
	w := newWriter("g", 11, "ghost")
	must(db.Create(ctx, w.id, w.texts[0]))(t)
	appendN(t, db, w, 5) // In the journal alone.
	injected := errors.New("injected: fdatasync: input/output error")
	failMetaSync(t, db, 1, injected)
	if _, _, err := db.SessionSeq(ctx, w.id, "s-g"); !errors.Is(err, injected) || !errors.Is(err, ErrFailed) {
		t.Fatalf("SessionSeq, whose checkpoint failed: %v, want the injected error and ErrFailed", err)
	}
	recs, _ := w.next(1, 0)
	if err := db.Append(ctx, w.id, recs, w.length(), nil); err == nil {
		if m, err := db.Meta(ctx, w.id); err == nil && m.Version != w.head() {
			t.Fatalf("Append acknowledged after the failed checkpoint, but Meta says version %d, not %d", m.Version, w.head())
		}
		t.Fatal("Append acknowledged after a checkpoint whose outcome is unknown")
	} else if !errors.Is(err, ErrFailed) {
		t.Fatalf("Append: %v, want ErrFailed", err)
	}
	w.rollback(1)
	if _, err := db.Meta(ctx, w.id); !errors.Is(err, ErrFailed) {
		t.Fatalf("Meta: %v, want ErrFailed", err)
	}
	if _, err := db.Create(ctx, "other", ""); !errors.Is(err, ErrFailed) {
		t.Fatalf("Create: %v, want ErrFailed", err)
	}
	crashed := crashCopy(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{crashed, db.Path()} {
		re := openAt(t, path, noCheckpoints)
		checkWriter(t, re, w)
		appendN(t, re, w, 2)
		checkWriter(t, re, w)
		w.rollback(2)
	}
}

// TestLandedCommitSurvivesRestartAndPowerLoss: after a checkpoint that
// landed although its meta page's fdatasync failed, the page may be in the
// page cache alone (marked clean: no later fdatasync writes it). A restart
// of the process sees it, skips the journal's records as applied and
// empties the journal; a power loss then brings back the meta page before
// it, without those records. Open must make what bbolt shows durable (a
// commit of its own, whose meta page goes to the other slot) before it
// drops the journal's copy. The power loss is modelled by putting back
// the page the failed write replaced, unless a later write replaced it.
func TestLandedCommitSurvivesRestartAndPowerLoss(t *testing.T) {
	path := filepath.Join(t.TempDir(), "folio.db")
	db := openAt(t, path, noCheckpoints)
	w := newWriter("p", 12, "")
	must(db.Create(ctx, w.id, ""))(t)
	appendN(t, db, w, 5)
	var off int64
	var before, landed []byte
	meta := int64(2 * db.bolt.Info().PageSize)
	boltWrites(t, db, func(b []byte, o int64, write func([]byte, int64) (int, error)) (int, error) {
		if o >= meta || landed != nil {
			return write(b, o)
		}
		off, before = o, mustRead(t, path)[o:o+int64(len(b))]
		n, err := write(b, o)
		landed = bytes.Clone(b)
		if err == nil {
			err = errors.New("injected: fdatasync: input/output error")
		}
		return n, err
	})
	if _, _, err := db.SessionSeq(ctx, w.id, "s-p"); err == nil {
		t.Fatal("SessionSeq succeeded, its checkpoint failing")
	}
	db.Close()

	re := openAt(t, path, noCheckpoints) // The process restarts; the page cache stays.
	checkWriter(t, re, w)
	if err := re.Close(); err != nil {
		t.Fatal(err)
	}

	file := mustRead(t, path) // The power goes.
	if page := file[off : off+int64(len(landed))]; bytes.Equal(page, landed) {
		copy(page, before)
	}
	dir := t.TempDir()
	for name, b := range map[string][]byte{"folio.db": file, "folio.db" + journalSuffix: mustRead(t, path+journalSuffix)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	checkWriter(t, openAt(t, filepath.Join(dir, "folio.db"), noCheckpoints), w)
}

// Page layout of bbolt (internal/common/page.go), for damaging files.
const (
	pageHeader      = 16 // id uint64, flags uint16, count uint16, overflow uint32
	branchPageFlag  = 0x01
	leafPageFlag    = 0x02
	leafElementSize = 16 // flags, pos, ksize, vsize: uint32 each
)

// damagedCopy writes a copy of db's file (closed) with damage done to the
// first page of the given flag whose element count is at least minCount,
// and returns its path.
func damagedCopy(t *testing.T, path string, flag uint16, minCount int, damage func(page []byte)) string {
	t.Helper()
	b := mustRead(t, path)
	const ps = 4096
	for off := 2 * ps; off+ps <= len(b); off += ps {
		p := b[off : off+ps]
		if binary.LittleEndian.Uint16(p[8:]) == flag && int(binary.LittleEndian.Uint16(p[10:])) >= minCount {
			damage(p)
			out := filepath.Join(t.TempDir(), "folio.db")
			if err := os.WriteFile(out, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	t.Fatalf("no page with flags %#x and %d elements", flag, minCount)
	return ""
}

// TestCheckReportsDamagedPage: a leaf page whose element claims a value
// far past the page makes bbolt slice out of range (a runtime error, not
// one of its assertions). Check reports it as ErrCorrupt, naming the
// damage, not as a bug with the Go stack of bbolt's code in the error
// (which `folio check` once printed).
func TestCheckReportsDamagedPage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "folio.db")
	db := openAt(t, path, Options{NoSync: true})
	for i := range 40 {
		must(db.Create(ctx, fmt.Sprintf("doc-%02d", i), "text"))(t)
	}
	db.Close()
	bad := damagedCopy(t, path, leafPageFlag, 40, func(p []byte) {
		binary.LittleEndian.PutUint32(p[pageHeader+leafElementSize*20+12:], 1<<31-1) // vsize
	})
	db, err := Open(bad, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Check(ctx)
	if !errors.Is(err, ErrCorrupt) || strings.Contains(err.Error(), "goroutine ") || strings.Contains(err.Error(), ".go:") {
		t.Fatalf("Check: %v; want ErrCorrupt without a stack", err)
	}
	t.Log(err)
	db.Close()
	err = CheckFile(ctx, bad, Options{})
	if !errors.Is(err, ErrCorrupt) || strings.Contains(err.Error(), "goroutine ") || strings.Contains(err.Error(), ".go:") {
		t.Fatalf("CheckFile: %v; want ErrCorrupt without a stack", err)
	}
}
