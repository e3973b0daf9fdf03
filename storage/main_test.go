package storage

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/foliodocs/folio/ot"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Child processes of the crash and lock tests run here, not as tests.
	switch os.Getenv(childEnv) {
	case "crash":
		crashChild(os.Getenv(childPathEnv))
		os.Exit(0)
	case "lock":
		lockChild(os.Getenv(childPathEnv))
		os.Exit(0)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if benchDir != "" {
			os.RemoveAll(benchDir)
		}
		os.Exit(code)
	}))
}

const (
	childEnv     = "FOLIO_STORAGE_TEST_CHILD"
	childPathEnv = "FOLIO_STORAGE_TEST_PATH"
)

// openTest opens a fresh database in t.TempDir() that is checked and closed
// when the test ends.
func openTest(t testing.TB, opts Options) *DB {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "folio.db"), opts)
}

func openAt(t testing.TB, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Check(context.Background()); err != nil && !strings.Contains(err.Error(), ErrClosed.Error()) {
			t.Errorf("check at cleanup: %v", err)
		}
		db.Close()
	})
	return db
}

// fakeClock returns a Now that advances one second per call.
func fakeClock() func() time.Time {
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

var alphabet = []string{"a", "b", " ", "\n", "\r\n", "é", "e\u0301", "🎉", "👨‍👩‍👧‍👦", "字"}

// randomOp returns a random op that fits a document of n code points.
func randomOp(rng *rand.Rand, n int) ot.Op {
	var op ot.Op
	pos := rng.IntN(n + 1)
	if pos > 0 {
		op = append(op, ot.Component{Skip: pos})
	}
	if del := rng.IntN(min(n-pos, 3) + 1); del > 0 {
		op = append(op, ot.Component{Delete: del})
	}
	if rng.IntN(4) > 0 || len(op) == 0 || op[len(op)-1].Skip > 0 {
		var sb strings.Builder
		for range rng.IntN(3) + 1 {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		op = append(op, ot.Component{Insert: sb.String()})
	}
	return op
}

// writer appends random ops to one document and remembers every text.
type writer struct {
	id    string
	rng   *rand.Rand
	doc   *ot.Document
	texts []string // texts[v-base] is the text at version v.
	seq   uint64
	base  uint64 // The document's Meta.Base.
}

func newWriter(id string, seed uint64, text string) *writer {
	return &writer{id: id, rng: rand.New(rand.NewPCG(seed, 1)), doc: ot.NewDocument(text), texts: []string{text}}
}

// next returns n new records after the writer's head, applying them to its
// text; snapEvery > 0 adds a snapshot when a version divisible by it is hit.
func (w *writer) next(n int, snapEvery uint64) ([]OpRecord, *Snapshot) {
	var recs []OpRecord
	var snap *Snapshot
	for range n {
		op := randomOp(w.rng, w.doc.Len())
		if err := w.doc.Apply(op); err != nil {
			panic(err)
		}
		w.seq++
		v := w.base + uint64(len(w.texts))
		w.texts = append(w.texts, w.doc.String())
		recs = append(recs, OpRecord{Version: v, Op: op, Session: "s-" + w.id, Seq: w.seq, Author: "Ada",
			Time: time.Unix(1700000000, int64(v)).UTC()})
		if snapEvery > 0 && v%snapEvery == 0 {
			snap = &Snapshot{Version: v, Text: w.text(v)}
		}
	}
	return recs, snap
}

// rollback forgets the writer's last n records, as a caller must after a
// failed Append.
func (w *writer) rollback(n int) {
	w.texts = w.texts[:len(w.texts)-n]
	w.doc = ot.NewDocument(w.texts[len(w.texts)-1])
	w.seq -= uint64(n)
}

func (w *writer) length() int { return utf8.RuneCountInString(w.texts[len(w.texts)-1]) }

// text is the text at version v.
func (w *writer) text(v uint64) string { return w.texts[v-w.base] }

func (w *writer) head() uint64 { return w.base + uint64(len(w.texts)-1) }

// must(f())(t) returns f's value, failing t on an error.
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// must2 is must for functions returning two values and an error.
func must2[A, B any](a A, b B, err error) func(testing.TB) (A, B) {
	return func(t testing.TB) (A, B) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}
