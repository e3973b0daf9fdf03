package web

import (
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/foliodocs/folio/collab"
)

// DefaultMaxConns is the default of Options.MaxConns: room for the 10,000
// idle editors of docs/performance.md twice over, or for them and as many
// viewers and long-polls.
const DefaultMaxConns = 20000

// busyRetry is the Retry-After of too_many_connections. Nobody knows when a
// slot frees: long enough that a crowd at a limit does not spin, short
// enough that a viewer gets in soon after another leaves.
const busyRetry = 5 * time.Second

// errTooManyConns refuses a connection over Options.MaxConns.
var errTooManyConns = retryLater(
	apiError(collab.CodeTooManyConnections, "the server holds too many connections; retry after the delay in Retry-After"), busyRetry)

// connSlots bounds the connections the server holds at once: WebSocket
// sessions (from the upgrade until the hub is done with them, Peer.Done),
// SSE streams and waiting long-polls. Each acquire that succeeds is
// matched by exactly one release. No lock: a counter that never passes max.
type connSlots struct {
	max     int64
	held    atomic.Int64
	refused atomic.Int64
	log     zerolog.Logger
	full    rate.Sometimes // Logs that the limit is reached at most every 10 s.
}

func newConnSlots(max int, log zerolog.Logger) *connSlots {
	if max <= 0 {
		max = DefaultMaxConns
	}
	return &connSlots{max: int64(max), log: log, full: rate.Sometimes{Interval: 10 * time.Second}}
}

// acquire takes a slot, or refuses with too_many_connections and Retry-After.
func (c *connSlots) acquire() error {
	if c.held.Add(1) <= c.max {
		return nil
	}
	c.held.Add(-1)
	c.refused.Add(1)
	c.full.Do(func() {
		c.log.Warn().Int64("max_conns", c.max).
			Msg("held connections at --max-conns: new WebSockets, SSE streams and long-polls are refused (at most one such line per 10s)")
	})
	return errTooManyConns
}

// release gives back a slot that acquire took.
func (c *connSlots) release() { c.held.Add(-1) }
