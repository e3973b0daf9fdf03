package collab

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/storage"
)

// Options configures a Hub. Every zero value means the documented default.
type Options struct {
	Logger  zerolog.Logger   // default: zerolog.Nop()
	Metrics *Metrics         // nil: no metrics
	Now     func() time.Time // default: time.Now; stamps op records

	IdleUnload    time.Duration // a room with no sessions or subscribers unloads after this; default 1 min
	SnapshotEvery int           // ops between snapshots written with a commit; default storage.DefaultSnapshotEvery
	OpWindow      int           // recent ops kept in memory for rebasing and catch-up; default 1000
	CatchUpLimit  int           // how far behind (in ops) a base or a resuming client may be; default 10000
	// CatchUpBytes is the least byte budget of a catch-up (a resuming hello
	// or Subscribe): missed ops whose storage.OpRecord.Size adds up to more
	// than the larger of it and catchUpTextTimes × the document's length
	// are not sent; the client gets the text instead, as for a version
	// older than CatchUpLimit. Default 8 MiB (see catchUpBudget).
	CatchUpBytes int

	MaxMessageBytes int64   // largest WebSocket message; default 2 MiB, at least 1 MiB
	MaxDocLen       int     // largest document in code points; default 2,000,000
	OpsPerSecond    float64 // ops per second per connection (token bucket rate); default 30
	OpBurst         int     // token bucket size; default 60
	MessagesPerSec  float64 // messages of any kind read per second per connection; default 200 (burst 400); past it the reader waits, so a flood slows only its sender
	MaxConnsPerDoc  int     // sessions per document; default 250
	// MaxSubscribersPerDoc bounds the subscriptions (SSE streams, waiting
	// long-polls) of one document; default 5000. Viewers are cheaper than
	// sessions (they never write), and a popular page can have thousands.
	MaxSubscribersPerDoc int
	SendQueue            int // messages queued per session (and events per subscription); default 256
	// SendQueueBytes bounds by bytes what waits for one peer: the messages
	// queued for a session, with those its writer took and has not finished
	// writing (the rest a socket did not take among them), and the events
	// queued for a subscription (their Event.JSON). A message shared by
	// several peers (an op broadcast) counts in each. Once the bound is
	// reached the peer is cut as when SendQueue is: close 4002, or
	// slow_consumer for a subscription. A message is taken while less is
	// queued, so a queue below the bound admits one of any size.
	// Default: 32 MiB, or 12 × MaxDocLen when larger. The largest message is
	// a welcome of a full document: its text takes at most 6 bytes a code
	// point (\u003c, the longest JSON escape of one), 12 MB at the default
	// MaxDocLen, and its peers well under 1 MB; the default leaves as much
	// again, or more, for the ops broadcast while it is written (ten 2 MiB
	// messages at the defaults). SendQueue alone let a stalled peer pin 256
	// such messages.
	SendQueueBytes int

	HelloTimeout time.Duration // hello must arrive within; default 10 s
	PingInterval time.Duration // server pings this often; default 15 s
	PongTimeout  time.Duration // a ping without pong this long drops the peer; default 10 s
	WriteTimeout time.Duration // every write's deadline; default 10 s

	NoAutoCreate bool // when set, joining an unknown document fails with not_found instead of creating it

	// Bus connects nodes that serve the same documents from one shared Store
	// (see Bus). nil: a single node; nothing is published or subscribed.
	Bus     Bus
	BusPoll time.Duration // with a Bus, how often a room checks the store for commits it was not told about; default 2 s
}

// DefaultMaxSubscribersPerDoc is the default of Options.MaxSubscribersPerDoc:
// generous for a page thousands watch (an all-hands agenda, a live status
// document), yet a bound on one room's fan-out (each op is handed to every
// subscription on the room's goroutine) and on the memory one document's
// viewers take (each subscription queues up to SendQueue events, about
// 22 KB at the default 256, besides its connection).
const DefaultMaxSubscribersPerDoc = 5000

// DefaultCatchUpBytes is the default of Options.CatchUpBytes.
const DefaultCatchUpBytes = 8 << 20

// DefaultSendQueueBytes is the default of Options.SendQueueBytes for a
// MaxDocLen of maxDocLen: 32 MiB, or 12 bytes a code point when more.
func DefaultSendQueueBytes(maxDocLen int) int {
	return max(32<<20, 12*maxDocLen)
}

// MinMessageBytes is the smallest MaxMessageBytes: a smaller one is raised to
// it, so that an op as large as a REST body (1 MiB by default) fits a frame.
const MinMessageBytes = 1 << 20

const maxNameRunes = 64

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	setDur := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	setInt := func(n *int, def int) {
		if *n <= 0 {
			*n = def
		}
	}
	setDur(&o.IdleUnload, time.Minute)
	setDur(&o.HelloTimeout, 10*time.Second)
	setDur(&o.PingInterval, 15*time.Second)
	setDur(&o.PongTimeout, 10*time.Second)
	setDur(&o.WriteTimeout, 10*time.Second)
	setDur(&o.BusPoll, 2*time.Second)
	setInt(&o.SnapshotEvery, storage.DefaultSnapshotEvery)
	setInt(&o.OpWindow, 1000)
	setInt(&o.CatchUpLimit, 10000)
	setInt(&o.CatchUpBytes, DefaultCatchUpBytes)
	setInt(&o.MaxDocLen, 2_000_000)
	setInt(&o.OpBurst, 60)
	setInt(&o.MaxConnsPerDoc, 250)
	setInt(&o.MaxSubscribersPerDoc, DefaultMaxSubscribersPerDoc)
	setInt(&o.SendQueue, 256)
	setInt(&o.SendQueueBytes, DefaultSendQueueBytes(o.MaxDocLen))
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 2 << 20
	}
	if o.MaxMessageBytes < MinMessageBytes {
		o.MaxMessageBytes = MinMessageBytes
	}
	if o.OpsPerSecond <= 0 {
		o.OpsPerSecond = 30
	}
	if o.MessagesPerSec <= 0 {
		o.MessagesPerSec = 200
	}
	if o.CatchUpLimit < o.OpWindow {
		o.CatchUpLimit = o.OpWindow
	}
	return o
}
