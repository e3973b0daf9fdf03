package collab

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/foliodocs/folio/storage"
)

// MemBus is an in-memory Bus for tests: Publish hands the records to every
// subscription of the document at once (deliver never blocks), each a copy
// decoded from JSON as from a wire. Drop, when set before use, loses the
// deliveries it returns true for, like a lossy pub/sub engine. Exported for
// the collab_test package.
type MemBus struct {
	Drop func(doc string, recs []storage.OpRecord) bool

	mu   sync.RWMutex // Read-held while delivering, so cancel waits for deliveries.
	subs map[string]map[*func([]storage.OpRecord)]struct{}
}

var _ Bus = (*MemBus)(nil)

func (b *MemBus) Publish(ctx context.Context, doc string, recs []storage.OpRecord) error {
	msg, err := json.Marshal(recs)
	if err != nil {
		return err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for d := range b.subs[doc] {
		if b.Drop != nil && b.Drop(doc, recs) {
			continue
		}
		var got []storage.OpRecord
		if err := json.Unmarshal(msg, &got); err != nil {
			return err
		}
		(*d)(got)
	}
	return nil
}

func (b *MemBus) Subscribe(doc string, deliver func([]storage.OpRecord)) (cancel func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		b.subs = map[string]map[*func([]storage.OpRecord)]struct{}{}
	}
	if b.subs[doc] == nil {
		b.subs[doc] = map[*func([]storage.OpRecord)]struct{}{}
	}
	key := &deliver
	b.subs[doc][key] = struct{}{}
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs[doc], key)
	}
}

// subscribers counts the live subscriptions to doc.
func (b *MemBus) subscribers(doc string) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs[doc])
}
