package storage

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/foliodocs/folio/ot"
)

// Bucket and key names; see doc.go for the layout.
var (
	bucketFolio = []byte("folio")
	bucketDocs  = []byte("docs")
	bucketMeta  = []byte("meta")
	bucketLog   = []byte("log")
	bucketGone  = []byte("gone")
	keyFormat   = []byte("format")
	bucketSnap  = []byte("snap")
	bucketSess  = []byte("sess")
)

const (
	formatV1 = "folio-storage/1"

	chunkV1 = 1 // first byte of an encoded chunk of op records
	metaV1  = 1 // first byte of an encoded meta of a document based at version 0
	metaV2  = 2 // first byte of an encoded meta with a base version (a re-created document)
	entryV1 = 1 // first byte of an encoded log entry

	compSkip    = 0
	compInsert  = 1
	compDelete  = 2
	compDelText = 3

	maxSessionLen = 256
	maxAuthorLen  = 1024
)

// versionKey is the 8-byte big-endian key of an op or snapshot, so that keys
// sort by version.
func versionKey(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func isVersionKey(k []byte) bool { return len(k) == 8 }

func keyVersion(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

// encodeChunk returns the compact binary form of recs, consecutive ops
// whose Time is set (their versions are implicit: the chunk's key or entry
// says the first). Format byte, uvarint count, then per record: uvarint Seq;
// Session and Author each as a uvarint reference into the chunk's string
// table (0: a new length-prefixed string follows and joins the table; k: the
// k-th string); varint nanoseconds since the previous record's Time (the
// first: since the Unix epoch); uvarint component count; the components, each
// a tag byte and a uvarint count or a length-prefixed string. Sessions and
// authors repeat within a chunk, so they cost a byte per op.
func encodeChunk(recs []OpRecord) []byte {
	buf := make([]byte, 0, 16+24*len(recs))
	buf = append(buf, chunkV1)
	buf = binary.AppendUvarint(buf, uint64(len(recs)))
	var table []string
	ref := func(s string) {
		if i := slices.Index(table, s); i >= 0 {
			buf = binary.AppendUvarint(buf, uint64(i+1))
			return
		}
		table = append(table, s)
		buf = append(buf, 0)
		buf = appendString(buf, s)
	}
	var prev int64
	for i := range recs {
		r := &recs[i]
		buf = binary.AppendUvarint(buf, r.Seq)
		ref(r.Session)
		ref(r.Author)
		t := r.Time.UnixNano()
		buf = binary.AppendVarint(buf, t-prev)
		prev = t
		buf = binary.AppendUvarint(buf, uint64(len(r.Op)))
		for _, c := range r.Op {
			buf = appendComponent(buf, c)
		}
	}
	return buf
}

func appendComponent(buf []byte, c ot.Component) []byte {
	switch {
	case c.Skip > 0:
		buf = append(buf, compSkip)
		return binary.AppendUvarint(buf, uint64(c.Skip))
	case c.Insert != "":
		buf = append(buf, compInsert)
		return appendString(buf, c.Insert)
	case c.DelText != "":
		buf = append(buf, compDelText)
		return appendString(buf, c.DelText)
	default:
		buf = append(buf, compDelete)
		return binary.AppendUvarint(buf, uint64(c.Delete))
	}
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// validComponent reports whether c has exactly one form set, as ot.Component
// requires.
func validComponent(c ot.Component) bool {
	switch {
	case c.Skip > 0:
		return c.Insert == "" && c.Delete == 0 && c.DelText == ""
	case c.Insert != "":
		return c.Skip == 0 && c.Delete == 0 && c.DelText == "" && utf8.ValidString(c.Insert)
	case c.DelText != "":
		return c.Skip == 0 && c.Insert == "" && utf8.ValidString(c.DelText) &&
			c.Delete == utf8.RuneCountInString(c.DelText)
	default:
		return c.Delete > 0 && c.Skip == 0
	}
}

// decoder reads the binary forms; the first malformed field sets err and
// makes every later read return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: malformed %s", ErrCorrupt, what)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail("record (truncated)")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) count() int {
	v := d.uvarint()
	if v == 0 || v > 1<<40 {
		d.fail("count")
		return 0
	}
	return int(v)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail("string")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// chunkCount returns how many records an encoded chunk holds.
func chunkCount(b []byte) (int, error) {
	d := decoder{b: b}
	if d.byte() != chunkV1 {
		d.fail("op chunk (unknown format byte)")
	}
	n := d.count()
	return n, d.err
}

// decodeChunk decodes a chunk written by encodeChunk whose first record has
// version first. Each component is checked to have exactly one form and
// valid UTF-8.
func decodeChunk(first uint64, b []byte) ([]OpRecord, error) {
	n, _ := chunkCount(b) // eachInChunk checks it.
	recs := make([]OpRecord, 0, max(min(n, len(b)), 0))
	err := eachInChunk(first, b, 0, func(r OpRecord) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// eachInChunk calls fn with the records of a chunk (see decodeChunk) one by
// one as it decodes them, after skipping those up to version after (their
// strings are not copied), and stops at fn's first error, which it returns:
// a reader bounded by size stops mid-chunk. The chunk's end is checked only
// when every record was decoded.
func eachInChunk(first uint64, b []byte, after uint64, fn func(OpRecord) error) error {
	d := decoder{b: b}
	if d.byte() != chunkV1 {
		d.fail("op chunk (unknown format byte)")
	}
	n := d.count()
	if d.err == nil && n > len(d.b) {
		d.fail("op chunk count")
	}
	if d.err != nil {
		return fmt.Errorf("ops from %d: %w", first, d.err)
	}
	var table []string
	ref := func() string {
		switch k := d.uvarint(); {
		case k == 0:
			table = append(table, d.string())
			return table[len(table)-1]
		case k <= uint64(len(table)):
			return table[k-1]
		}
		d.fail("op chunk string reference")
		return ""
	}
	var t int64
	for i := 0; i < n && d.err == nil; i++ {
		r := OpRecord{Version: first + uint64(i), Seq: d.uvarint()}
		r.Session, r.Author = ref(), ref()
		t += d.varint()
		if r.Version <= after {
			d.skipOp()
			continue
		}
		r.Time = time.Unix(0, t).UTC()
		if r.Op = d.op(); d.err != nil {
			break
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("op chunk (trailing bytes)")
	}
	if d.err != nil {
		return fmt.Errorf("ops from %d: %w", first, d.err)
	}
	return nil
}

// skipOp passes over an op as op reads it, without copying its text.
func (d *decoder) skipOp() {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail("op length")
		return
	}
	for range n {
		switch d.byte() {
		case compSkip, compDelete:
			d.count()
		case compInsert, compDelText:
			if l := d.uvarint(); d.err == nil && l <= uint64(len(d.b)) {
				d.b = d.b[l:]
			} else {
				d.fail("string")
			}
		default:
			d.fail("op component tag")
		}
		if d.err != nil {
			return
		}
	}
}

// op reads a component count and the components.
func (d *decoder) op() ot.Op {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail("op length")
		return nil
	}
	op := make(ot.Op, 0, n)
	for range n {
		var c ot.Component
		switch d.byte() {
		case compSkip:
			c.Skip = d.count()
		case compInsert:
			c.Insert = d.string()
		case compDelete:
			c.Delete = d.count()
		case compDelText:
			c.DelText = d.string()
			c.Delete = utf8.RuneCountInString(c.DelText)
		default:
			d.fail("op component tag")
		}
		if d.err != nil || !validComponent(c) {
			d.fail("op component")
			return nil
		}
		op = append(op, c)
	}
	return op
}

// metaRec is a document's stored meta: the public Meta plus where its ops
// are. Ops Base+1..flushed are keys of the document's bucket; ops flushed+1..
// Version are in the log, in the chain of entries that ends at tail.
type metaRec struct {
	Meta
	flushed uint64
	tail    uint64 // Log key of the newest pending entry; 0 when none.
}

func (m *metaRec) pending() uint64 { return m.Version - m.flushed }

// encodeMeta writes metaV1 for a document based at 0, so that a file whose
// documents were never re-created stays readable by the builds before metaV2.
func encodeMeta(m metaRec) []byte {
	buf := make([]byte, 0, 48)
	if m.Base == 0 {
		buf = append(buf, metaV1)
	} else {
		buf = append(buf, metaV2)
	}
	buf = binary.AppendUvarint(buf, m.Version)
	buf = binary.AppendUvarint(buf, uint64(m.Length))
	buf = binary.AppendVarint(buf, m.CreatedAt.UnixNano())
	buf = binary.AppendVarint(buf, m.UpdatedAt.UnixNano())
	buf = binary.AppendUvarint(buf, m.flushed)
	buf = binary.AppendUvarint(buf, m.tail)
	if m.Base != 0 {
		buf = binary.AppendUvarint(buf, m.Base)
	}
	return buf
}

func decodeMeta(id string, b []byte) (metaRec, error) {
	d := decoder{b: b}
	format := d.byte()
	if format != metaV1 && format != metaV2 {
		d.fail("meta (unknown format byte)")
	}
	m := metaRec{Meta: Meta{ID: id, Version: d.uvarint()}}
	l := d.uvarint()
	m.CreatedAt = time.Unix(0, d.varint()).UTC()
	m.UpdatedAt = time.Unix(0, d.varint()).UTC()
	m.flushed, m.tail = d.uvarint(), d.uvarint()
	if format == metaV2 {
		if m.Base = d.uvarint(); m.Base == 0 {
			d.fail("meta (base 0 in format 2)")
		}
	}
	if d.err == nil && (len(d.b) != 0 || l > 1<<40 || m.flushed > m.Version || m.flushed < m.Base ||
		(m.tail == 0) != (m.flushed == m.Version)) {
		d.fail("meta")
	}
	if d.err != nil {
		return metaRec{}, fmt.Errorf("meta of %s: %w", id, d.err)
	}
	m.Length = int(l)
	return m, nil
}

// logEntry is one Append's ops waiting in the log: document id, the log key
// of the document's previous pending entry (0 if none), the first version,
// and the ops as an encoded chunk (a view into the page, valid during the
// tx).
type logEntry struct {
	id    string
	prev  uint64
	first uint64
	n     int
	chunk []byte
}

func (e *logEntry) last() uint64 { return e.first + uint64(e.n) - 1 }

func (e *logEntry) records() ([]OpRecord, error) { return decodeChunk(e.first, e.chunk) }

func encodeEntry(id string, prev, first uint64, chunk []byte) []byte {
	buf := make([]byte, 0, 24+len(id)+len(chunk))
	buf = append(buf, entryV1)
	buf = appendString(buf, id)
	buf = binary.AppendUvarint(buf, prev)
	buf = binary.AppendUvarint(buf, first)
	return append(buf, chunk...)
}

func decodeEntry(b []byte) (logEntry, error) {
	d := decoder{b: b}
	if d.byte() != entryV1 {
		d.fail("log entry (unknown format byte)")
	}
	e := logEntry{id: d.string(), prev: d.uvarint(), first: d.uvarint(), chunk: d.b}
	if d.err == nil && e.first == 0 {
		d.fail("log entry")
	}
	if d.err != nil {
		return logEntry{}, d.err
	}
	n, err := chunkCount(e.chunk)
	e.n = n
	return e, err
}

// encodeSession is a session's record: uvarint seq, uvarint version.
func encodeSession(seq, version uint64) []byte {
	buf := binary.AppendUvarint(make([]byte, 0, 16), seq)
	return binary.AppendUvarint(buf, version)
}

func decodeSession(b []byte) (seq, version uint64, err error) {
	d := decoder{b: b}
	seq, version = d.uvarint(), d.uvarint()
	if d.err == nil && len(d.b) != 0 {
		d.fail("session record")
	}
	return seq, version, d.err
}

// Snapshot values: a format byte, a kind byte, then the text raw or
// compressed with DEFLATE (preceded by its uvarint length), whichever is
// smaller. Text compresses 3-4x, and snapshots are most of a store.
const (
	snapV1      = 1
	snapRaw     = 0
	snapDeflate = 1

	minCompress = 512 // Shorter texts are stored raw.
)

// snapWriters recycles DEFLATE writers: a new one allocates about 1.2 MB of
// tables, and a busy server writes a snapshot every SnapshotEvery ops per
// document.
var snapWriters = sync.Pool{New: func() any {
	zw, _ := flate.NewWriter(nil, flate.BestSpeed) // Only fails on a bad level.
	return zw
}}

// encodeSnapshot copies the text only into what it returns: the compressor
// takes it through a small buffer, and the raw form is built only when it
// is the smaller (a million code points took two spare copies of the text
// per snapshot).
func encodeSnapshot(text string) []byte {
	raw := func() []byte { return append([]byte{snapV1, snapRaw}, text...) }
	if len(text) < minCompress {
		return raw()
	}
	var buf bytes.Buffer
	buf.Write([]byte{snapV1, snapDeflate})
	buf.Write(binary.AppendUvarint(nil, uint64(len(text))))
	zw := snapWriters.Get().(*flate.Writer)
	zw.Reset(&buf)
	chunk := make([]byte, min(len(text), snapChunk))
	for rest := text; len(rest) > 0; {
		n := copy(chunk, rest)
		zw.Write(chunk[:n]) // Writes to a bytes.Buffer do not fail.
		rest = rest[n:]
	}
	zw.Close()
	snapWriters.Put(zw)
	if buf.Len() >= 2+len(text) {
		return raw()
	}
	return buf.Bytes()
}

// snapChunk is how much of a snapshot's text encodeSnapshot hands the
// compressor at a time. DEFLATE's output does not depend on how its input
// is cut: the compressor encodes only whole windows of 64 KiB (and the
// rest at Close).
const snapChunk = 32 << 10

func decodeSnapshot(b []byte) (string, error) {
	d := decoder{b: b}
	if d.byte() != snapV1 {
		d.fail("snapshot (unknown format byte)")
	}
	kind := d.byte()
	if d.err != nil {
		return "", d.err
	}
	switch kind {
	case snapRaw:
		if !utf8.Valid(d.b) {
			return "", fmt.Errorf("%w: snapshot is not valid UTF-8", ErrCorrupt)
		}
		return string(d.b), nil
	case snapDeflate:
		n := d.uvarint()
		// DEFLATE expands at most 1032:1; a larger length is damage.
		if d.err != nil || n > 1032*uint64(len(d.b))+64 {
			return "", fmt.Errorf("%w: malformed snapshot length", ErrCorrupt)
		}
		text := make([]byte, n)
		zr := flate.NewReader(bytes.NewReader(d.b))
		defer zr.Close()
		if _, err := io.ReadFull(zr, text); err != nil {
			return "", fmt.Errorf("%w: snapshot: %v", ErrCorrupt, err)
		}
		if k, err := zr.Read(make([]byte, 1)); k != 0 || err != io.EOF {
			return "", fmt.Errorf("%w: snapshot longer than its length", ErrCorrupt)
		}
		if !utf8.Valid(text) {
			return "", fmt.Errorf("%w: snapshot is not valid UTF-8", ErrCorrupt)
		}
		return string(text), nil
	}
	return "", fmt.Errorf("%w: unknown snapshot kind %d", ErrCorrupt, kind)
}

// decodeTombstone reads a gone/ value: the uvarint last version of a
// deleted document.
func decodeTombstone(b []byte) (uint64, error) {
	last, n := binary.Uvarint(b)
	if n <= 0 || n != len(b) || last >= 1<<62 {
		return 0, fmt.Errorf("tombstone: %w", ErrCorrupt)
	}
	return last, nil
}
