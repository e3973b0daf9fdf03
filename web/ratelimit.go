package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/foliodocs/folio/collab"
)

// Limit is a token bucket per client address: Burst requests at once, then
// PerSecond sustained. A zero PerSecond means no limit.
type Limit struct {
	PerSecond float64
	Burst     int
}

// RateLimits are the per-address limits of the expensive entry points. The
// zero value limits nothing (tests, benchmarks and load tools on loopback);
// `folio serve` turns them on with its configured defaults. Buckets should be
// large: a whole office behind one NAT shares an address, and it must not
// be cut when everyone opens the document after a meeting.
type RateLimits struct {
	Upgrades Limit // WebSocket upgrades
	Writes   Limit // REST writes: create, PUT text, POST ops, delete
	Exports  Limit // exports and admin backups

	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed: behind them the client is the right-most address of that
	// header that is not itself a trusted proxy. Empty: the peer address is
	// the client, and X-Forwarded-For is ignored (anyone can forge it).
	TrustedProxies []netip.Prefix

	// MaxAddrs bounds the addresses remembered per limit. Default 10,000.
	MaxAddrs int
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// DefaultMaxAddrs is the default of RateLimits.MaxAddrs.
const DefaultMaxAddrs = 10000

// limiters are the Server's per-address limiters; nil members admit all.
type limiters struct {
	upgrades, writes, exports *addrLimiter
}

// proxies are trusted reverse proxies (RateLimits.TrustedProxies).
type proxies []netip.Prefix

func (p proxies) trusted(a netip.Addr) bool {
	for _, pr := range p {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

func newLimiters(o RateLimits) limiters {
	if o.MaxAddrs <= 0 {
		o.MaxAddrs = DefaultMaxAddrs
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	trusted := make(proxies, len(o.TrustedProxies))
	for i, p := range o.TrustedProxies {
		trusted[i] = p.Masked()
	}
	mk := func(l Limit) *addrLimiter {
		al := newAddrLimiter(l, o.MaxAddrs, o.Now)
		if al != nil {
			al.proxies = trusted
		}
		return al
	}
	return limiters{upgrades: mk(o.Upgrades), writes: mk(o.Writes), exports: mk(o.Exports)}
}

// addrLimiter keeps one token bucket per client address. It starts no
// goroutine: idle buckets are swept during calls. A bucket idle long enough
// to have refilled is indistinguishable from a new one, so forgetting it
// changes nothing; when the map is full of busy buckets anyway (many
// addresses at once), an arbitrary one is dropped so memory stays bounded.
type addrLimiter struct {
	limit    rate.Limit
	burst    int
	refill   time.Duration // Time for an empty bucket to fill.
	maxAddrs int
	now      func() time.Time
	proxies  proxies

	mu        sync.Mutex // Guards the fields below; never held across I/O.
	buckets   map[netip.Prefix]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newAddrLimiter(l Limit, maxAddrs int, now func() time.Time) *addrLimiter {
	if l.PerSecond <= 0 {
		return nil
	}
	burst := max(l.Burst, 1)
	refill := time.Duration(float64(burst) / l.PerSecond * float64(time.Second))
	return &addrLimiter{
		limit: rate.Limit(l.PerSecond), burst: burst, refill: max(refill, time.Second),
		maxAddrs: maxAddrs, now: now, buckets: make(map[netip.Prefix]*bucket),
	}
}

// reserve takes a token for key; when there is none it returns false and
// how long until there is one.
func (l *addrLimiter) reserve(key netip.Prefix) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		l.makeRoom(now)
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// makeRoom sweeps refilled buckets at most once per refill period, or when
// the map is full; a map still full loses one bucket.
func (l *addrLimiter) makeRoom(now time.Time) {
	if len(l.buckets) >= l.maxAddrs || now.Sub(l.lastSweep) >= l.refill {
		l.lastSweep = now
		for k, b := range l.buckets {
			if now.Sub(b.seen) >= l.refill {
				delete(l.buckets, k)
			}
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.maxAddrs {
			break
		}
		delete(l.buckets, k)
	}
}

func (l *addrLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// clientKey is the bucket of a request's client (see clientAddr): its IPv4
// address, or the /64 of its IPv6 address (one host usually holds a whole
// /64). Requests with no parsable address share the zero prefix.
func clientKey(r *http.Request, trusted proxies) netip.Prefix {
	a := clientAddr(r, trusted)
	if !a.IsValid() {
		return netip.Prefix{}
	}
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// clientAddr is the peer address of r, or, when the peer is a trusted
// proxy, the right-most X-Forwarded-For address that is not a trusted proxy
// (addresses left of it were written by the client and prove nothing).
func clientAddr(r *http.Request, trusted proxies) netip.Addr {
	a := parseAddr(r.RemoteAddr)
	if !a.IsValid() || !trusted.trusted(a) {
		return a
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return a // A malformed hop: the last proxy we trust is all we know.
		}
		if a = h.Unmap(); !trusted.trusted(a) {
			return a
		}
	}
	return a
}

// parseAddr reads "host:port" or a bare address; the zero Addr if neither.
func parseAddr(s string) netip.Addr {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

var errRateLimited = apiError(collab.CodeRateLimited, "too many requests from this address; retry after the delay in Retry-After")

// check takes a token for r's client: nil, or rate_limited saying how long
// until there is one. A nil limiter admits everything.
func (l *addrLimiter) check(r *http.Request) error {
	if l == nil {
		return nil
	}
	ok, wait := l.reserve(clientKey(r, l.proxies))
	if ok {
		return nil
	}
	return retryLater(errRateLimited, wait)
}

// admit is check answering a refusal itself: 429 with Retry-After (whole
// seconds, at least 1).
func (l *addrLimiter) admit(w http.ResponseWriter, r *http.Request) bool {
	err := l.check(r)
	if err != nil {
		writeErrorBody(w, err)
	}
	return err == nil
}

// limited wraps h with l.
func limited(l *addrLimiter, h http.HandlerFunc) http.HandlerFunc {
	if l == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if l.admit(w, r) {
			h(w, r)
		}
	}
}
