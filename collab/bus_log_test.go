package collab

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/storage"
)

// downBus is a PresenceBus whose engine is unreachable: every publication
// fails. It counts the attempts.
type downBus struct {
	MemBus
	ops, presence atomic.Int64
}

var errBusDown = errors.New("bus: connection refused")

func (b *downBus) Publish(context.Context, string, []storage.OpRecord) error {
	b.ops.Add(1)
	return errBusDown
}

func (b *downBus) PublishPresence(context.Context, string, PresenceNews) error {
	b.presence.Add(1)
	return errBusDown
}

// TestBusDownLoggedOnce: while the bus is down every commit's and every
// presence flush's publication fails alike, and the other nodes catch up by
// polling; the failure is logged once per busLogEvery, not once per
// publication of every room.
func TestBusDownLoggedOnce(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "f.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	bus := &downBus{}
	h := NewHub(db, Options{Bus: bus, BusPoll: 5 * time.Millisecond, Logger: zerolog.New(&logs)})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("hub close: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	ctx := context.Background()
	for _, doc := range []string{"d", "e"} {
		if _, err := h.Create(ctx, doc, ""); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			if _, err := h.Submit(ctx, doc, Submission{Base: uint64(i), Op: insertAt(i, "x")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, "polls publishing presence", func() bool { return bus.presence.Load() >= 4 })
	if n := bus.ops.Load(); n != 20 {
		t.Fatalf("%d commits published, want 20", n)
	}
	if n := strings.Count(logs.String(), errBusDown.Error()); n != 1 {
		t.Fatalf("the bus failure logged %d times, want once:\n%s", n, logs.String())
	}
}
