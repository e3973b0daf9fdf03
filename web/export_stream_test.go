package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/foliodocs/folio/storage"
)

// pagedStore is a Store that records the size of every OpsWithin read and
// can fail them from the failAt-th on (1-based; 0: never).
type pagedStore struct {
	Store
	mu     sync.Mutex
	sizes  []int // Total storage.OpRecord.Size of each OpsWithin answer.
	failAt int
}

var errPageFailed = errors.New("page read failed")

func (p *pagedStore) OpsWithin(ctx context.Context, id string, from, to uint64, maxBytes int) ([]storage.OpRecord, int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failAt > 0 && len(p.sizes)+1 >= p.failAt {
		p.sizes = append(p.sizes, 0)
		return nil, 0, errPageFailed
	}
	ops, size, err := p.Store.OpsWithin(ctx, id, from, to, maxBytes)
	p.sizes = append(p.sizes, size)
	return ops, size, err
}

func (p *pagedStore) reads() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.sizes...)
}

// writeHistory gives document id n ops of inserts with emoji and characters
// JSON escapes for HTML, and deletes by text and by count.
func writeHistory(e *testEnv, id string, n int) {
	e.t.Helper()
	v := e.postOp(id, 0, `["<b>&🎉 start</b>\n"]`)
	for i := 0; v < uint64(n); i++ {
		word := fmt.Sprintf("w%d 👨‍👩‍👧 <&> ", i)
		b, _ := json.Marshal(word)
		v = e.postOp(id, v, fmt.Sprintf(`[3,%s]`, b))
		switch i % 3 {
		case 0:
			d, _ := json.Marshal(word)
			v = e.postOp(id, v, fmt.Sprintf(`[3,{"d":%s}]`, d))
		case 1:
			v = e.postOp(id, v, `[2,{"d":4}]`)
		}
	}
}

// todaysJSONExport is the encoding of a JSON export with its history read
// in one go: what the export wrote before it streamed.
func todaysJSONExport(t *testing.T, e *testEnv, id string, version uint64) []byte {
	t.Helper()
	ctx := context.Background()
	meta := must(e.db.Meta(ctx, id))
	recs := must(e.db.Ops(ctx, id, meta.Base, version))
	x := Export{ID: id, Version: version, Text: must(e.db.TextAt(ctx, id, version)),
		CreatedAt: meta.CreatedAt, UpdatedAt: meta.UpdatedAt, Base: meta.Base, History: exportedOps(recs)}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(x); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestExportJSONHistoryBytes checks that the streamed JSON export is byte
// for byte the one-piece encoding, with pages of one op and of many.
func TestExportJSONHistoryBytes(t *testing.T) {
	for _, pageBytes := range []int{1, 700, 0} {
		t.Run(fmt.Sprint(pageBytes), func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.PageBytes = pageBytes })
			e.create("s", "")
			writeHistory(e, "s", 150)
			// A document created again under a deleted one's id: its ops start at its base.
			e.create("again", "x")
			e.postOp("again", 0, `[{"d":"x"},"y🎉"]`)
			if r := e.do(http.MethodDelete, "/api/v1/docs/again", nil); r.status != http.StatusNoContent {
				t.Fatalf("delete: %d %s", r.status, r.body)
			}
			e.create("again", "z")
			e.postOp("again", 2, `[1," <&>"]`)
			head := must(e.db.Meta(context.Background(), "s")).Version
			cases := []struct {
				id      string
				query   string
				version uint64
			}{
				{"s", "history=1", head},
				{"s", "history=true&version=77", 77},
				{"s", "history=1&version=1", 1},
				{"s", "history=1&version=0", 0},
				{"again", "history=1", 3},
				{"again", "history=1&version=2", 2},
			}
			for _, c := range cases {
				r := e.get("/api/v1/docs/" + c.id + "/export/json?" + c.query)
				if r.status != http.StatusOK {
					t.Fatalf("%s?%s: %d %s", c.id, c.query, r.status, r.body)
				}
				if want := todaysJSONExport(t, e, c.id, c.version); !bytes.Equal(r.body, want) {
					t.Errorf("%s?%s: streamed export differs:\n%s\nwant:\n%s", c.id, c.query, r.body, want)
				}
				if got := r.header.Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type %q", got)
				}
			}
		})
	}
}

