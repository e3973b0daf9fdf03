package collab

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/foliodocs/folio/storage"
)

// Log keys.
const (
	logDoc     = "doc"
	logSession = "session"
	logPeer    = "peer"
	logCode    = "code"
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether id is a well-formed document or session id.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Hub owns the open documents (rooms) and the sessions connected to them.
type Hub struct {
	store      Store              // Static.
	opts       Options            // Static, defaults applied.
	log        zerolog.Logger     // Static.
	ctx        context.Context    // Parent of every session's context; cancelled last in Close.
	stop       context.CancelFunc // Cancels ctx.
	closing    <-chan struct{}    // Closed when Close starts; rooms drain and end.
	closingCtx context.Context    // Done is closing; sessions before hello watch it.
	endClosing context.CancelFunc
	node       string // Static: this hub's id on a PresenceBus.
	// unavailLog lets fail log a storage refusal (a full disk) at most once
	// per unavailLogEvery: every commit of every room fails alike meanwhile.
	unavailLog rate.Sometimes
	// busLog lets busFailed log a refused publication at most once per
	// unavailLogEvery: while the bus is down every commit and presence flush
	// of every room fails alike, and the other nodes catch up by polling.
	busLog rate.Sometimes

	mu     sync.Mutex
	rooms  map[string]*room // Guarded by mu.
	closed bool             // Guarded by mu.
	roomWG sync.WaitGroup   // Room goroutines; Add under mu.
	sessWG sync.WaitGroup   // Sessions (ServeConn calls and StartConn goroutines); Add under mu.
}

// NewHub returns a hub serving the documents in store.
func NewHub(store Store, opts Options) *Hub {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	closingCtx, endClosing := context.WithCancel(context.Background())
	return &Hub{
		store:      store,
		opts:       opts,
		log:        opts.Logger,
		ctx:        ctx,
		stop:       cancel,
		closing:    closingCtx.Done(),
		closingCtx: closingCtx,
		endClosing: endClosing,
		node:       randomID(),
		unavailLog: rate.Sometimes{Interval: unavailLogEvery},
		busLog:     rate.Sometimes{Interval: unavailLogEvery},
		rooms:      make(map[string]*room),
	}
}

// Close stops the hub: no new sessions or requests; commits in flight finish
// and are acknowledged; every session is closed with 1001 and waited for;
// final snapshots are written; it returns when every room goroutine ended. If
// ctx ends first, remaining connections are cut and ctx's error returned.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		h.endClosing()
	}
	h.mu.Unlock()

	var err error
	if !waitCtx(ctx, &h.roomWG) || !waitCtx(ctx, &h.sessWG) {
		err = ctx.Err()
	}
	h.stop()
	h.roomWG.Wait()
	h.sessWG.Wait()
	return err
}

// waitCtx waits for wg or ctx; false when ctx ended first.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// openRoom returns the room for id, starting it when it is not open. With
// forDelete, a room that is not open is started in delete mode.
func (h *Hub) openRoom(id string, forDelete bool) (r *room, started bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false, ErrShuttingDown
	}
	if r := h.rooms[id]; r != nil {
		return r, false, nil
	}
	r = newRoom(h, id, forDelete)
	h.rooms[id] = r
	h.roomWG.Add(1)
	go r.run()
	return r, true, nil
}

// lookupRoom returns the open room for id or nil.
func (h *Hub) lookupRoom(id string) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[id]
}

// removeRoom unregisters r; called by r's goroutine before it ends.
func (h *Hub) removeRoom(r *room) {
	h.mu.Lock()
	if h.rooms[r.id] == r {
		delete(h.rooms, r.id)
	}
	h.mu.Unlock()
}

// withRoom runs fn on the goroutine of id's room, opening (loading) the room
// if needed. A room that ends before taking fn (idle unload) is replaced.
func (h *Hub) withRoom(ctx context.Context, id string, fn func(r *room)) error {
	if !ValidID(id) {
		return errInvalidID
	}
	for {
		r, _, err := h.openRoom(id, false)
		if err != nil {
			return err
		}
		err = r.do(ctx, func() { fn(r) })
		if !errors.Is(err, errRoomGone) {
			return err
		}
		if r.loadErr != nil {
			return r.loadErr
		}
		if err := ctx.Err(); err != nil {
			return AsError(err)
		}
	}
}

// Create makes a new document with text at version 0.
func (h *Hub) Create(ctx context.Context, id, text string) (storage.Meta, error) {
	if !ValidID(id) {
		return storage.Meta{}, errInvalidID
	}
	if n := runeCount(text); n > h.opts.MaxDocLen {
		return storage.Meta{}, errorf(CodeDocTooLarge, "text exceeds the document size limit")
	}
	if h.isClosed() {
		return storage.Meta{}, ErrShuttingDown
	}
	meta, err := h.store.Create(ctx, id, text)
	if err != nil {
		return storage.Meta{}, h.fail("create", id, err)
	}
	return meta, nil
}

// Delete closes the document's sessions with the "deleted" close code, ends
// its subscriptions, then deletes it from storage.
func (h *Hub) Delete(ctx context.Context, id string) error {
	if !ValidID(id) {
		return errInvalidID
	}
	for {
		r, started, err := h.openRoom(id, true)
		if err != nil {
			return err
		}
		if started {
			<-r.done
			return r.deleteErr
		}
		reply := make(chan error, 1)
		err = r.do(ctx, func() { r.startDelete(reply) })
		if errors.Is(err, errRoomGone) {
			continue
		}
		if err != nil {
			return AsError(err)
		}
		select {
		case err := <-reply:
			if errors.Is(err, errRoomGone) {
				continue // It ended as deleted on another node.
			}
			return err
		case <-ctx.Done():
			return AsError(ctx.Err())
		}
	}
}

// Participants returns the presence of every session of an open document,
// with those connected to other nodes when the Bus carries presence; empty
// when the document is not open here.
func (h *Hub) Participants(ctx context.Context, id string) ([]Presence, error) {
	if !ValidID(id) {
		return nil, errInvalidID
	}
	r := h.lookupRoom(id)
	if r == nil {
		return []Presence{}, nil
	}
	var out []Presence
	err := r.do(ctx, func() { out = r.peers(nil) })
	if errors.Is(err, errRoomGone) {
		return []Presence{}, nil
	}
	if err != nil {
		return nil, AsError(err)
	}
	return out, nil
}

func (h *Hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// unavailLogEvery is how often fail logs storage refusals at most.
const unavailLogEvery = 10 * time.Second

// fail returns err, from op on document id, as an *Error, and logs it once
// when it is the server's failure: an internal error at error, since its
// *Error says nothing more; a storage refusal (unavailable: a full disk, a
// closed store) at warn, at most once per unavailLogEvery, since WebSocket
// clients alone hear of it otherwise. Any error that is not already an
// *Error keeps err as its cause (never shown to clients), so web does not
// log it again (see web's writeError). A cancelled request is no failure.
func (h *Hub) fail(op, id string, err error) *Error {
	e := AsError(err)
	var made *Error
	switch {
	case e.Code == CodeInternal:
		h.log.Error().Err(err).Str(logDoc, id).Msg(op)
		return e
	case errors.As(err, &made):
		return e
	}
	e = &Error{Code: e.Code, Message: e.Message, cause: fmt.Errorf("%s %s: %w", op, id, err)}
	if e.Code == CodeUnavailable && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		h.unavailLog.Do(func() {
			h.log.Warn().Err(e).Str(logDoc, id).Msg("storage refused; clients are told to retry (at most one such line per 10s)")
		})
	}
	return e
}
