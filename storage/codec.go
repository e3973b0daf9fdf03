package storage

import (
	"encoding/binary"
	"fmt"
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
	keyFormat   = []byte("format")
	bucketSnap  = []byte("snap")
	bucketSess  = []byte("sess")
)

const (
	formatV1 = "folio-storage/1"

	recV1   = 1 // first byte of an encoded op record
	metaV1  = 1 // first byte of an encoded meta
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

// encodeRecord appends the compact binary form of r (all but its version,
// which is the key): format byte, uvarint seq, session, author (uvarint
// length + bytes), varint Unix nanoseconds, then the components, each a tag
// byte and a uvarint count or a length-prefixed string.
func encodeRecord(buf []byte, r *OpRecord, now time.Time) []byte {
	buf = append(buf, recV1)
	buf = binary.AppendUvarint(buf, r.Seq)
	buf = appendString(buf, r.Session)
	buf = appendString(buf, r.Author)
	t := r.Time
	if t.IsZero() {
		t = now
	}
	buf = binary.AppendVarint(buf, t.UnixNano())
	for _, c := range r.Op {
		switch {
		case c.Skip > 0:
			buf = append(buf, compSkip)
			buf = binary.AppendUvarint(buf, uint64(c.Skip))
		case c.Insert != "":
			buf = append(buf, compInsert)
			buf = appendString(buf, c.Insert)
		case c.DelText != "":
			buf = append(buf, compDelText)
			buf = appendString(buf, c.DelText)
		default:
			buf = append(buf, compDelete)
			buf = binary.AppendUvarint(buf, uint64(c.Delete))
		}
	}
	return buf
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

// decodeRecord decodes a value written by encodeRecord. The op is checked
// to have exactly one form per component and valid UTF-8.
func decodeRecord(version uint64, b []byte) (OpRecord, error) {
	d := decoder{b: b}
	if d.byte() != recV1 {
		d.fail("record (unknown format byte)")
	}
	r := OpRecord{Version: version}
	r.Seq = d.uvarint()
	r.Session = d.string()
	r.Author = d.string()
	r.Time = time.Unix(0, d.varint()).UTC()
	for d.err == nil && len(d.b) > 0 {
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
		if d.err == nil && !validComponent(c) {
			d.fail("op component")
		}
		r.Op = append(r.Op, c)
	}
	if d.err != nil {
		return OpRecord{}, fmt.Errorf("op %d: %w", version, d.err)
	}
	return r, nil
}

// metaRec is a document's stored meta: the public Meta plus where its ops
// are. Ops 1..flushed are keys of the document's bucket; ops flushed+1..
// Version are in the log, in the chain of entries that ends at tail.
type metaRec struct {
	Meta
	flushed uint64
	tail    uint64 // Log key of the newest pending entry; 0 when none.
}

func (m *metaRec) pending() uint64 { return m.Version - m.flushed }

// decodeSession0 reads only the session and seq of an encoded record.
func decodeSession0(version uint64, b []byte) (session string, seq uint64, err error) {
	d := decoder{b: b}
	if d.byte() != recV1 {
		d.fail("record (unknown format byte)")
	}
	seq = d.uvarint()
	session = d.string()
	if d.err != nil {
		return "", 0, fmt.Errorf("op %d: %w", version, d.err)
	}
	return session, seq, nil
}

func encodeMeta(m metaRec) []byte {
	buf := make([]byte, 0, 48)
	buf = append(buf, metaV1)
	buf = binary.AppendUvarint(buf, m.Version)
	buf = binary.AppendUvarint(buf, uint64(m.Length))
	buf = binary.AppendVarint(buf, m.CreatedAt.UnixNano())
	buf = binary.AppendVarint(buf, m.UpdatedAt.UnixNano())
	buf = binary.AppendUvarint(buf, m.flushed)
	return binary.AppendUvarint(buf, m.tail)
}

func decodeMeta(id string, b []byte) (metaRec, error) {
	d := decoder{b: b}
	if d.byte() != metaV1 {
		d.fail("meta (unknown format byte)")
	}
	m := metaRec{Meta: Meta{ID: id, Version: d.uvarint()}}
	l := d.uvarint()
	m.CreatedAt = time.Unix(0, d.varint()).UTC()
	m.UpdatedAt = time.Unix(0, d.varint()).UTC()
	m.flushed, m.tail = d.uvarint(), d.uvarint()
	if d.err == nil && (len(d.b) != 0 || l > 1<<40 || m.flushed > m.Version || (m.tail == 0) != (m.flushed == m.Version)) {
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
// and the encoded records (views into the page, valid during the tx).
type logEntry struct {
	id    string
	prev  uint64
	first uint64
	recs  [][]byte
}

func (e *logEntry) last() uint64 { return e.first + uint64(len(e.recs)) - 1 }

func encodeEntry(id string, prev, first uint64, recs [][]byte) []byte {
	n := 32 + len(id)
	for _, r := range recs {
		n += len(r) + 3
	}
	buf := make([]byte, 0, n)
	buf = append(buf, entryV1)
	buf = appendString(buf, id)
	buf = binary.AppendUvarint(buf, prev)
	buf = binary.AppendUvarint(buf, first)
	buf = binary.AppendUvarint(buf, uint64(len(recs)))
	for _, r := range recs {
		buf = binary.AppendUvarint(buf, uint64(len(r)))
		buf = append(buf, r...)
	}
	return buf
}

func decodeEntry(b []byte) (logEntry, error) {
	d := decoder{b: b}
	if d.byte() != entryV1 {
		d.fail("log entry (unknown format byte)")
	}
	e := logEntry{id: d.string(), prev: d.uvarint(), first: d.uvarint()}
	n := d.count()
	if d.err == nil && uint64(n) > uint64(len(d.b)) {
		d.fail("log entry count")
	}
	for i := 0; i < n && d.err == nil; i++ {
		l := d.uvarint()
		if d.err != nil || l > uint64(len(d.b)) {
			d.fail("log entry record")
			break
		}
		e.recs = append(e.recs, d.b[:l:l])
		d.b = d.b[l:]
	}
	if d.err == nil && (len(d.b) != 0 || e.first == 0) {
		d.fail("log entry")
	}
	return e, d.err
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
