package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foliodocs/folio/ot"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Errors returned by DB methods, wrapped with the operation and key facts;
// test them with errors.Is.
var (
	ErrNotFound        = errors.New("document not found")
	ErrExists          = errors.New("document already exists")
	ErrInvalidID       = errors.New("invalid document id")
	ErrVersionConflict = errors.New("version conflict")
	ErrVersionAhead    = errors.New("version is ahead of the document head")
	ErrVersionGone     = errors.New("version is before the document was created")
	ErrLocked          = errors.New("database file is held by another process")
	ErrCorrupt         = errors.New("database is corrupt or not a Folio database")
	ErrClosed          = errors.New("database is closed")
	ErrInvalidArgument = errors.New("invalid argument")
	ErrFailed          = errors.New("storage failed: a commit's outcome is unknown after an I/O error; reopen the database")
)

// Defaults applied to zero-valued Options fields.
const (
	DefaultLockTimeout = time.Second
	DefaultMaxBatch    = 512
	DefaultCommitDelay = 3 * time.Millisecond

	// DefaultSnapshotEvery is the number of ops after which the caller (the
	// collab room) should pass a snapshot to Append. Chosen by measurement
	// (docs/performance.md, ## storage): at 1024 a load of the 259,778-op
	// automerge-paper trace replays at most 1023 ops, while snapshots add
	// about 50 bytes per op on disk for a 100 KB document.
	DefaultSnapshotEvery = 1024
)

// Options configures Open. The zero value is a sensible production setting.
type Options struct {
	// LockTimeout bounds how long Open waits for the file lock held by another
	// process before failing with ErrLocked. Zero means DefaultLockTimeout.
	LockTimeout time.Duration

	// NoSync skips fsync on commit. ONLY for tests and benchmarks: with it an
	// acknowledged op may be lost on power failure or kernel crash.
	NoSync bool

	// MaxBatch bounds how many write requests (Append, Create, PutSnapshot,
	// Delete calls) share one transaction and fsync. Zero means
	// DefaultMaxBatch. A batch holds whatever queued while the previous commit
	// ran, plus what arrives within CommitDelay when the committer is busy.
	MaxBatch int

	// CommitDelay is how long the committer waits for more requests before a
	// commit, but only while it is busy (when the previous transaction or
	// the requests already waiting number more than one) and the last 100
	// ms promise more (requests fast enough to expect at least two within
	// it, from documents not in the batch yet), and only until the batch
	// holds 32 requests or every document that wrote then. A lone writer,
	// or a few, never waits. Each commit costs CPU whatever it
	// carries (a journal write's fdatasync took ~65 µs of CPU on our test
	// VM; a bbolt transaction 110-210 µs, BenchmarkTxPages), so under load a
	// short wait trades a little latency for less CPU per write. Zero means
	// DefaultCommitDelay; negative disables the wait.
	CommitDelay time.Duration

	// CheckpointEvery is how long the committer lets an Append stay in the
	// journal before copying it into bbolt (a checkpoint); see doc.go.
	// Zero means DefaultCheckpointEvery.
	CheckpointEvery time.Duration

	// Verify runs Check during Open and refuses to open a database that fails
	// it. Costs a replay of every document's log.
	Verify bool

	// Now is the clock for Meta times and for OpRecords with a zero Time.
	// Nil means time.Now.
	Now func() time.Time
}

