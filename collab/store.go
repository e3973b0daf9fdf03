package collab

import (
	"context"

	"github.com/foliodocs/folio/storage"
)

// Store is the part of storage a hub needs. *storage.DB implements it; tests
// use a small fake only to inject a failing commit.
type Store interface {
	// Create makes a new document with text (storage.ErrExists if taken), at
	// version 0 or, for the id of a deleted document, after its last version.
	Create(ctx context.Context, id, text string) (storage.Meta, error)
	// Meta returns the document's head version and length (a Bus room
	// reads it to catch up with other nodes).
	Meta(ctx context.Context, id string) (storage.Meta, error)
	// Load returns the latest snapshot and the ops after it up to the head.
	Load(ctx context.Context, id string) (storage.Loaded, error)
	// Append durably commits recs (consecutive versions after the head) and,
	// when snap is not nil, a snapshot in the same transaction. Nothing is
	// committed when it fails.
	Append(ctx context.Context, id string, recs []storage.OpRecord, length int, snap *storage.Snapshot) error
	// PutSnapshot stores the text at a version.
	PutSnapshot(ctx context.Context, id string, snap storage.Snapshot) error
	// Ops returns the committed ops with versions from+1..to
	// (storage.ErrVersionGone when from is before the document's start).
	Ops(ctx context.Context, id string, from, to uint64) ([]storage.OpRecord, error)
	// OpsWithin is Ops that stops after the op whose Size takes the total
	// past maxBytes: size > maxBytes says it did (storage.DB.OpsWithin).
	// A catch-up reads with it, so that it never reads much past its budget.
	OpsWithin(ctx context.Context, id string, from, to uint64, maxBytes int) (ops []storage.OpRecord, size int, err error)
	// TextAt returns the committed text at a version (an op whose deleted
	// text must be checked at an older base).
	TextAt(ctx context.Context, id string, version uint64) (string, error)
	// Delete removes a document and its history.
	Delete(ctx context.Context, id string) error
	// SessionSeq is the last committed seq of a session and the version it
	// produced (0, 0 when unknown).
	SessionSeq(ctx context.Context, id, session string) (seq, version uint64, err error)
}
