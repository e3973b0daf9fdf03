package collab

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/foliodocs/folio/storage"
)

// MemBus is an in-memory PresenceBus for tests: Publish and PublishPresence
// hand the message to every subscription of the document at once (deliver
// never blocks), each a copy decoded from JSON as from a wire. Drop, when set
// before use, loses the op deliveries it returns true for, like a lossy
// pub/sub engine. Exported for the collab_test package.
type MemBus struct {
	Drop func(doc string, recs []storage.OpRecord) bool

	mu       sync.RWMutex // Read-held while delivering, so cancel waits for deliveries.
	subs     map[string]map[*func([]storage.OpRecord)]struct{}
	presSubs map[string]map[*func(PresenceNews)]struct{}
}

var _ PresenceBus = (*MemBus)(nil)

// OpsOnlyBus hides a MemBus's presence methods: a Bus without presence.
type OpsOnlyBus struct{ Bus }

func (b *MemBus) PublishPresence(ctx context.Context, doc string, news PresenceNews) error {
	msg, err := json.Marshal(news)
	if err != nil {
		return err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for d := range b.presSubs[doc] {
		var got PresenceNews
		if err := json.Unmarshal(msg, &got); err != nil {
			return err
		}
		(*d)(got)
	}
	return nil
}

func (b *MemBus) SubscribePresence(doc string, deliver func(PresenceNews)) (cancel func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.presSubs == nil {
		b.presSubs = map[string]map[*func(PresenceNews)]struct{}{}
	}
	if b.presSubs[doc] == nil {
		b.presSubs[doc] = map[*func(PresenceNews)]struct{}{}
	}
	key := &deliver
	b.presSubs[doc][key] = struct{}{}
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.presSubs[doc], key)
	}
}

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
