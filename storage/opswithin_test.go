package storage

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/foliodocs/folio/ot"
	bolt "go.etcd.io/bbolt"
)

// TestOpsWithin reads ops bounded by size from everywhere they are kept:
// flushed chunks (from inside one), log entries and the journal's overlay.
// It returns them up to the first that passes the bound, and decodes none
// after it: a damaged chunk past that point fails Ops but not OpsWithin.
func TestOpsWithin(t *testing.T) {
	db := openTest(t, Options{NoSync: true, CheckpointEvery: time.Hour})
	const id = "doc"
	must(db.Create(ctx, id, ""))(t)
	var all []OpRecord
	length := 0
	appendOps := func(n int, snap bool) {
		var recs []OpRecord
		for range n {
			v := uint64(len(all) + 1)
			text := strings.Repeat("é", 100*int(v%7+1)) // Sizes differ.
			recs = append(recs, OpRecord{Version: v, Op: ot.Op{{Skip: length}, {Insert: text}}, Session: "s", Seq: v,
				Time: time.Unix(1700000000, int64(v)).UTC()})
			if length == 0 {
				recs[len(recs)-1].Op = recs[len(recs)-1].Op[1:]
			}
			length += 100 * int(v%7+1)
			all = append(all, recs[len(recs)-1])
		}
		var s *Snapshot
		if snap {
			s = &Snapshot{Version: uint64(len(all)), Text: strings.Repeat("é", length)}
		}
		if err := db.Append(ctx, id, recs, length, s); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 { // Flushed chunks 1..8, 9..16, 17..24.
		appendOps(8, true)
	}
	appendOps(4, false) // 25..28 in the log, once settled.
	settle(t, db)
	appendOps(4, false) // 29..32 in the journal's overlay.
	head := uint64(len(all))

	total := func(recs []OpRecord) int {
		n := 0
		for _, r := range recs {
			n += r.Size()
		}
		return n
	}
	// prefix is what OpsWithin(from, to, max) must return: the ops up to
	// the first that takes the total past max.
	prefix := func(from, to uint64, max int) []OpRecord {
		n := 0
		for i, r := range all[from:to] {
			if n += r.Size(); n > max {
				return all[from : from+uint64(i)+1]
			}
		}
		return all[from:to]
	}
	for _, c := range []struct {
		from, to uint64
		max      int
	}{
		{0, head, 1 << 30},                 // Everything, well within.
		{0, head, total(all)},              // Exactly at the bound: all of it.
		{0, head, total(all) - 1},          // The last op passes it.
		{0, head, 0},                       // The first op passes it.
		{3, head, total(all[3:12])},        // Stops in the second chunk, starting inside the first.
		{10, head, total(all[10:26])},      // Stops in the log.
		{20, head, total(all[20:30]) + 10}, // Stops in the overlay.
		{26, 30, 1 << 30},
		{7, 7, 0}, // Nothing asked.
	} {
		got, size := must2(db.OpsWithin(ctx, id, c.from, c.to, c.max))(t)
		want := prefix(c.from, c.to, c.max)
		if !recordsEqual(got, want) || size != total(want) {
			t.Errorf("OpsWithin(%d, %d, %d): %d ops of %d bytes, want %d of %d", c.from, c.to, c.max, len(got), size, len(want), total(want))
		}
	}
	if _, _, err := db.OpsWithin(ctx, id, 0, head+1, 1<<30); !errors.Is(err, ErrVersionAhead) {
		t.Errorf("OpsWithin past head: %v, want ErrVersionAhead", err)
	}

	// Damage the third chunk: a read that stops in the first never decodes it.
	key := versionKey(17)
	var saved []byte
	damage := func(v []byte) {
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketDocs).Bucket([]byte(id))
			if saved == nil {
				saved = append([]byte(nil), b.Get(key)...)
			}
			return b.Put(key, v)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	damage([]byte{chunkV1, 8, 0xff})
	t.Cleanup(func() { damage(saved) }) // For the check at cleanup.
	if _, err := db.Ops(ctx, id, 0, head); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Ops over a damaged chunk: %v, want ErrCorrupt", err)
	}
	got, _ := must2(db.OpsWithin(ctx, id, 0, head, total(all[:5])))(t)
	if !recordsEqual(got, all[:6]) {
		t.Errorf("OpsWithin stopping in the first chunk: %d ops, want 6", len(got))
	}
}