// TestExportJSONHistoryPages checks that a history larger than a page is
// read a page at a time, each read bounded by the page and one op.
func TestExportJSONHistoryPages(t *testing.T) {
	const pageBytes = 4 << 10
	var ps *pagedStore
	e := newEnv(t, func(o *Options) {
		ps = &pagedStore{Store: o.Store}
		o.Store, o.PageBytes = ps, pageBytes
	})
	e.create("big", "")
	big := strings.Repeat("é", 1000)
	v := uint64(0)
	for range 40 { // Each op: 2 KB of text inserted, and as much deleted after.
		b, _ := json.Marshal(big)
		v = e.postOp("big", v, fmt.Sprintf(`[%s]`, b))
		v = e.postOp("big", v, fmt.Sprintf(`[{"d":%s}]`, b))
	}
	r := e.get("/api/v1/docs/big/export/json?history=1")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var x Export
	r.json(t, &x)
	if uint64(len(x.History)) != v || x.History[v-1].Version != v {
		t.Fatalf("%d ops in the export, want %d", len(x.History), v)
	}
	reads := ps.reads()
	total, largest := 0, 0
	for _, h := range x.History {
		rec := storage.OpRecord{Op: h.Op, Session: h.Session, Author: h.Author}
		largest = max(largest, rec.Size())
	}
	for _, size := range reads {
		total += size
		if size > pageBytes+largest {
			t.Errorf("a read of %d bytes: the page is %d, an op at most %d", size, pageBytes, largest)
		}
	}
	if min := total / (pageBytes + largest); len(reads) < min || len(reads) < 2 {
		t.Errorf("%d reads of %d bytes in all, want at least %d", len(reads), total, min)
	}
}

// TestExportJSONHistoryReadFails checks both ends of a failing store: at
// the first page the usual error answer, once bytes are sent a cut
// connection.
func TestExportJSONHistoryReadFails(t *testing.T) {
	var ps *pagedStore
	e := newEnv(t, func(o *Options) {
		ps = &pagedStore{Store: o.Store}
		o.Store, o.PageBytes = ps, 4<<10
	})
	e.create("f", "")
	b, _ := json.Marshal(strings.Repeat("ü", 1000))
	v := uint64(0)
	for range 50 { // 100 ops of 2 KB, an export of over 200 KB.
		v = e.postOp("f", v, fmt.Sprintf(`[%s]`, b))
		v = e.postOp("f", v, fmt.Sprintf(`[{"d":%s}]`, b))
	}
	if r := e.get("/api/v1/docs/f/export/json?history=1"); r.status != http.StatusOK || len(r.body) < 200<<10 {
		t.Fatalf("export: %d, %d bytes", r.status, len(r.body))
	}
	pages := len(ps.reads())

	ps.mu.Lock()
	ps.failAt, ps.sizes = 1, nil
	ps.mu.Unlock()
	r := e.get("/api/v1/docs/f/export/json?history=1")
	if r.status != http.StatusInternalServerError || r.errCode() != "internal" || r.header.Get("Content-Disposition") != "" {
		t.Errorf("failing first page: %d %s, Content-Disposition %q", r.status, r.body, r.header.Get("Content-Disposition"))
	}

	ps.mu.Lock()
	ps.failAt, ps.sizes = pages, nil // The last page, long after the first bytes left.
	ps.mu.Unlock()
	resp, err := http.Get(e.url + "/api/v1/docs/f/export/json?history=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || err == nil {
		t.Errorf("failing last page: %d, read error %v after %d bytes: want 200 and a cut body", resp.StatusCode, err, len(body))
	}
	if json.Valid(body) {
		t.Errorf("a cut export is valid JSON: %.200s", body)
	}
}
