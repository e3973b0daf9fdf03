package storage

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// The journal: a write-ahead log in front of bbolt (see doc.go, "Journal").
//
// File: a header (journalMagic, then the 16-byte id of the database it
// belongs to), then records, each a little-endian uint32 payload length, a
// little-endian uint32 CRC-32C of the payload, and the payload: uvarint LSN,
// the document id, uvarint first version, uvarint length, varint UpdatedAt
// nanoseconds, and the op chunk. Records are written in place from the
// header on; after a checkpoint the next record goes to the start again,
// so the file keeps its size and an fdatasync has no metadata to write
// except when the file grows (by journalGrow of zeros at a time).
//
// The valid records are the run from the header whose LSNs increase by one
// and whose lengths and checksums hold; the first record that breaks the
// run ends the journal. Records left from before the last restart of the
// file carry LSNs at or below the one the database holds as applied, so
// they can never continue a run of newer ones.

const (
	journalSuffix = "-journal"
	journalMagic  = "folio-journal/1\n"
	journalHead   = len(journalMagic) + 16
	recordHead    = 8
	journalGrow   = 1 << 20

	// checkpointBytes is the size of journaled records from which the
	// committer checkpoints at once.
	checkpointBytes = 8 << 20
	// checkpointRecords is how many journaled Appends make the committer
	// checkpoint at once: a checkpoint holds the committer, so it stays
	// short under load.
	checkpointRecords = 2048

	// DefaultCheckpointEvery is how long an Append may stay in the journal
	// alone before the committer copies it into bbolt.
	DefaultCheckpointEvery = time.Second
)

// keyJournal, in bucketFolio, holds the database's 16-byte id and the
// uvarint LSN of the last journal record applied to bbolt.
var keyJournal = []byte("journal")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// journaled is an Append accepted through the journal.
type journaled struct {
	appendArgs
	lsn uint64
	at  time.Time // UpdatedAt, fixed when journaled.
}

// recordError is why a replay cannot apply j, a record of the journal at
// path: err (for its text only), as ErrCorrupt.
func (j *journaled) recordError(path string, err error) error {
	return fmt.Errorf("%s: record %d (%s@%d..%d): %v: %w", path, j.lsn, j.id, j.first, j.last, err, ErrCorrupt)
}

// checkHead is nil when j continues head, its document's version before
// j, and otherwise the recordError of a replay that stops at j. CheckFile
// and OpenReadOnly check each record with it, so that they report such a
// record in the same words.
func (j *journaled) checkHead(path string, head uint64) error {
	if j.first == head+1 {
		return nil
	}
	return j.recordError(path, fmt.Errorf("head is %d: %w", head, ErrVersionConflict))
}

// overlay is what bbolt lacks of a document whose ops are journaled: its
// head, and the records after bbolt's head.
type overlay struct {
	version uint64
	length  int
	at      time.Time
	recs    []OpRecord // Versions bbolt's head+1..version; only ever appended to.
}

// overlayView runs fn in a read transaction, with what id's overlay adds to
// that transaction's state (nil when it holds every op of id).
func (db *DB) overlayView(id string, fn func(*bolt.Tx, *overlay) error) error {
	return db.overlaysView(func(m map[string]*overlay) map[string]overlay {
		if p := m[id]; p != nil {
			return map[string]overlay{id: *p}
		}
		return nil
	}, func(tx *bolt.Tx, ovs map[string]overlay) error {
		if ov, ok := ovs[id]; ok {
			return fn(tx, &ov)
		}
		return fn(tx, nil)
	})
}