// DB is a Folio document store in one bbolt file. It is safe for concurrent
// use; writes from many goroutines are group-committed by one committer
// goroutine that DB owns and Close stops.
type DB struct {
	path     string
	opts     Options
	bolt     *bolt.DB
	readOnly bool // OpenReadOnly's: no committer, no journal file; every write fails with ErrReadOnly.

	reqs chan *writeReq // Unbuffered: the committer receives every request it replies to.
	stop chan struct{}  // Closed by Close.
	once sync.Once
	wg   sync.WaitGroup

	maxLogLag uint64 // maxLogLag, or smaller in tests; set before any write.

	batches, batched atomic.Int64 // Batches (transactions) the committer ran, and requests in them.
	arrivals         arrivals     // Owned by the committer: whether a linger pays.
	slowBatches      atomic.Int64 // Batches that took SlowTransaction or longer.

	// The journal (journal.go). Owned by the committer after Open, except
	// the overlay.
	jr         *journal
	id         []byte            // The database's id, which its journal carries.
	pend       []*journaled      // Journaled, not yet in bbolt, in LSN order.
	live       []*writeReq       // Scratch for journalBatch.
	applied    uint64            // The last LSN bbolt holds.
	ckTo       uint64            // The last LSN journaled (or spent by a failed write).
	jrBroken   bool              // A journal write failed; no more until a checkpoint.
	batchHeads map[string]uint64 // Scratch for journalBatch.

	// The overlay: what bbolt lacks of each document with journaled
	// records. Guarded by mu; written only by the committer, which
	// replaces the map (never changes a published record) at a checkpoint.
	mu      sync.Mutex
	overlay map[string]*overlay
	base    uint64 // The applied LSN (keyJournal) of the bbolt state the overlay adds to.

	checkpoints        atomic.Int64 // bbolt transactions that took journaled records.
	checkpointTime     atomic.Int64 // Their total duration, in nanoseconds.
	checkpointFailures atomic.Int64 // Checkpoints on their own (not with other writes) that failed.

	// failed is set once, by the committer, to an error wrapping ErrFailed
	// when a bbolt commit failed after its meta page reached the file
	// (fail): every call fails with it from then on.
	failed atomic.Pointer[error]

	// commitHook, when set (by tests, before any write), runs inside every
	// batch transaction just before commit, and after every journal write;
	// a non-nil error fails the batch.
	commitHook func() error
}

// Meta describes a document. Length counts Unicode code points.
type Meta struct {
	ID      string
	Version uint64
	// Base is the version the document was created at: 0, or for an id
	// whose earlier document was deleted, one past that document's last
	// version, so that no version ever names two texts (see doc.go).
	Base                 uint64
	Length               int
	CreatedAt, UpdatedAt time.Time
}

// OpRecord is one logged op: the op that produced Version, who sent it
// (Session and that session's sequence number Seq), the author's display
// name, and when.
type OpRecord struct {
	Version uint64
	Op      ot.Op
	Session string
	Seq     uint64
	Author  string
	Time    time.Time
}

// Size estimates the bytes r takes in memory and as a message: the text it
// inserts and deletes, its session and author, and a fixed cost for each
// record and each component (their numbers, fields and punctuation). It is
// what OpsWithin counts, so a reader can bound what a read of ops costs it.
func (r OpRecord) Size() int {
	n := recordOverhead + len(r.Session) + len(r.Author)
	for _, c := range r.Op {
		n += componentOverhead + len(c.Insert) + len(c.DelText)
	}
	return n
}

// Size's fixed costs: about what an op message spends besides the texts
// (`{"type":"op","version":…,"op":[…],"session":"…","seq":…}`), and a
// component besides its text (a number and a comma, or `{"d":…}`).
const (
	recordOverhead    = 64
	componentOverhead = 8
)

// Snapshot is the full text of a document at Version.
type Snapshot struct {
	Version uint64
	Text    string
}

// Loaded is what Load returns: the latest snapshot and every op after it up
// to Meta.Version.
type Loaded struct {
	Meta     Meta
	Snapshot Snapshot
	Ops      []OpRecord
}

// ValidID reports whether id is a valid document id: 1 to 64 characters
// from [A-Za-z0-9_-].
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

func checkID(op, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("storage: %s %q: %w", op, id, ErrInvalidID)
	}
	return nil
}

