package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/foliodocs/folio/ot"
	bolt "go.etcd.io/bbolt"
)

var ctx = context.Background()

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"a": true, "Doc_1-x": true, string(make([]byte, 64)): false, "": false,
		"a/b": false, "a b": false, "é": false, "..": false, "a\x00": false,
		"0123456789012345678901234567890123456789012345678901234567890123":  true,
		"01234567890123456789012345678901234567890123456789012345678901234": false,
	} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestInvalidIDEverywhere(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	const bad = "no/slash"
	errs := map[string]error{}
	_, errs["create"] = db.Create(ctx, bad, "")
	_, errs["load"] = db.Load(ctx, bad)
	_, errs["meta"] = db.Meta(ctx, bad)
	errs["append"] = db.Append(ctx, bad, []OpRecord{{Version: 1}}, 0, nil)
	errs["putsnapshot"] = db.PutSnapshot(ctx, bad, Snapshot{})
	_, errs["ops"] = db.Ops(ctx, bad, 0, 0)
	_, errs["textat"] = db.TextAt(ctx, bad, 0)
	_, _, errs["list"] = db.List(ctx, bad, 1)
	errs["delete"] = db.Delete(ctx, bad)
	_, _, errs["sessionseq"] = db.SessionSeq(ctx, bad, "s")
	for name, err := range errs {
		if !errors.Is(err, ErrInvalidID) {
			t.Errorf("%s: got %v, want ErrInvalidID", name, err)
		}
	}
}

func TestNotFoundEverywhere(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	const id = "missing"
	errs := map[string]error{}
	_, errs["load"] = db.Load(ctx, id)
	_, errs["meta"] = db.Meta(ctx, id)
	errs["append"] = db.Append(ctx, id, []OpRecord{{Version: 1, Op: ot.Op{{Insert: "x"}}}}, 1, nil)
	errs["putsnapshot"] = db.PutSnapshot(ctx, id, Snapshot{})
	_, errs["ops"] = db.Ops(ctx, id, 0, 0)
	_, errs["textat"] = db.TextAt(ctx, id, 0)
	errs["delete"] = db.Delete(ctx, id)
	_, _, errs["sessionseq"] = db.SessionSeq(ctx, id, "s")
	for name, err := range errs {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: got %v, want ErrNotFound", name, err)
		}
	}
}

func TestCreateLoad(t *testing.T) {
	db := openTest(t, Options{NoSync: true, Now: fakeClock()})
	text := "héllo 🎉\r\ne\u0301 👨‍👩‍👧‍👦"
	m := must(db.Create(ctx, "doc", text))(t)
	if m.ID != "doc" || m.Version != 0 || m.Length != utf8.RuneCountInString(text) || m.CreatedAt.IsZero() || !m.CreatedAt.Equal(m.UpdatedAt) {
		t.Fatalf("Create meta = %+v", m)
	}
	l := must(db.Load(ctx, "doc"))(t)
	if l.Meta != m || l.Snapshot != (Snapshot{0, text}) || len(l.Ops) != 0 {
		t.Fatalf("Load = %+v, want meta %+v", l, m)
	}
	if _, err := db.Create(ctx, "doc", "other"); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	if _, err := db.Create(ctx, "bad", "\xff"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Create invalid UTF-8: %v, want ErrInvalidArgument", err)
	}
	empty := must(db.Create(ctx, "empty", ""))(t)
	if got := must(db.TextAt(ctx, "empty", 0))(t); got != "" || empty.Length != 0 {
		t.Fatalf("empty doc text %q meta %+v", got, empty)
	}
}