// overlaysView runs fn in a read transaction, with the copies pick makes
// of the overlay (nil when the transaction holds every op). The
// transaction begins under mu, so it is either older than the next
// checkpoint (and the overlay holds what it lacks) or newer (it stores a
// newer applied LSN and needs nothing from the overlay).
func (db *DB) overlaysView(pick func(map[string]*overlay) map[string]overlay, fn func(*bolt.Tx, map[string]overlay) error) (err error) {
	if err := db.usable(); err != nil {
		return err
	}
	db.mu.Lock()
	ovs := pick(db.overlay)
	base := db.base
	tx, err := db.bolt.Begin(false)
	db.mu.Unlock()
	defer recoverCorrupt(db.path, &err) // As in view.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	if err != nil {
		if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
			return ErrClosed
		}
		return err
	}
	defer tx.Rollback()
	if len(ovs) == 0 || journalApplied(tx) != base {
		return fn(tx, nil)
	}
	return fn(tx, ovs)
}

// journalApplied returns the LSN up to which tx holds the journal.
func journalApplied(tx *bolt.Tx) uint64 {
	v := tx.Bucket(bucketFolio).Get(keyJournal)
	if len(v) < 16 {
		return 0
	}
	n, _ := binary.Uvarint(v[16:])
	return n
}

// journal is the open journal file. Owned by the committer after Open.
type journal struct {
	f       *os.File
	writeAt func([]byte, int64) (int, error) // f.WriteAt; tests make it fail.
	sync    bool
	off     int64  // Where the next record goes.
	size    int64  // File size; zeros past what was written.
	next    uint64 // LSN of the next record.
	buf     []byte // Records of the group being written.
	zeroes  []byte
}

func appendRecord(buf []byte, j *journaled) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, recordHead)...)
	buf = binary.AppendUvarint(buf, j.lsn)
	buf = appendString(buf, j.id)
	buf = binary.AppendUvarint(buf, j.first)
	buf = binary.AppendUvarint(buf, uint64(j.length))
	buf = binary.AppendVarint(buf, j.at.UnixNano())
	buf = append(buf, j.chunk...)
	payload := buf[start+recordHead:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf
}

// nextRecord decodes the record at the start of b; ok is false when b does
// not start with a whole record whose checksum holds.
func nextRecord(b []byte) (j journaled, n int, ok bool, err error) {
	if len(b) < recordHead {
		return j, 0, false, nil
	}
	size := binary.LittleEndian.Uint32(b)
	if size == 0 || uint64(size) > uint64(len(b)-recordHead) {
		return j, 0, false, nil
	}
	payload := b[recordHead : recordHead+int(size)]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return j, 0, false, nil
	}
	// From here on the record is what was written: a malformed one is damage.
	if j, err = decodeRecord(payload); err != nil {
		return j, 0, false, err
	}
	return j, recordHead + int(size), true, nil
}

// decodeRecord decodes a record's payload; every field is checked.
func decodeRecord(payload []byte) (j journaled, err error) {
	d := decoder{b: payload}
	j.lsn = d.uvarint()
	a := &j.appendArgs
	a.id, a.first = d.string(), d.uvarint()
	length := d.uvarint()
	j.at = time.Unix(0, d.varint()).UTC()
	a.chunk = d.b
	if d.err == nil && (!ValidID(a.id) || a.first == 0 || length > math.MaxInt32) {
		d.fail("journal record")
	}
	if d.err != nil {
		return j, fmt.Errorf("journal record: %w", d.err)
	}
	a.length = int(length)
	if a.recs, err = decodeChunk(a.first, a.chunk); err != nil {
		return j, fmt.Errorf("journal record %d: %w", j.lsn, err)
	}
	a.last = a.recs[len(a.recs)-1].Version
	return j, nil
}

// JournalPath is the journal of the database file path. The two belong
// together: a copy of the database file alone misses the journaled ops.
func JournalPath(path string) string { return path + journalSuffix }

