package storage

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/foliodocs/folio/ot"
)

// modelDoc is what a document should hold.
type modelDoc struct {
	w        *writer
	sessions map[string][2]uint64 // session -> seq, version
}

// TestRandomModel drives random creates, appends (from several sessions,
// some with snapshots, some conflicting), snapshots and deletes over a few
// documents, with a small log lag so that every flush and trim path runs,
// and compares every read with a model.
func TestRandomModel(t *testing.T) {
	steps := 1000
	if testing.Short() {
		steps = 300
	}
	for seed := range uint64(2) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			// Checkpoints only when a read or another write needs one, so
			// that reads see journal and bbolt together.
			db := openTest(t, noCheckpoints)
			db.maxLogLag = 40
			rng := rand.New(rand.NewPCG(seed, 99))
			docs := map[string]*modelDoc{}
			gone := map[string]uint64{} // Deleted id -> its last version.
			for step := range steps {
				id := fmt.Sprintf("d%d", rng.IntN(4))
				modelStep(t, db, rng, docs, gone, id)
				checkModelDoc(t, db, rng, docs[id], id)
				if step%250 == 0 {
					if err := db.Check(ctx); err != nil {
						t.Fatalf("step %d: %v", step, err)
					}
				}
			}
		})
	}
}

func modelStep(t *testing.T, db *DB, rng *rand.Rand, docs map[string]*modelDoc, gone map[string]uint64, id string) {
	d := docs[id]
	switch r := rng.IntN(100); {
	case d == nil || r < 3:
		m, err := db.Create(ctx, id, "x🎉")
		if d == nil && err != nil || d != nil && !errors.Is(err, ErrExists) {
			t.Fatalf("create %s: %v", id, err)
		}
		if d == nil {
			base := uint64(0)
			if last, ok := gone[id]; ok {
				base = last + 1
			}
			if m.Base != base || m.Version != base {
				t.Fatalf("create %s: %+v, want base %d", id, m, base)
			}
			w := newWriter(id, rng.Uint64(), "x🎉")
			w.base = base
			docs[id] = &modelDoc{w: w, sessions: map[string][2]uint64{}}
		}
	case r < 6:
		if err := db.Delete(ctx, id); err != nil {
			t.Fatalf("delete %s: %v", id, err)
		}
		gone[id] = d.w.head()
		delete(docs, id)
	case r < 10:
		v := d.w.base + rng.Uint64N(d.w.head()-d.w.base+1)
		if err := db.PutSnapshot(ctx, id, Snapshot{Version: v, Text: d.w.text(v)}); err != nil {
			t.Fatal(err)
		}
	case r < 15:
		rec := OpRecord{Version: d.w.head() + 1 + rng.Uint64N(3)*2 - 2} // head-1, head+1 or head+3 ...
		if rec.Version == d.w.head()+1 {                                // ... but head+1 would fit: make it head+2.
			rec.Version++
		}
		rec.Op = randomOp(rng, d.w.doc.Len())
		if err := db.Append(ctx, id, []OpRecord{rec}, 0, nil); !errors.Is(err, ErrVersionConflict) {
			t.Fatalf("append %s@%d at head %d: %v", id, rec.Version, d.w.head(), err)
		}
	default:
		modelAppend(t, db, rng, d, id)
	}
}

func modelAppend(t *testing.T, db *DB, rng *rand.Rand, d *modelDoc, id string) {
	n := 1 + rng.IntN(12)
	if rng.IntN(20) == 0 {
		n = 150 + rng.IntN(100) // More than flushAfter in one call.
	}
	recs, _ := d.w.next(n, 0)
	var snap *Snapshot
	if rng.IntN(8) == 0 {
		v := recs[rng.IntN(n)].Version
		snap = &Snapshot{Version: v, Text: d.w.text(v)}
	}
	session := fmt.Sprintf("s%d", rng.IntN(3))
	seq := d.sessions[session][0]
	for i := range recs {
		if rng.IntN(4) == 0 {
			session = fmt.Sprintf("s%d", rng.IntN(3))
			seq = d.sessions[session][0]
		}
		seq++
		recs[i].Session, recs[i].Seq = session, seq
		d.sessions[session] = [2]uint64{seq, recs[i].Version}
	}
	if err := db.Append(ctx, id, recs, d.w.length(), snap); err != nil {
		t.Fatalf("append %s: %v", id, err)
	}
}

func checkModelDoc(t *testing.T, db *DB, rng *rand.Rand, d *modelDoc, id string) {
	t.Helper()
	if d == nil {
		if _, err := db.Meta(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s deleted, Meta: %v", id, err)
		}
		return
	}
	head := d.w.head()
	m := must(db.Meta(ctx, id))(t)
	if m.Version != head || m.Length != d.w.length() {
		t.Fatalf("%s meta %+v, want version %d length %d", id, m, head, d.w.length())
	}
	// Ops before any read that checkpoints: with ops in the journal they
	// come partly from bbolt and partly from the overlay.
	if base := d.w.base; base > 0 {
		if _, err := db.Ops(ctx, id, rng.Uint64N(base), head); !errors.Is(err, ErrVersionGone) {
			t.Fatalf("%s Ops from before its base %d: %v", id, base, err)
		}
	}
	from := d.w.base + rng.Uint64N(head-d.w.base+1)
	to := from + rng.Uint64N(head-from+1)
	ops := must(db.Ops(ctx, id, from, to))(t)
	if uint64(len(ops)) != to-from || len(ops) > 0 && (ops[0].Version != from+1 || ops[len(ops)-1].Version != to) {
		t.Fatalf("%s Ops(%d, %d) returned %d ops", id, from, to, len(ops))
	}
	doc := ot.NewDocument(d.w.text(from))
	for _, r := range ops {
		if err := doc.Apply(r.Op); err != nil {
			t.Fatalf("%s op %d: %v", id, r.Version, err)
		}
	}
	if doc.String() != d.w.text(to) {
		t.Fatalf("%s Ops(%d, %d) do not lead to the text at %d", id, from, to, to)
	}
	v := d.w.base + rng.Uint64N(head-d.w.base+1)
	if got := must(db.TextAt(ctx, id, v))(t); got != d.w.text(v) {
		t.Fatalf("%s TextAt(%d) differs", id, v)
	}
	for s, want := range d.sessions {
		if seq, ver := must2(db.SessionSeq(ctx, id, s))(t); seq != want[0] || ver != want[1] {
			t.Fatalf("%s SessionSeq(%s) = %d@%d, want %d@%d", id, s, seq, ver, want[0], want[1])
		}
	}
	if rng.IntN(10) == 0 {
		l := must(db.Load(ctx, id))(t)
		if l.Snapshot.Text != d.w.text(l.Snapshot.Version) || uint64(len(l.Ops)) != head-l.Snapshot.Version {
			t.Fatalf("%s Load: snapshot %d, %d ops", id, l.Snapshot.Version, len(l.Ops))
		}
	}
}