// TestAppendAndRead appends random batches with snapshots and checks every
// read method against the writer's own texts.
func TestAppendAndRead(t *testing.T) {
	db := openTest(t, Options{NoSync: true, Now: fakeClock()})
	w := newWriter("doc", 1, "start 🎉")
	must(db.Create(ctx, w.id, w.texts[0]))(t)
	var all []OpRecord
	for i := range 40 {
		recs, snap := w.next(1+i%7, 16)
		if err := db.Append(ctx, w.id, recs, w.length(), snap); err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
	head := w.head()
	m := must(db.Meta(ctx, w.id))(t)
	if m.Version != head || m.Length != w.length() || !m.UpdatedAt.After(m.CreatedAt) {
		t.Fatalf("Meta = %+v, want version %d length %d", m, head, w.length())
	}
	l := must(db.Load(ctx, w.id))(t)
	if l.Snapshot.Version != head/16*16 || l.Snapshot.Text != w.text(l.Snapshot.Version) {
		t.Fatalf("Load snapshot at %d, want %d with matching text", l.Snapshot.Version, head/16*16)
	}
	if !recordsEqual(l.Ops, all[l.Snapshot.Version:]) {
		t.Fatalf("Load ops differ")
	}
	for v := uint64(0); v <= head; v++ {
		if got := must(db.TextAt(ctx, w.id, v))(t); got != w.text(v) {
			t.Fatalf("TextAt(%d) = %q, want %q", v, got, w.text(v))
		}
	}
	for _, r := range [][2]uint64{{0, head}, {5, 9}, {16, 17}, {head - 1, head}, {7, 7}, {9, 3}} {
		got := must(db.Ops(ctx, w.id, r[0], r[1]))(t)
		want := all[min(r[0], r[1]):r[1]]
		if !recordsEqual(got, want) {
			t.Errorf("Ops(%d, %d): got %d records, want %d", r[0], r[1], len(got), len(want))
		}
	}
	if _, err := db.Ops(ctx, w.id, 0, head+1); !errors.Is(err, ErrVersionAhead) {
		t.Errorf("Ops past head: %v, want ErrVersionAhead", err)
	}
	if _, err := db.TextAt(ctx, w.id, head+1); !errors.Is(err, ErrVersionAhead) {
		t.Errorf("TextAt past head: %v, want ErrVersionAhead", err)
	}
	seq, v := must2(db.SessionSeq(ctx, w.id, "s-doc"))(t)
	if seq != w.seq || v != head {
		t.Errorf("SessionSeq = %d, %d; want %d, %d", seq, v, w.seq, head)
	}
}

func recordsEqual(a, b []OpRecord) bool {
	return slices.EqualFunc(a, b, func(x, y OpRecord) bool {
		return x.Version == y.Version && slices.Equal(x.Op, y.Op) && x.Session == y.Session &&
			x.Seq == y.Seq && x.Author == y.Author && x.Time.Equal(y.Time)
	})
}

func TestAppendRejected(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	w := newWriter("doc", 2, "abc")
	must(db.Create(ctx, w.id, w.texts[0]))(t)
	recs, _ := w.next(3, 0)
	before := must(db.Meta(ctx, w.id))(t)
	shifted := slices.Clone(recs)
	for i := range shifted {
		shifted[i].Version++
	}
	gap := slices.Clone(recs)
	gap[2].Version = 9
	cases := []struct {
		name   string
		recs   []OpRecord
		length int
		snap   *Snapshot
		want   error
	}{
		{"ahead", shifted, w.length(), nil, ErrVersionConflict},
		{"gap", gap, w.length(), nil, ErrVersionConflict},
		{"empty", nil, 0, nil, ErrInvalidArgument},
		{"negative length", recs, -1, nil, ErrInvalidArgument},
		{"snapshot outside", recs, w.length(), &Snapshot{Version: 9}, ErrInvalidArgument},
		{"snapshot length", recs, w.length(), &Snapshot{Version: 3, Text: strings.Repeat("x", w.length()+1)}, ErrInvalidArgument},
		{"bad component", []OpRecord{{Version: 1, Op: ot.Op{{Skip: 1, Insert: "x"}}}}, 1, nil, ErrInvalidArgument},
		{"version 0", []OpRecord{{Version: 0, Op: ot.Op{{Insert: "x"}}}}, 1, nil, ErrVersionConflict},
	}
	for _, c := range cases {
		if err := db.Append(ctx, w.id, c.recs, c.length, c.snap); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if m := must(db.Meta(ctx, w.id))(t); m != before {
		t.Fatalf("rejected appends moved meta: %+v -> %+v", before, m)
	}
	if err := db.Append(ctx, w.id, recs, w.length(), &Snapshot{Version: 3, Text: w.text(3)}); err != nil {
		t.Fatal(err)
	}
	// The same records again are a conflict: head moved.
	if err := db.Append(ctx, w.id, recs, w.length(), nil); !errors.Is(err, ErrVersionConflict) {
		t.Fatalf("replayed append: %v, want ErrVersionConflict", err)
	}
}

func TestSessions(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	must(db.Create(ctx, "doc", ""))(t)
	recs := []OpRecord{
		{Version: 1, Op: ot.Op{{Insert: "a"}}, Session: "A", Seq: 7},
		{Version: 2, Op: ot.Op{{Insert: "b"}}, Session: "B", Seq: 1},
		{Version: 3, Op: ot.Op{{Insert: "c"}}, Session: "A", Seq: 8},
		{Version: 4, Op: ot.Op{{Insert: "d"}}}, // No session: e.g. a REST edit.
	}
	if err := db.Append(ctx, "doc", recs, 4, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		session      string
		seq, version uint64
	}{{"A", 8, 3}, {"B", 1, 2}, {"unknown", 0, 0}, {"", 0, 0}} {
		seq, v := must2(db.SessionSeq(ctx, "doc", c.session))(t)
		if seq != c.seq || v != c.version {
			t.Errorf("SessionSeq(%q) = %d, %d; want %d, %d", c.session, seq, v, c.seq, c.version)
		}
	}
	if got := must(db.TextAt(ctx, "doc", 4))(t); got != "dcba" {
		t.Fatalf("text %q", got)
	}
}

func TestPutSnapshot(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	w := newWriter("doc", 3, "")
	must(db.Create(ctx, w.id, ""))(t)
	recs, _ := w.next(10, 0)
	if err := db.Append(ctx, w.id, recs, w.length(), nil); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSnapshot(ctx, w.id, Snapshot{Version: 11, Text: "x"}); !errors.Is(err, ErrVersionAhead) {
		t.Fatalf("snapshot ahead: %v, want ErrVersionAhead", err)
	}
	if err := db.PutSnapshot(ctx, w.id, Snapshot{Version: 10, Text: w.text(10)}); err != nil {
		t.Fatal(err)
	}
	l := must(db.Load(ctx, w.id))(t)
	if l.Snapshot.Version != 10 || l.Snapshot.Text != w.text(10) || len(l.Ops) != 0 {
		t.Fatalf("Load after PutSnapshot: snapshot %d, %d ops", l.Snapshot.Version, len(l.Ops))
	}
}

func TestListPages(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	var ids []string
	for i := range 25 {
		id := fmt.Sprintf("doc-%02d", i)
		ids = append(ids, id)
		must(db.Create(ctx, id, id))(t)
	}
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		metas, next, err := db.List(ctx, after, 10)
		if err != nil || pages > 3 {
			t.Fatal(err, pages)
		}
		for _, m := range metas {
			got = append(got, m.ID)
			if m.Length != len(m.ID) {
				t.Errorf("%s length %d", m.ID, m.Length)
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("listed %v, want %v", got, ids)
	}
	metas, next := must2(db.List(ctx, "doc-23", 0))(t)
	if len(metas) != 1 || metas[0].ID != "doc-24" || next != "" {
		t.Fatalf("List after doc-23: %v %q", metas, next)
	}
	metas, next = must2(db.List(ctx, "doc-24", 5))(t)
	if len(metas) != 0 || next != "" {
		t.Fatalf("List at end: %v %q", metas, next)
	}
}

// TestPutSnapshotBeforeBase: a snapshot of a deleted document's version,
// e.g. from a room that unloads after the id was deleted and created again,
// is refused with ErrVersionGone: stored below the new document's Base it
// would be its first snapshot, which Check requires at Base.
func TestPutSnapshotBeforeBase(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	old := newWriter("doc", 3, "")
	must(db.Create(ctx, old.id, ""))(t)
	recs, _ := old.next(5, 0)
	if err := db.Append(ctx, old.id, recs, old.length(), nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(ctx, old.id); err != nil {
		t.Fatal(err)
	}
	must(db.Create(ctx, old.id, "new"))(t) // At Base 6.
	for _, v := range []uint64{0, 3, 5} {
		err := db.PutSnapshot(ctx, old.id, Snapshot{Version: v, Text: old.text(v)})
		if !errors.Is(err, ErrVersionGone) {
			t.Fatalf("snapshot at %d before the Base: %v, want ErrVersionGone", v, err)
		}
	}
	if err := db.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestDelete(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	w := newWriter("doc", 4, "abc")
	must(db.Create(ctx, w.id, w.texts[0]))(t)
	recs, snap := w.next(5, 2)
	if err := db.Append(ctx, w.id, recs, w.length(), snap); err != nil {
		t.Fatal(err)
	}
	recs, _ = w.next(3, 0) // Pending in the log: Delete removes them too.
	if err := db.Append(ctx, w.id, recs, w.length(), nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(ctx, w.id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Load(ctx, w.id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load after Delete: %v", err)
	}
	if err := db.Delete(ctx, w.id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	// A new document under the same id starts from nothing but its
	// versions: it starts after the deleted one's last (8).
	must(db.Create(ctx, w.id, "new"))(t)
	if seq, _, err := db.SessionSeq(ctx, w.id, "s-doc"); err != nil || seq != 0 {
		t.Fatalf("session of the deleted document: seq %d, %v", seq, err)
	}
	if l := must(db.Load(ctx, w.id))(t); l.Meta.Version != 9 || l.Meta.Base != 9 || l.Snapshot != (Snapshot{9, "new"}) || len(l.Ops) != 0 {
		t.Fatalf("recreated: %+v", l)
	}
}

// TestRecreateNeverReusesVersions: a document created under the id of a
// deleted one starts one past the deleted one's last version, so a reader
// that resumes from a version of the old document (an SSE Last-Event-ID, a
// poll's since) is told that version is gone instead of getting the new
// document's ops on the old text. It holds through flushes to the bucket,
// a reopen, a second delete and Check.
func TestRecreateNeverReusesVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "folio.db")
	db := openAt(t, path, Options{NoSync: true})
	old := newWriter("doc", 11, "old")
	must(db.Create(ctx, old.id, "old"))(t)
	for range 3 {
		recs, snap := old.next(100, 64)
		if err := db.Append(ctx, old.id, recs, old.length(), snap); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Delete(ctx, old.id); err != nil {
		t.Fatal(err)
	}
	m := must(db.Create(ctx, "doc", "new"))(t)
	if m.Version != 301 || m.Base != 301 {
		t.Fatalf("re-created at %+v, want version and base 301", m)
	}
	w := newWriter("doc", 12, "new")
	w.base = 301
	for range 3 { // Past flushAfter: ops Base+1.. move to the document's bucket.
		recs, snap := w.next(100, 128)
		if err := db.Append(ctx, w.id, recs, w.length(), snap); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, db)
	check := func(db *DB) {
		t.Helper()
		for _, v := range []uint64{0, 200, 300} {
			if _, err := db.Ops(ctx, w.id, v, 302); !errors.Is(err, ErrVersionGone) {
				t.Errorf("Ops from %d: %v, want ErrVersionGone", v, err)
			}
			if _, err := db.TextAt(ctx, w.id, v); !errors.Is(err, ErrVersionGone) {
				t.Errorf("TextAt %d: %v, want ErrVersionGone", v, err)
			}
		}
		ops := must(db.Ops(ctx, w.id, 301, 601))(t)
		if len(ops) != 300 || ops[0].Version != 302 || ops[299].Version != 601 {
			t.Fatalf("Ops 301..601: %d ops", len(ops))
		}
		for _, v := range []uint64{301, 450, 601} {
			if got := must(db.TextAt(ctx, w.id, v))(t); got != w.text(v) {
				t.Errorf("TextAt %d differs", v)
			}
		}
		if l := must(db.Load(ctx, w.id))(t); l.Meta.Base != 301 || l.Meta.Version != 601 {
			t.Errorf("Load: %+v", l.Meta)
		}
		if err := db.Check(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check(db)
	db.Close()
	db = openAt(t, path, Options{NoSync: true, Verify: true})
	check(db)

	// Deleted again, it leaves its own last version.
	if err := db.Delete(ctx, w.id); err != nil {
		t.Fatal(err)
	}
	if m := must(db.Create(ctx, w.id, ""))(t); m.Version != 602 || m.Base != 602 {
		t.Fatalf("re-created again at %+v, want 602", m)
	}
	if m := must(db.Create(ctx, "fresh", ""))(t); m.Version != 0 || m.Base != 0 {
		t.Fatalf("a never-deleted id starts at %+v, want 0", m)
	}
}

// TestLogFlush appends single ops from two sessions with no snapshots, so
// ops move from the log to the document's bucket every flushAfter ops, and
// checks reads and session records on both sides of each move.
func TestLogFlush(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	w := newWriter("doc", 9, "")
	must(db.Create(ctx, w.id, ""))(t)
	must(db.Create(ctx, "other", ""))(t) // Interleaves its entries in the log.
	last := map[string][2]uint64{}
	for v := uint64(1); v <= 3*flushAfter+10; v++ {
		recs, _ := w.next(1, 0)
		recs[0].Session = []string{"A", "B"}[v%3/2] // Mostly A.
		last[recs[0].Session] = [2]uint64{recs[0].Seq, v}
		if err := db.Append(ctx, w.id, recs, w.length(), nil); err != nil {
			t.Fatal(err)
		}
		other := []OpRecord{{Version: v, Op: ot.Op{{Insert: "o"}}, Session: "O", Seq: v}}
		if err := db.Append(ctx, "other", other, int(v), nil); err != nil {
			t.Fatal(err)
		}
		if v%41 != 0 && v != flushAfter && v != flushAfter+1 {
			continue
		}
		for s, want := range last {
			if seq, ver := must2(db.SessionSeq(ctx, w.id, s))(t); seq != want[0] || ver != want[1] {
				t.Fatalf("at %d: SessionSeq(%s) = %d@%d, want %d@%d", v, s, seq, ver, want[0], want[1])
			}
		}
		for _, at := range []uint64{v, v - 1, v / 2, flushAfter - 1, flushAfter, flushAfter + 1} {
			if at > v {
				continue
			}
			if got := must(db.TextAt(ctx, w.id, at))(t); got != w.text(at) {
				t.Fatalf("at %d: TextAt(%d) differs", v, at)
			}
		}
		if err := db.Check(ctx); err != nil {
			t.Fatalf("at %d: %v", v, err)
		}
	}
	l := must(db.Load(ctx, w.id))(t)
	if l.Snapshot.Version != 0 || len(l.Ops) != int(w.head()) {
		t.Fatalf("Load: snapshot %d and %d ops, want 0 and %d", l.Snapshot.Version, len(l.Ops), w.head())
	}
	ops := must(db.Ops(ctx, w.id, flushAfter-3, flushAfter+3))(t)
	if len(ops) != 6 || ops[0].Version != flushAfter-2 || ops[5].Version != flushAfter+3 {
		t.Fatalf("Ops across a flush boundary: %v", ops)
	}
}

func settle(t *testing.T, db *DB) {
	t.Helper()
	if err := db.settle(ctx, ""); err != nil {
		t.Fatal(err)
	}
}

func logLen(t *testing.T, db *DB) int {
	n := 0
	settle(t, db)
	db.view(func(tx *bolt.Tx) error { n = tx.Bucket(bucketLog).Stats().KeyN; return nil })
	return n
}

// TestLogTrim checks that a document with a few pending ops does not pin
// the log (it is flushed once it lags), and that Delete removes a document's
// flushed-but-untrimmed entries so that a new document of the same id does
// not inherit them.
func TestLogTrim(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	db.maxLogLag = 3 * flushAfter
	for _, id := range []string{"idle", "busy"} {
		must(db.Create(ctx, id, ""))(t)
	}
	if err := db.Append(ctx, "idle", []OpRecord{{Version: 1, Op: ot.Op{{Insert: "i"}}, Session: "I", Seq: 1}}, 1, nil); err != nil {
		t.Fatal(err)
	}
	w := newWriter("busy", 10, "")
	for range 2 * flushAfter {
		recs, _ := w.next(1, 0)
		if err := db.Append(ctx, w.id, recs, w.length(), nil); err != nil {
			t.Fatal(err)
		}
		settle(t, db) // One log entry per Append: a checkpoint joins a document's Appends.
	}
	// idle's entry pins the log: busy's flushed entries are still there.
	if n := logLen(t, db); n <= flushAfter {
		t.Fatalf("log has %d entries, want more than %d behind the idle document", n, flushAfter)
	}
	if err := db.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
	m := must(db.Create(ctx, "busy", "again"))(t)
	if err := db.Check(ctx); err != nil {
		t.Fatalf("after delete and re-create: %v", err)
	}
	w = newWriter("busy", 11, "again")
	w.base = m.Base
	for range 3*flushAfter + 10 {
		recs, _ := w.next(1, 0)
		if err := db.Append(ctx, w.id, recs, w.length(), nil); err != nil {
			t.Fatal(err)
		}
		settle(t, db) // One log entry per Append: a checkpoint joins a document's Appends.
	}
	if n := logLen(t, db); n > 3*flushAfter {
		t.Fatalf("log has %d entries after the idle document lagged %d", n, db.maxLogLag)
	}
	if seq, v := must2(db.SessionSeq(ctx, "idle", "I"))(t); seq != 1 || v != 1 {
		t.Fatalf("idle session after its flush: %d@%d", seq, v)
	}
	if got := must(db.TextAt(ctx, "busy", w.head()))(t); got != w.text(w.head()) {
		t.Fatal("busy text differs")
	}
}

// TestWritesGoOnDuringSlowBackup: a backup streamed to a slow reader holds a
// read transaction for as long; writes that grow the file past what bbolt
// has mapped must not wait for it (bbolt remaps only when no read
// transaction is open, unless its initial map is large enough).
func TestWritesGoOnDuringSlowBackup(t *testing.T) {
	db := openTest(t, Options{NoSync: true})
	must(db.Create(ctx, "big", ""))(t)
	pr, pw := io.Pipe()
	backup := make(chan error, 1)
	go func() {
		_, err := db.Backup(ctx, pw)
		pw.CloseWithError(err)
		backup <- err
	}()
	if _, err := pr.Read(make([]byte, 1)); err != nil { // The backup's transaction is open and stalled.
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		mib := strings.Repeat("x", 1<<20)   // Op chunks are not compressed: 1 MiB each in the file.
		for v := uint64(1); v <= 160; v++ { // 80 MiB of inserts, each deleted by the next op.
			op, length := ot.Op{{Insert: mib}}, 1<<20
			if v%2 == 0 {
				op, length = ot.Op{{Delete: 1 << 20}}, 0
			}
			rec := OpRecord{Version: v, Op: op, Session: "s", Seq: v}
			if err := db.Append(ctx, "big", []OpRecord{rec}, length, nil); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- db.settle(ctx, "") // The checkpoints that write it all to bbolt.
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute): // A stall lasts as long as the backup: for ever here.
		go io.Copy(io.Discard, pr) // Let the writes and Close finish.
		t.Fatal("writes stalled behind the backup's read transaction")
	}
	if st := db.Stats(); st.Checkpoints == 0 {
		t.Fatal("no checkpoint: the ops never reached bbolt")
	}
	go io.Copy(io.Discard, pr)
	if err := <-backup; err != nil {
		t.Fatal(err)
	}
}