// readJournalFile reads the journal of the database file path whole, for
// a reader that writes neither file (CheckFile, OpenReadOnly): nil when
// there is none. Read under bbolt's lock, so no Folio process writes it
// meanwhile.
func readJournalFile(path string) ([]byte, error) {
	b, err := os.ReadFile(JournalPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// openJournal opens (or creates) the journal of db's file and applies to
// bbolt, in one transaction, every record newer than what bbolt holds.
func (db *DB) openJournal() error {
	id, applied, err := db.journalState()
	if err != nil {
		return err
	}
	path := JournalPath(db.path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	jr := &journal{f: f, writeAt: f.WriteAt, sync: !db.opts.NoSync}
	if applied, err = jr.load(path, id, db, applied); err != nil {
		f.Close()
		return err
	}
	db.jr, db.id, db.applied, db.ckTo = jr, id, applied, applied
	db.overlay, db.base, db.batchHeads = map[string]*overlay{}, applied, map[string]uint64{}
	return nil
}

// journalState reads the database's id and applied LSN, giving an older
// file (one without them) an id.
func (db *DB) journalState() (id []byte, applied uint64, err error) {
	err = db.view(func(tx *bolt.Tx) error {
		id, applied, err = readJournalState(tx)
		return err
	})
	if err != nil || id != nil {
		return id, applied, err
	}
	id = make([]byte, 16)
	rand.Read(id)
	err = db.bolt.Update(func(tx *bolt.Tx) error { return putJournalState(tx, id, 0) })
	return id, 0, err
}

// readJournalState reads the database's id and applied LSN from tx; id
// is nil in an older file, which has neither.
func readJournalState(tx *bolt.Tx) (id []byte, applied uint64, err error) {
	v := tx.Bucket(bucketFolio).Get(keyJournal)
	if v == nil {
		return nil, 0, nil
	}
	d := decoder{b: v[min(16, len(v)):]}
	id, applied = bytes.Clone(v[:min(16, len(v))]), d.uvarint()
	if len(id) != 16 || d.err != nil {
		return nil, 0, fmt.Errorf("journal state: %w", ErrCorrupt)
	}
	return id, applied, nil
}

func putJournalState(tx *bolt.Tx, id []byte, applied uint64) error {
	return tx.Bucket(bucketFolio).Put(keyJournal, binary.AppendUvarint(bytes.Clone(id), applied))
}

// load reads the journal file: it writes a header into a new one, refuses
// one that belongs to another database, and replays the records after
// applied, returning the LSN bbolt then holds.
func (jr *journal) load(path string, id []byte, db *DB, applied uint64) (uint64, error) {
	data, err := io.ReadAll(jr.f)
	if err != nil {
		return 0, err
	}
	jr.size = int64(len(data))
	todo, last, fresh, err := readJournal(path, data, id, applied)
	if err != nil {
		return 0, err
	}
	if fresh {
		head := append([]byte(journalMagic), id...)
		if _, err := jr.f.WriteAt(head, 0); err != nil {
			return 0, err
		}
		if err := jr.f.Sync(); err != nil {
			return 0, err
		}
		jr.size = max(jr.size, int64(len(head)))
		jr.off, jr.next = int64(journalHead), applied+1
		return applied, nil
	}
	jr.off, jr.next = int64(journalHead), max(applied, last)+1
	if last == 0 {
		return applied, jr.empty()
	}
	// A commit even with nothing to apply: what bbolt reads may be in the
	// page cache alone, from a commit that landed although the fdatasync
	// of its meta page failed (see landed), in the process before this one.
	// Its data pages were synced; this commit's meta page, written and
	// synced over the other slot, makes it durable before the journal's
	// copy of its records goes.
	if len(todo) > 0 {
		applied = todo[len(todo)-1].lsn
	}
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		for _, j := range todo {
			if err := j.apply(tx, j.at); err != nil {
				return j.recordError(path, err)
			}
		}
		return putJournalState(tx, id, applied)
	})
	if err != nil {
		return 0, err
	}
	return applied, jr.empty()
}

// readJournal reads data, the contents of the journal at path, for the
// database with id that holds the records up to applied. It returns the
// records a replay applies (the run's records after applied) and the LSN
// of the run's last record (0 for none), or fresh when the file is new or
// blank and needs its header. It fails wrapping ErrCorrupt on a file that
// is not a journal or belongs to another database, on a record that is
// malformed although its checksum holds, and when the records start past
// applied+1.
func readJournal(path string, data, id []byte, applied uint64) (todo []journaled, last uint64, fresh bool, err error) {
	// All zeros: the file's length became durable but not its header (a
	// power loss on a file system that writes data back after metadata).
	// The header is synced before any record is written, so none was.
	blank := !slices.ContainsFunc(data, func(b byte) bool { return b != 0 })
	if len(data) >= journalHead && !blank && string(data[:len(journalMagic)]) != journalMagic {
		return nil, 0, false, fmt.Errorf("%s is not a Folio journal: %w", path, ErrCorrupt)
	}
	if len(data) < journalHead || blank {
		return nil, 0, true, nil // New, or its header was being written: no record was.
	}
	if !bytes.Equal(data[len(journalMagic):journalHead], id) {
		return nil, 0, false, fmt.Errorf("%s belongs to another database (was the database file replaced, e.g. by a backup? "+
			"move the journal away to open it without): %w", path, ErrCorrupt)
	}
	for b := data[journalHead:]; ; {
		j, n, ok, err := nextRecord(b)
		if err != nil {
			return nil, 0, false, fmt.Errorf("%s: %w", path, err)
		}
		if !ok || last != 0 && j.lsn != last+1 {
			break
		}
		last, b = j.lsn, b[n:]
		if j.lsn > applied {
			todo = append(todo, j)
		}
	}
	if len(todo) > 0 && todo[0].lsn != applied+1 {
		return nil, 0, false, fmt.Errorf("%s starts at record %d but the database holds up to %d: %w", path, todo[0].lsn, applied, ErrCorrupt)
	}
	return todo, last, false, nil
}

// empty drops every record once bbolt holds the run a replay takes. Past
// that run the file may hold records with LSNs bbolt never applied: a
// group whose write failed and whose first record void cut off, or whose
// first record a crash tore. The next records take those LSNs again, so
// one of them could end where such a record starts and the next replay
// would continue into it.
func (jr *journal) empty() error {
	if jr.size <= int64(journalHead) {
		return nil
	}
	if err := jr.f.Truncate(int64(journalHead)); err != nil {
		return err
	}
	jr.size = int64(journalHead)
	if jr.sync {
		return jr.f.Sync()
	}
	return nil
}

// grow extends the file with zeros until it holds end bytes, so that
// later writes in place need no new blocks. What a failed growth wrote
// is zeros past every record.
func (jr *journal) grow(end int64) error {
	for jr.size < end {
		if jr.zeroes == nil {
			jr.zeroes = make([]byte, journalGrow)
		}
		if _, err := jr.writeAt(jr.zeroes, jr.size); err != nil {
			return err
		}
		jr.size += journalGrow
	}
	return nil
}

// write writes the group's records (jr.buf) at off, growing the file if
// they need it, and makes them durable.
func (jr *journal) write() error {
	end := jr.off + int64(len(jr.buf))
	if err := jr.grow(end); err != nil {
		return err
	}
	if _, err := jr.writeAt(jr.buf, jr.off); err != nil {
		return err
	}
	if jr.sync {
		if err := fdatasync(jr.f); err != nil {
			return err
		}
	}
	jr.off = end
	return nil
}

// void makes the records written from off on unreachable to a replay (a
// zeroed record head ends the journal there) and syncs that.
func (jr *journal) void(off int64) error {
	if _, err := jr.writeAt(make([]byte, recordHead), off); err != nil {
		return err
	}
	if jr.sync {
		return fdatasync(jr.f)
	}
	return nil
}

// restart makes the next record go to the start of the file, once bbolt
// holds every record written so far.
func (jr *journal) restart() { jr.off = int64(journalHead) }