// Open opens or creates the database file at path, creating its parent
// directory. A file held by another process fails after about
// Options.LockTimeout with an error naming the file and wrapping ErrLocked; a
// file that is not a Folio database fails with an error wrapping ErrCorrupt.
func Open(path string, opts Options) (*DB, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.CommitDelay == 0 {
		opts.CommitDelay = DefaultCommitDelay
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = DefaultCheckpointEvery
	}
	mkdir := MkdirAll
	if opts.NoSync {
		mkdir = os.MkdirAll
	}
	if err := mkdir(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	bdb, err := openBolt(path, &bolt.Options{
		Timeout:         opts.LockTimeout,
		NoSync:          opts.NoSync,
		NoFreelistSync:  false,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: initialMmap(),
	})
	if err != nil {
		return nil, openError(path, opts.LockTimeout, err)
	}
	db := &DB{path: path, opts: opts, bolt: bdb, reqs: make(chan *writeReq), stop: make(chan struct{}),
		maxLogLag: maxLogLag, arrivals: newArrivals(time.Now())}
	if err := db.init(); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	if err := db.openJournal(); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("storage: open %s: journal: %w", path, err)
	}
	if !opts.NoSync {
		// The two files may be new: their directory entries must be durable
		// before an Append is acknowledged from them.
		if err := SyncDir(filepath.Dir(path)); err != nil {
			db.jr.f.Close()
			bdb.Close()
			return nil, fmt.Errorf("storage: open %s: sync directory: %w", path, err)
		}
	}
	if opts.Verify {
		if err := db.check(); err != nil {
			db.jr.f.Close()
			bdb.Close()
			return nil, fmt.Errorf("storage: open %s: verify: %w", path, err)
		}
	}
	db.wg.Add(1)
	go db.run()
	return db, nil
}

// initialMmap is the address space bbolt maps at Open. bbolt grows its map
// only when no read transaction is open, so a write that needs a larger map
// waits for every read in progress, such as a backup streamed to a slow
// client (TestWritesGoOnDuringSlowBackup). A map is address space, not
// memory: on 64-bit systems it is reserved large (8 GiB) so that such a wait
// comes only past that size; 32-bit systems keep 64 MiB.
func initialMmap() int {
	if strconv.IntSize < 64 {
		return 64 << 20
	}
	size := uint64(8) << 30
	return int(size)
}

// openBolt is bolt.Open, with the panic or memory fault bbolt meets on a
// damaged or truncated file (a page past the end, a page that is not what
// its parent says) returned as ErrCorrupt instead of crashing the process.
func openBolt(path string, o *bolt.Options) (bdb *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: bbolt: %v", ErrCorrupt, r) // Open adds the path.
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return bolt.Open(path, 0o600, o)
}

// recoverCorrupt, deferred, turns a panic of bbolt into ErrCorrupt in *err:
// bbolt asserts rather than returns errors on pages it cannot read.
func recoverCorrupt(path string, err *error) {
	if r := recover(); r != nil {
		if !damaged(r, panicOrigin()) {
			// Likely a bug, not the file: not reported as corrupt, and with
			// its stack for the log (the read's transaction is rolled back).
			*err = fmt.Errorf("storage: read %s: panic: %v\n%s", path, r, debug.Stack())
			return
		}
		*err = fmt.Errorf("storage: read %s: %w: bbolt: %v", path, ErrCorrupt, r)
	}
}

// damaged reports whether a recovered panic, raised in function origin, is
// what a damaged file causes: bbolt's own panics (it panics with formatted
// strings on pages it cannot read), a memory fault in the mapped file
// (SetPanicOnFault's, which carries the faulting address), or a runtime
// error in bbolt's code (an index or a slice bound out of range, taken from
// a damaged page). A nil dereference or an index out of range elsewhere is
// not.
func damaged(r any, origin string) bool {
	switch r.(type) {
	case string, interface{ Addr() uintptr }:
		return true
	case runtime.Error:
		return strings.HasPrefix(origin, "go.etcd.io/bbolt.") || strings.HasPrefix(origin, "go.etcd.io/bbolt/")
	}
	return false
}

// panicOrigin, called by a deferred function during a panic, returns the
// function the panic was raised in: the first frame below the panic that
// is not the runtime's.
func panicOrigin() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	below := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			below = true
		case below && !strings.HasPrefix(f.Function, "runtime."):
			return f.Function
		}
		if !more {
			return ""
		}
	}
}

func openError(path string, timeout time.Duration, err error) error {
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Errorf("storage: open %s: still locked after %v, is another folio running on it? %w", path, timeout, ErrLocked)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch),
		errors.Is(err, bolterrors.ErrChecksum):
		return fmt.Errorf("storage: open %s: %w (%v)", path, ErrCorrupt, err)
	}
	return fmt.Errorf("storage: open %s: %w", path, err)
}

