package storage

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/foliodocs/folio/ot"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkAppendWriters measures durable (fsync'd) one-op appends per second
// with N concurrent writers, each on its own document.
func BenchmarkAppendWriters(b *testing.B) {
	for _, writers := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) { benchWriters(b, writers, Options{}) })
	}
}

// BenchmarkAppendWritersNoSync is BenchmarkAppendWriters/writers=100 without
// fsync: the committer's CPU ceiling.
func BenchmarkAppendWritersNoSync(b *testing.B) { benchWriters(b, 100, Options{NoSync: true}) }

func benchWriters(b *testing.B, writers int, opts Options) {
	db := openTest(b, opts)
	for i := range writers {
		must(db.Create(ctx, fmt.Sprintf("w%d", i), ""))(b)
	}
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range writers {
		n := b.N / writers
		if i < b.N%writers {
			n++
		}
		wg.Go(func() { appendOnes(b, db, fmt.Sprintf("w%d", i), n) })
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
	b.ReportMetric(float64(db.batched.Load())/float64(db.batches.Load()), "reqs/commit")
}

// appendOnes appends n one-character inserts to id, one op per Append.
func appendOnes(b *testing.B, db *DB, id string, n int) {
	for v := 1; v <= n; v++ {
		rec := []OpRecord{{Version: uint64(v), Op: typeAt(v - 1),
			Session: "session-" + id, Seq: uint64(v), Author: "Ada"}}
		if err := db.Append(ctx, id, rec, v, nil); err != nil {
			b.Error(err)
			return
		}
	}
}

// typeAt is the op that types "x" at position pos.
func typeAt(pos int) ot.Op {
	if pos == 0 {
		return ot.Op{{Insert: "x"}}
	}
	return ot.Op{{Skip: pos}, {Insert: "x"}}
}

// BenchmarkAppendStream measures one writer streaming into one document,
// 100 ops per Append, as a busy room batches them.
func BenchmarkAppendStream(b *testing.B) {
	db := openTest(b, Options{})
	must(db.Create(ctx, "doc", ""))(b)
	const batch = 100
	recs := make([]OpRecord, 0, batch)
	b.ResetTimer()
	start := time.Now()
	for v := 1; v <= b.N; v++ {
		recs = append(recs, OpRecord{Version: uint64(v), Op: typeAt(v - 1),
			Session: "session-1", Seq: uint64(v), Author: "Ada"})
		if len(recs) == batch || v == b.N {
			if err := db.Append(ctx, "doc", recs, v, nil); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
}

// BenchmarkRawOnePutPerTx is the disk's fsync ceiling: one small put per
// bbolt transaction, the rate a store without group commit would get.
func BenchmarkRawOnePutPerTx(b *testing.B) {
	bdb, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	defer bdb.Close()
	val := make([]byte, 48)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		err := bdb.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("ops"))
			if err != nil {
				return err
			}
			return bk.Put(versionKey(uint64(i)), val)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tx/s")
}

// BenchmarkTxPages is what one durable bbolt transaction costs in process
// CPU (user + system, from getrusage) by the number of leaf pages it dirties:
// the fixed part (two fdatasyncs) is why the committer gathers requests
// (Options.CommitDelay).
func BenchmarkTxPages(b *testing.B) {
	for _, pages := range []int{1, 10, 30} {
		b.Run(fmt.Sprintf("pages=%d", pages), func(b *testing.B) {
			bdb, err := bolt.Open(filepath.Join(b.TempDir(), "tx.db"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
			if err != nil {
				b.Fatal(err)
			}
			defer bdb.Close()
			const perLeaf = 40 // 80-byte values: about 40 per 4 KB leaf.
			val := make([]byte, 80)
			put := func(keys func(yield func(uint64) bool)) {
				err := bdb.Update(func(tx *bolt.Tx) error {
					bk, err := tx.CreateBucketIfNotExists([]byte("b"))
					if err != nil {
						return err
					}
					for k := range keys {
						if err := bk.Put(versionKey(k), val); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			put(func(yield func(uint64) bool) { // Fill the leaves once.
				for k := range uint64(pages * perLeaf) {
					yield(k)
				}
			})
			cpu0 := processCPU(b)
			b.ResetTimer()
			for i := range b.N {
				put(func(yield func(uint64) bool) { // One key in each leaf.
					for p := range pages {
						yield(uint64(p*perLeaf + i%perLeaf))
					}
				})
			}
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/tx")
		})
	}
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// traceDB is a closed database file holding the automerge-paper trace as
// document "paper", built once per snapshot interval.
type traceDB struct {
	path  string
	ops   int
	bytes int64
}

var (
	traceDBsMu sync.Mutex
	traceDBs   = map[uint64]traceDB{}
	benchDir   string // Guarded by traceDBsMu.
)

func buildTraceDB(b *testing.B, snapEvery uint64) traceDB {
	traceDBsMu.Lock()
	defer traceDBsMu.Unlock()
	if t, ok := traceDBs[snapEvery]; ok {
		return t
	}
	tr := loadTrace(b, "automerge-paper")
	// Not b.TempDir: the file is shared by every run of the benchmark;
	// TestMain removes benchDir.
	if benchDir == "" {
		dir, err := os.MkdirTemp("", "folio-storage-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = dir
	}
	path := filepath.Join(benchDir, fmt.Sprintf("paper-%d.db", snapEvery))
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	appendTrace(b, db, "paper", tr, 100, snapEvery)
	if got, err := db.TextAt(ctx, "paper", uint64(len(tr.ops))); err != nil || got != tr.end {
		b.Fatalf("trace text at head differs: %v", err)
	}
	db.Close()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		b.Fatal(err)
	}
	// Blocks, not the size: bbolt grows the file in sparse steps.
	t := traceDB{path: path, ops: len(tr.ops), bytes: st.Blocks * 512}
	traceDBs[snapEvery] = t
	return t
}

// BenchmarkTraceLoad measures a cold Load of the automerge-paper document
// (open the file, Load, rebuild the text at head) and reports bytes on disk
// per op, for several snapshot intervals K.
func BenchmarkTraceLoad(b *testing.B) {
	for _, k := range []uint64{256, DefaultSnapshotEvery, 4096} {
		b.Run(fmt.Sprintf("K=%d", k), func(b *testing.B) {
			t := buildTraceDB(b, k)
			b.ResetTimer()
			for range b.N {
				db, err := Open(t.path, Options{})
				if err != nil {
					b.Fatal(err)
				}
				l, err := db.Load(ctx, "paper")
				if err != nil {
					b.Fatal(err)
				}
				doc := ot.NewDocument(l.Snapshot.Text)
				for _, r := range l.Ops {
					if err := doc.Apply(r.Op); err != nil {
						b.Fatal(err)
					}
				}
				if doc.Len() != l.Meta.Length {
					b.Fatalf("length %d, meta %d", doc.Len(), l.Meta.Length)
				}
				db.Close()
			}
			b.ReportMetric(float64(t.bytes)/float64(t.ops), "disk-bytes/op")
		})
	}
}

// BenchmarkTraceLoadOpen measures Load and the text at head of the
// automerge-paper document in an already open database (a room loading a
// document in a running server).
func BenchmarkTraceLoadOpen(b *testing.B) {
	t := buildTraceDB(b, DefaultSnapshotEvery)
	db, err := Open(t.path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ResetTimer()
	for range b.N {
		l, err := db.Load(ctx, "paper")
		if err != nil {
			b.Fatal(err)
		}
		doc := ot.NewDocument(l.Snapshot.Text)
		for _, r := range l.Ops {
			if err := doc.Apply(r.Op); err != nil {
				b.Fatal(err)
			}
		}
		_ = doc.String()
	}
	b.StopTimer()
	var live int64
	db.view(func(tx *bolt.Tx) error {
		st := tx.DB().Stats()
		live = tx.Size() - int64(st.FreePageN+st.PendingPageN)*int64(tx.DB().Info().PageSize)
		return nil
	})
	b.ReportMetric(float64(live)/float64(t.ops), "live-bytes/op")
}

// BenchmarkTraceTextAt measures TextAt at random past versions of the
// automerge-paper document.
func BenchmarkTraceTextAt(b *testing.B) {
	for _, k := range []uint64{256, DefaultSnapshotEvery, 4096} {
		b.Run(fmt.Sprintf("K=%d", k), func(b *testing.B) {
			t := buildTraceDB(b, k)
			db, err := Open(t.path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			b.ResetTimer()
			for range b.N {
				if _, err := db.TextAt(ctx, "paper", rng.Uint64N(uint64(t.ops)+1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendLongDocument measures one keystroke's Append (NoSync: the
// CPU, not the disk) in a document of 1k and of 1M code points: alone (it
// goes to the journal), followed by a checkpoint (a bbolt transaction that
// copies it in, flushing the document's log every 128 ops), and carrying a
// snapshot of the text (as a room's commit does about every
// DefaultSnapshotEvery ops; it grows with the text, and must). The first
// two should not grow with the document's length.
func BenchmarkAppendLongDocument(b *testing.B) {
	for _, size := range []int{1_000, 1_000_000} {
		line := "lorem ipsum 🎉 dolor\n" // 20 code points.
		text := strings.Repeat(line, size/20)
		for _, what := range []string{"op", "op+checkpoint", "snapshot"} {
			b.Run(fmt.Sprintf("size=%d/%s", size, what), func(b *testing.B) {
				db := openTest(b, Options{NoSync: true})
				must(db.Create(ctx, "doc", text))(b)
				text := text // This run's.
				b.ReportAllocs()
				b.ResetTimer()
				for v := 1; v <= b.N; v++ {
					rec := []OpRecord{{Version: uint64(v), Op: typeAt(size / 2), Session: "s", Seq: uint64(v), Author: "Ada"}}
					var snap *Snapshot
					if what == "snapshot" {
						b.StopTimer()
						text = text[:len(text)/2] + "x" + text[len(text)/2:] // Not counted: the room's copy.
						snap = &Snapshot{Version: uint64(v), Text: text}
						b.StartTimer()
					}
					if err := db.Append(ctx, "doc", rec, size+v, snap); err != nil {
						b.Fatal(err)
					}
					if what == "op+checkpoint" {
						if err := db.settle(ctx, "doc"); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