// init checks the format marker of an existing file, or creates the
// top-level buckets of an empty one. It writes nothing to an existing file
// (openJournal may: an older file gets its id, the journal is replayed).
func (db *DB) init() error {
	var empty bool
	err := db.view(func(tx *bolt.Tx) (err error) {
		empty, err = checkFormat(tx)
		return err
	})
	if err != nil || !empty {
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		fb, err := tx.CreateBucket(bucketFolio)
		if err != nil {
			return err
		}
		if err := fb.Put(keyFormat, []byte(formatV1)); err != nil {
			return err
		}
		for _, name := range [][]byte{bucketDocs, bucketMeta, bucketLog} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkFormat checks the format marker and top-level buckets of what tx
// holds; empty reports a bbolt file with no bucket at all, which init
// makes a Folio database.
func checkFormat(tx *bolt.Tx) (empty bool, err error) {
	if fb := tx.Bucket(bucketFolio); fb != nil {
		if got := fb.Get(keyFormat); string(got) != formatV1 {
			return false, fmt.Errorf("%w: unsupported format %q (want %q)", ErrCorrupt, got, formatV1)
		}
		for _, name := range [][]byte{bucketDocs, bucketMeta, bucketLog} {
			if tx.Bucket(name) == nil {
				return false, fmt.Errorf("%w: missing bucket %q", ErrCorrupt, name)
			}
		}
		return false, nil
	}
	return true, tx.ForEach(func([]byte, *bolt.Bucket) error {
		return fmt.Errorf("%w: a bbolt file without the Folio format marker", ErrCorrupt)
	})
}

// Close stops the committer, waiting for the batch in flight, then closes
// the file. Writes queued or started after Close fail with ErrClosed.
func (db *DB) Close() error {
	var err error
	db.once.Do(func() {
		close(db.stop)
		db.wg.Wait()
		if db.jr != nil { // nil when read-only.
			err = db.jr.f.Close()
		}
		err = errors.Join(err, db.bolt.Close())
	})
	return err
}

// Path returns the database file path.
func (db *DB) Path() string { return db.path }

// Stats counts the committer's work since Open.
type Stats struct {
	Transactions int64 // Batches the committer ran: one journal write or one bbolt transaction (one durable commit) each.
	Requests     int64 // Write requests (Append, Create, ...) in them, counted before they are answered.
	// Slow is how many took SlowTransaction or longer (a stalled disk:
	// every write waiting meanwhile waits as long).
	Slow int64
	// Checkpoints counts the bbolt transactions that took the journal's
	// records, and CheckpointTime is how long they took in all: the
	// committer writes nothing else meanwhile.
	Checkpoints    int64
	CheckpointTime time.Duration
	// CheckpointFailures counts checkpoints that failed (a full disk, say):
	// acknowledged ops wait in the journal meanwhile, and writes fail once
	// it is full too.
	CheckpointFailures int64
}

// SlowTransaction is the duration from which Stats counts a transaction as
// slow.
const SlowTransaction = 64 * time.Millisecond

// Stats reports the committer's counters; Requests/Transactions is the
// group-commit factor.
func (db *DB) Stats() Stats {
	return Stats{Transactions: db.batches.Load(), Requests: db.batched.Load(), Slow: db.slowBatches.Load(),
		Checkpoints: db.checkpoints.Load(), CheckpointTime: time.Duration(db.checkpointTime.Load()),
		CheckpointFailures: db.checkpointFailures.Load()}
}

// view runs fn in a read transaction, mapping a closed database to ErrClosed
// and a damaged page that makes bbolt panic (or fault, on a truncated file)
// to ErrCorrupt.
func (db *DB) view(fn func(*bolt.Tx) error) (err error) {
	if err := db.usable(); err != nil {
		return err
	}
	defer recoverCorrupt(db.path, &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	err = db.bolt.View(fn)
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// SyncDir makes the entries of dir durable (files created or renamed in it).
// folio restore uses it after renaming database files.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// MkdirAll is os.MkdirAll whose new directories survive a power loss: the
// parent of each directory it creates is synced, as a new file's directory
// must be. Directories that exist already are left alone, unsynced.
func MkdirAll(dir string, perm os.FileMode) error {
	var created []string // Deepest first.
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	for _, d := range created {
		if err := SyncDir(filepath.Dir(d)); err != nil {
			return fmt.Errorf("sync directory %s: %w", filepath.Dir(d), err)
		}
	}
	return nil
}
